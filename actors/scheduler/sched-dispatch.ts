/**
 * Placement (the scheduler's dispatch layer): queued tasks onto executors with room, in batches
 * (pump, fill, sendBatch), tasks that need resources (placeNeeding), work stealing for idle
 * executors (balance, stealRequest, stealApply), and the scheduler's own verdicts: a task failed
 * by the scheduler (failSlot) and an executor's death (executorGone, tasks re-queued or blamed).
 * Serves no route itself; the handlers (scheduler.ts start()) call schedulePump()/pump().
 */
import { encodeOmittingUndefined } from "../../runtime/codec.ts";
import { Errors, remoteError, type TsDaskError } from "../../runtime/errors.ts";
import {
  type StealReply,
  type Resources,
} from "../../runtime/protocol.ts";
import { roomFor, windowFor } from "./placement.ts";
import { ASSIGNED, needsKey } from "./tasks.ts";
import { fits, formatResources, hold, releaseSlots } from "./resources.ts";
import type { ExecutorRec } from "./executor-rec.ts";
import { splitBatch, takeBatch, type OutBatch } from "./batches.ts";
import { blame } from "./blame.ts";
import { SchedulerState } from "./sched-state.ts";

/** Work stealing looks at the loaded executors at most this often (ms). */
const BALANCE_MS = 5;

export abstract class SchedulerDispatch extends SchedulerState {
  protected pumpScheduled = false;
  /** When balance() last looked for work to steal, and its deferred next look. */
  protected balancedAt = -Infinity;
  protected balanceTimer: NodeJS.Timeout | undefined;

  protected schedulePump() {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /**
   * Hands queued tasks to executors with room, in batches. Only executors that may have room are
   * visited (`hungry`: their load fell since they were last found full), those with a free thread
   * first, so a completion message costs the same with 10 executors as with 1,000.
   */
  protected pump() {
    const t = this.tasks;
    if (t.needing > 0) this.placeNeeding();
    if (t.ready === 0) {
      t.drainCancelled();
      return this.balance();
    }
    const x = this.executors;
    if (x.hungry.size === 0) return;
    const gen = ++this.pumpGen;
    // Spread a short queue evenly instead of letting the first executor take it all.
    let withRoom = x.hungry.size;
    const visit = (rec: ExecutorRec) => {
      rec.pumpGen = gen;
      this.fill(rec, Math.ceil(t.ready / withRoom--));
      // Found full (not merely given its share of a short queue): out until its load falls.
      if (t.ready > 0 && this.room(rec) === 0) x.hungry.delete(rec);
    };
    for (const rec of x.idle) {
      if (t.ready === 0) return;
      if (rec.pumpGen !== gen && x.hungry.has(rec)) visit(rec);
    }
    for (const rec of x.hungry) {
      if (t.ready === 0) return;
      if (rec.pumpGen !== gen) visit(rec);
    }
  }
  protected pumpGen = 0;

  /**
   * Tasks that need resources (resources.ts): each need lane, highest priority first, onto the
   * executors that offer resources, as many as their free amounts cover (held until done).
   */
  protected placeNeeding() {
    const t = this.tasks;
    const lanes = [...t.needLanes.values()].sort((a, b) => b.priority - a.priority);
    for (const lane of lanes) {
      for (const rec of this.executors.resourced) {
        if (lane.len === 0) break;
        const k = Math.min(fits(rec.free, lane.needs!), this.placement.maxBatch);
        if (k <= 0) continue;
        const batch = takeBatch(this.batching, rec, k, lane);
        if (!batch) break;
        hold(rec.free!, lane.needs!, batch.count);
        this.executors.load(rec, false);
        this.sendBatch(rec, batch.msg);
      }
    }
  }

  /**
   * Tasks that need resources no live worker offers wait (a worker that has them may join: a
   * machine asleep, a cluster still starting); their client is told at once, once per need,
   * on its log subject (printed like a task's stderr), and the scheduler logs it.
   */
  protected warnUnplaceable(client: string, needs: Resources) {
    const key = `${client} ${needsKey(needs)}`;
    if (this.warnedNeeds.has(key)) return;
    const r = this.executors.canEverRun((offer) => fits(offer, needs) >= 1);
    if (r.able || r.workers === 0) return;
    this.warnedNeeds.add(key);
    const e = Errors.ResourcesUnavailable(formatResources(needs), r.offers.join(", "));
    this.log.warn(`client ${client}: ${e.message}`);
    this.tx.send(this.subjects.log(client), { worker: "scheduler", lines: [[2, `${e.code}: ${e.message}`]] });
  }
  /** `${client} ${needs}` already warned about (dropped with the client). */
  protected readonly warnedNeeds = new Set<string>();

  /**
   * Work stealing: with nothing left in the queue, an executor with idle threads gets tasks that
   * wait (not started) in the queue of the most loaded executor. Half of the victim's excess moves,
   * one steal per victim at a time (worker.machine.ts `steal` region).
   */
  protected balance() {
    const x = this.executors;
    if (x.idle.size === 0 || x.loaded.size === 0) return;
    // At most once per BALANCE_MS: at the end of a map every completion message finds the queue
    // empty, and a look at every loaded executor per message grew with the cluster.
    const now = performance.now();
    if (now - this.balancedAt < BALANCE_MS) {
      this.balanceTimer ??= setTimeout(() => {
        this.balanceTimer = undefined;
        this.schedulePump();
      }, BALANCE_MS).unref();
      return;
    }
    this.balancedAt = now;
    const idle = x.idle.size;
    const victims = [...x.loaded]
      .filter((r) => r.life.getSnapshot().matches({ running: { steal: "none" } }))
      .sort((a, b) => b.assigned - b.nthreads - (a.assigned - a.nthreads));
    for (let i = 0; i < Math.min(idle, victims.length); i++) {
      const v = victims[i]!;
      // Half of the victim's queue: both then finish at about the same time. Taking only as many
      // tasks as there are idle threads would cost a round trip per task when tasks are short.
      const max = Math.max(1, Math.ceil((v.assigned - v.nthreads) / 2));
      v.life.send({ type: "STEAL_START", max });
    }
  }

  protected stealRequest(victim: ExecutorRec, max: number) {
    this.tx
      .requestWhere<StealReply>(this.subjects.execSteal(victim.id), { max, auth: victim.auth, seq: ++victim.seq }, 2000, (r) => r?.auth === victim.auth)
      .then((r) => victim.life.send({ type: "STEAL_REPLY", slots: r.slots instanceof Uint32Array ? r.slots : new Uint32Array(0) }))
      .catch(() => {
        victim.life.send({ type: "STEAL_REPLY", slots: new Uint32Array(0) });
        // The executor may have given tasks up and its answer was lost: ask what it still holds.
        this.reconciler.doubt(victim);
      });
  }

  /** Re-queues the tasks `victim` gave back; returns how many were still its own. */
  protected stealApply(victim: ExecutorRec, slots: Uint32Array): number {
    const mine = [...slots].filter((s) => this.tasks.state[s] === ASSIGNED && this.tasks.exec[s] === victim.index + 1);
    if (mine.length) {
      victim.assigned -= mine.length;
      releaseSlots(this.tasks, victim.free, mine);
      this.executors.load(victim, false);
      this.stolen += mine.length;
      this.tasks.requeueFront(mine);
      // Stolen work goes to the executors with idle threads, not back to where it came from.
      const idle = [...this.executors.idle].filter((r) => r !== victim);
      let left = idle.length;
      for (const r of idle) this.fill(r, Math.ceil(this.tasks.ready / left--));
    }
    this.pump();
    return mine.length;
  }

  /** Tasks moved from one executor's queue to another's. */
  stolen = 0;

  /** Tasks re-queued because their executor turned out not to hold them (reconcile.ts). */
  get reconciled(): number {
    return this.reconciler.requeued;
  }

  protected fill(rec: ExecutorRec, share: number) {
    const t = this.tasks;
    let room = Math.min(share, this.room(rec));
    while (room > 0 && t.ready > 0) {
      const n = Math.min(room, this.placement.maxBatch);
      const batch = takeBatch(this.batching, rec, n);
      if (!batch) break;
      room -= batch.count;
      this.executors.load(rec, false);
      this.sendBatch(rec, batch.msg);
    }
  }

  /** How many more tasks `rec` should get, from the duration of the function at the queue head. */
  protected room(rec: ExecutorRec): number {
    const head = this.headFn();
    const est = head === undefined ? this.placement.unknownMs : (this.estimates.get(head) ?? this.placement.unknownMs);
    return roomFor(windowFor(rec.nthreads, est, this.placement), rec.assigned);
  }

  protected headFn(): string | undefined {
    const s = this.tasks.peek();
    return s < 0 ? undefined : this.tasks.chunks.get(this.tasks.chunk[s]!)!.fn;
  }

  protected sendBatch(rec: ExecutorRec, msg: OutBatch) {
    msg.seq = ++rec.seq;
    const data = encodeOmittingUndefined(msg);
    if (data.byteLength <= this.tx.maxPayload) return this.tx.publish(rec.tasksSubject, data);
    // Too big for one message: split the groups' rows in half and try again.
    const total = msg.groups.reduce((a, g) => a + g.slots.length, 0);
    if (total <= 1) {
      // One task alone is too large. Fail it (counted, reported, its event sent) instead of wedging the queue;
      // the resources it held on this executor are free again.
      const slot = msg.groups[0]!.slots[0]!;
      releaseSlots(this.tasks, rec.free, [slot]);
      this.failSlot(slot, Errors.PayloadTooLarge("The task's arguments", data.byteLength, this.tx.maxPayload), ["scheduler"]);
      rec.assigned--;
      this.executors.load(rec);
      return;
    }
    const [a, b] = splitBatch(this.batching, msg);
    this.sendBatch(rec, a);
    this.sendBatch(rec, b);
  }

  /** An executor left or died: its unfinished tasks go back to the front of the queue. */
  protected executorGone(rec: ExecutorRec, reason: string) {
    this.lateReplies.executors.forget(rec.id);
    this.trust.forgetExecutor(rec.id);
    const slots = blame(this.tasks, rec, this.tasks.assignedTo(rec.index), this.deaths, this.allowedFailures, (slot, error, workers) => this.failSlot(slot, error, workers));
    if (slots.length) this.tasks.requeueFront(slots);
    this.log.info(`executor ${rec.name} ${reason}${slots.length ? `; re-queued ${slots.length} task(s)` : ""}`);
    this.monitor.emit({ type: "executor-left", name: rec.name, id: rec.id, reason });
    this.monitor.executorGone(rec, reason, slots.length);
    this.actors.hostLost(rec.id, reason);
    this.schedulePump();
  }

  /** Ends a task with an error decided by the scheduler, sent to its client like any result. */
  protected failSlot(s: number, error: TsDaskError, workers: string[]) {
    const t = this.tasks;
    const client = this.clients.ids[t.client[s]!];
    if (client !== undefined) this.tx.send(this.subjects.results(client), {
      worker: workers[workers.length - 1] ?? "scheduler",
      keys: Uint32Array.of(t.key[s]!),
      tickets: this.trust.tickets[t.client[s]!]?.issue([t.key[s]!]),
      values: [null],
      errors: [remoteError(error)],
    });
    this.deaths.delete(s);
    this.failed++;
    this.monitor.failedByScheduler(s, error.code, error.message, workers[workers.length - 1] ?? "scheduler");
    t.drop(s);
  }
}
