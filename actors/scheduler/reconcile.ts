/**
 * Reconciliation: what the scheduler believes each executor holds, compared with what it really
 * holds. A task can be stranded "assigned" forever when a batch or a steal answer is lost, or
 * when an executor dropped a queue (a replayed order, a scheduler it mistook for ours). So every
 * {@link RECONCILE_EVERY} beats, and at once on doubt (a steal that got no answer), each executor
 * with assigned work is asked (`control` op `resync` with a nonce) for the slots it holds.
 *
 * Only assignments made *before* the question are judged: the scheduler snapshots them (slot and
 * assignment number) when it asks; a task that left the executor since (stolen back, re-queued)
 * and was handed to it again is not judged, as the answer cannot hold it yet. NATS keeps one connection's messages in order, so the executor has received every batch
 * sent before the question when it answers, and every completion it sent before its answer has
 * reached the scheduler first. A snapshot slot still assigned to it, with the same key, and not
 * in its answer is lost: it is re-queued.
 */
import type { ExecutorRec } from "./executor-rec.ts";
import type { ExecutorTable } from "./executors.ts";
import { ASSIGNED, type TaskTable } from "./tasks.ts";

/** Beats (scheduler heartbeats, 500 ms by default) between reconciliations. */
export const RECONCILE_EVERY = 10;
/** An unanswered question is dropped after this many beats (the executor's death handles the rest). */
const ANSWER_WITHIN = 20;

export interface ReconcileDeps {
  tasks: TaskTable;
  executors: ExecutorTable;
  ask(rec: ExecutorRec, nonce: number): void;
  requeue(rec: ExecutorRec, lost: number[]): void;
}

export class Reconciler {
  private beat = 0;
  private nonce = 0;
  /** Executors to ask at the next beat, whatever the period says. */
  private readonly doubts = new Set<ExecutorRec>();
  /** Tasks re-queued by reconciliation (info, tests). */
  requeued = 0;

  constructor(private readonly d: ReconcileDeps) {}

  /** Something suggests `rec`'s holdings differ from ours: ask it at the next beat. */
  doubt(rec: ExecutorRec): void {
    this.doubts.add(rec);
  }

  /** Called on every scheduler beat. */
  tick(): void {
    this.beat++;
    const due = this.beat % RECONCILE_EVERY === 0;
    if (!due && this.doubts.size === 0) return;
    const ask: ExecutorRec[] = [];
    for (const rec of this.d.executors.accepting()) {
      const r = rec.reconcile;
      if (r && this.beat - r.at < ANSWER_WITHIN) continue; // still waiting for its answer
      if (rec.assigned > 0 && (due || this.doubts.has(rec))) ask.push(rec);
    }
    this.doubts.clear();
    if (!ask.length) return;
    // One pass over the table for all of them.
    const t = this.d.tasks;
    const byTag = new Map<number, Map<number, number>>();
    for (const rec of ask) byTag.set(rec.index + 1, new Map());
    for (let s = 0; s < t.capacity; s++) {
      if (t.state[s] !== ASSIGNED) continue;
      byTag.get(t.exec[s]!)?.set(s, t.assignment[s]!);
    }
    for (const rec of ask) {
      const nonce = ++this.nonce;
      rec.reconcile = { nonce, at: this.beat, slots: byTag.get(rec.index + 1)! };
      this.d.ask(rec, nonce);
    }
  }

  /** The executor's answer: what it holds now. */
  answer(rec: ExecutorRec, nonce: number, held: Uint32Array): void {
    const r = rec.reconcile;
    if (!r || r.nonce !== nonce) return;
    rec.reconcile = undefined;
    const has = new Set(held);
    const t = this.d.tasks;
    const tag = rec.index + 1;
    const lost: number[] = [];
    for (const [s, assignment] of r.slots) {
      if (!has.has(s) && t.state[s] === ASSIGNED && t.exec[s] === tag && t.assignment[s] === assignment) lost.push(s);
    }
    if (!lost.length) return;
    this.requeued += lost.length;
    this.d.requeue(rec, lost);
  }
}
