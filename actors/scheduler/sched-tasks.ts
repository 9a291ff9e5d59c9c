/**
 * Task flow (the scheduler's task layer): sched.submit (onSubmit: new rows, or a re-submission's
 * missing ones), sched.done (onDone: completions from executors), sched.cancel (onCancel),
 * sched.resync (onResync: what an executor holds) and sched.retire (onRetire). Results themselves go
 * from executors to clients directly. The subscriptions are in scheduler.ts start().
 */
import { type Reply } from "../../runtime/actor.ts";
import { Errors, refusal } from "../../runtime/errors.ts";
import {
  type Cancel,
  type Done,
  type SubmitAck,
  type Resync,
  type Retire,
  type SubmitGroup,
  type Submit,
} from "../../runtime/protocol.ts";
import { ASSIGNED, NEEDS } from "./tasks.ts";
import { hold, needsOf } from "./resources.ts";
import { concat } from "./batches.ts";
import { pickRows } from "./row-bytes.ts";
import { SchedulerMembers } from "./sched-members.ts";
import type { ExecutorRec } from "./executor-rec.ts";

export abstract class SchedulerTasks extends SchedulerMembers {
  // --- sched.submit ---------------------------------------------------------------------------
  protected onSubmit(m: Submit, reply: Reply<SubmitAck> | undefined) {
    if (!this.trust.isRegisteredClient(m.client, m.auth)) {
      // A dropped client's own submit (its token is remembered) is not a forgery: it is told to register again.
      if (!this.trust.isClient(m.client, m.auth)) this.untrusted("submit");
      const e = Errors.UnknownClient(m.client);
      return this.respond(reply, { ok: false, code: e.code, message: e.message, sched: this.instance });
    }
    if (!this.trust.freshSubmit(m.client, m.seq)) return this.untrusted("submit: replayed");
    this.clients.touch(m.client);
    this.defs.add(m.client, m.fns, m.mods);
    for (const g of m.groups) {
      if (!this.defs.fns.has(g.fn)) {
        return this.respond(reply, { ...refusal(Errors.UnknownFunction(g.fn)), sched: this.instance });
      }
    }
    const client = this.clients.indexOf(m.client);
    const out: Uint32Array[] = [];
    let total = 0;
    for (const g of m.groups) {
      const needs = needsOf(g.resources);
      if (needs) this.warnUnplaceable(m.client, needs);
      const slots = m.resync ? this.addMissing(client, g) : this.tasks.add(client, g.fn, g.keys, g.rows, g.ends, g.consts, g.timeout && g.timeout > 0 ? g.timeout : 0, priorityOf(g), needs);
      out.push(slots);
      total += slots.length;
    }
    this.monitor.submitted(m, out);
    const all = out.length === 1 ? out[0]! : concat(out, total);
    // Dispatch first: the tasks' trip to an executor is on the latency path, the ack is not.
    this.pump();
    this.respond(reply, { ok: true, slots: all, sched: this.instance });
  }

  /** Adds the rows of a re-submitted group that are not held already; returns every row's slot. */
  protected addMissing(client: number, g: SubmitGroup): Uint32Array {
    const slots = new Uint32Array(g.keys.length);
    const rows: number[] = [];
    for (let r = 0; r < g.keys.length; r++) {
      const s = this.tasks.find(client, g.keys[r]!);
      if (s < 0) rows.push(r);
      else slots[r] = s;
    }
    if (rows.length) {
      const picked = pickRows(g.rows, g.ends, rows);
      const added = this.tasks.add(client, g.fn, Uint32Array.from(rows, (r) => g.keys[r]!), picked.rows, picked.ends, g.consts, g.timeout && g.timeout > 0 ? g.timeout : 0, priorityOf(g), needsOf(g.resources));
      rows.forEach((r, i) => (slots[r] = added[i]!));
    }
    return slots;
  }

  // --- sched.resync ---------------------------------------------------------------------------
  /** An executor says what it holds: tasks assigned to it that it does not hold were lost in transit. */
  protected onResync(m: Resync) {
    const rec = this.executors.byId(m.exec);
    if (!rec || m.sched !== this.instance || m.auth !== rec.auth) return this.untrusted("resync");
    if (m.nonce !== undefined) return this.reconciler.answer(rec, m.nonce, m.held);
    // Unasked (the executor reconnected): its list may predate batches in flight, so reconcile
    // properly, with a snapshot, at the next beat.
    this.reconciler.doubt(rec);
  }

  /** A retiring executor: no more work for it; what it had not started goes to the others. */
  protected onRetire(m: Retire) {
    const rec = this.executors.byId(m.exec);
    if (!rec || m.auth !== rec.auth) return this.untrusted("retire");
    rec.life.send({ type: "RETIRE" });
    const requeued = m.sched === this.instance ? this.stealApply(rec, m.returned) : 0;
    this.monitor.emit({ type: "executor-retiring", name: rec.name, id: rec.id, requeued });
  }

  /** After our own reconnect, messages to and from us may be lost: ask every executor to resync. */
  protected requestResync() {
    for (const rec of this.executors.accepting()) this.reconciler.doubt(rec);
  }

  // --- sched.done -----------------------------------------------------------------------------
  protected onDone(m: Done) {
    const rec = this.executors.byId(m.exec);
    if (!rec || m.sched !== this.instance) {
      this.duplicates += m.slots.length;
      return;
    }
    if (m.auth !== rec.auth) return this.untrusted("done");
    if (!rec.confirmed) this.confirmed(rec);
    const finished = this.finishSlots(rec, m.slots);
    rec.assigned -= finished;
    rec.done += finished;
    this.executors.load(rec);
    // A completion message is a sign of life: a busy executor skips its heartbeats.
    this.executors.alive(rec);
    this.failed += m.failed;
    this.monitor.done(rec, m, finished);
    for (const st of m.stats) if (Array.isArray(st)) this.estimates.observe(String(st[0]), Number(st[1]), Number(st[2]));
    this.schedulePump();
  }

  /**
   * Frees the slots `rec` reports done; returns how many were its own. The loop is a function of
   * its own, with nothing after it but the return: V8 (Node 20) compiles a long loop on the stack
   * (OSR) during a big map and keeps that code after it bails out, so what follows the loop in
   * onDone (an executor turning idle: taken by every lone submit, never during a map) bailed out
   * of it on every later completion (bench/embedded, `--trace-deopt`: 304 deopts in 300 submits,
   * in some cold runs).
   */
  private finishSlots(rec: ExecutorRec, slots: Uint32Array): number {
    const t = this.tasks;
    let finished = 0;
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!;
      // What it held (resources.ts), read before the slot is freed: one column read per task.
      const needs = t.flags[s]! & NEEDS ? t.chunks.get(t.chunk[s]!)?.needs : undefined;
      if (t.finish(s, rec.index)) {
        finished++;
        if (needs && rec.free) hold(rec.free, needs, 1, -1);
      } else this.duplicates++;
    }
    return finished;
  }

  // --- sched.cancel ---------------------------------------------------------------------------
  protected onCancel(m: Cancel) {
    const client = this.clients.known(m.client);
    if (client === undefined) return;
    const byExec = new Map<number, number[]>();
    for (let i = 0; i < m.slots.length; i++) {
      const s = m.slots[i]!;
      const before = this.tasks.cancel(s, client, m.keys[i]!);
      if (before === ASSIGNED) {
        const e = this.tasks.exec[s]! - 1;
        let l = byExec.get(e);
        if (!l) byExec.set(e, (l = []));
        l.push(s);
      }
    }
    for (const [e, slots] of byExec) {
      const rec = this.executors.byIndex(e);
      if (rec) this.tx.send(this.subjects.execCancel(rec.id), { slots: Uint32Array.from(slots), keys: Uint32Array.from(slots, (s) => this.tasks.key[s]!), auth: rec.auth });
    }
  }

}

/** A group's priority: a finite number, else 0 (a peer's odd value changes nothing). */
function priorityOf(g: SubmitGroup): number {
  return typeof g.priority === "number" && Number.isFinite(g.priority) ? g.priority : 0;
}
