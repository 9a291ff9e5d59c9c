/**
 * The scheduler's table of workers (one per `ts-dask worker` process) and their executors (the
 * dispatch units). Each executor's liveness is a worker.machine.ts actor: heartbeats keep it
 * running; silence makes it suspect, then dead, and `onDead` re-queues its tasks.
 */
import { createActor, type ActorRefFrom } from "xstate";
import { Errors, type TsDaskError } from "../../runtime/errors.ts";
import type { Heartbeat, RegisterExecutor, RegisterWorker, Resources, WorkerInfo } from "../../runtime/protocol.ts";
import { needsOf } from "./resources.ts";
import type { Subjects } from "../../runtime/protocol.ts";
import { Silence, silenceImpl } from "../../runtime/silence.ts";
import { workerMachine } from "./worker.machine.ts";
import { executorInfo, natsNode, type ExecutorRec } from "./executor-rec.ts";
import { LeaveWaiters } from "./leave-waiters.ts";

interface WorkerRec {
  reg: RegisterWorker;
  auth: string;
  /** As ExecutorRec.confirmed. */
  confirmed?: boolean;
  executors: Set<ExecutorRec>;
  lastSeen: number;
  nats?: string;
}

/** Work stealing, as the scheduler does it (the worker machine tracks one steal per executor). */
export interface StealHooks {
  request(victim: ExecutorRec, max: number): void;
  apply(victim: ExecutorRec, slots: Uint32Array): void;
}

export interface LivenessConfig {
  steal?: StealHooks;
  /** A new registration's token. */
  newToken: () => string;
  subjects: Subjects;
  suspectAfterMs: number;
  deadAfterMs: number;
  onDead: (rec: ExecutorRec, reason: string) => void;
}

export class ExecutorTable {
  /**
   * Placement reads these instead of scanning every executor (issue 15: with 1,000 executors a
   * scan per completion message made each task's cost grow with the cluster). Kept by
   * {@link load} and {@link setOpen}, O(1) per message:
   * - `open`: executors that take work (confirmed, machine in `running`);
   * - `idle`: open ones with a thread free (assigned < nthreads);
   * - `loaded`: open ones holding queued work (assigned > nthreads), the candidates to steal from;
   * - `hungry`: open ones that may have room for more (added whenever their load falls or they
   *   open; the pump drops one it finds full).
   */
  readonly open = new Set<ExecutorRec>();
  readonly idle = new Set<ExecutorRec>();
  readonly loaded = new Set<ExecutorRec>();
  readonly hungry = new Set<ExecutorRec>();
  /** Open executors that offer resources (resources.ts places tasks that need some there). */
  readonly resourced = new Set<ExecutorRec>();
  private readonly byIdMap = new Map<string, ExecutorRec>();
  private readonly byIdx: (ExecutorRec | undefined)[] = [];
  private readonly freeIdx: number[] = [];
  private readonly workers = new Map<string, WorkerRec>(); // by instance

  constructor(private readonly cfg: LivenessConfig) {}

  /** Registers a worker; returns an error when a live worker holds its name. */
  addWorker(reg: RegisterWorker): TsDaskError | undefined {
    const held = this.workers.get(reg.instance);
    // A live registration's token goes only to whoever holds it (a placeholder's to the first worker).
    if (held && held.reg.pid !== 0 && held.confirmed && held.auth !== reg.auth) return Errors.RegistrationHeld(`Worker ${reg.name}`);
    for (const w of this.workers.values()) {
      if (w.reg.name === reg.name && w.reg.instance !== reg.instance) {
        if (this.isLive(w)) return Errors.NameTaken(reg.name);
        this.removeWorker(w.reg.instance, "replaced by a restarted worker of the same name");
      }
    }
    const prev = this.workers.get(reg.instance);
    reg.resources = needsOf(reg.resources);
    this.workers.set(reg.instance, { reg, executors: prev?.executors ?? new Set(), lastSeen: Date.now(), auth: prev?.auth ?? this.cfg.newToken(), confirmed: prev?.confirmed, nats: natsNode(reg.nats) });
    // Executors that registered first (a scheduler restart) learn their worker's resources now.
    for (const e of prev?.executors ?? []) if (!e.resources && reg.resources) this.offer(e, reg.resources);
    return undefined;
  }

  private isLive(w: WorkerRec): boolean {
    for (const e of w.executors) if (e.life.getSnapshot().status === "active") return true;
    return !this.silentPastDead(w);
  }

  /**
   * Whether the worker `instance` (its supervisor and its executors: beats, completions) has been
   * silent past the dead window (suspectAfterMs + deadAfterMs, its executors' machines' window) at
   * `now`. The monitor reports such a worker dead and {@link sweepWorkers} forgets it, reading
   * this same answer at the same `now`: the report always comes first.
   */
  workerSilentPastDead(instance: string, now = Date.now()): boolean {
    const w = this.workers.get(instance);
    return w !== undefined && this.silentPastDead(w, now);
  }

  /** How long the worker `instance` has been silent, ms (0 when unknown). */
  workerSilentMs(instance: string, now = Date.now()): number {
    const w = this.workers.get(instance);
    return w ? now - w.lastSeen : 0;
  }

  private silentPastDead(w: WorkerRec, now = Date.now()): boolean {
    return now - w.lastSeen > this.cfg.suspectAfterMs + this.cfg.deadAfterMs;
  }

  addExecutor(reg: RegisterExecutor): ExecutorRec {
    const old = this.byIdMap.get(reg.id);
    if (old) {
      old.nats = natsNode(reg.nats) ?? old.nats;
      return old;
    }
    const index = this.freeIdx.pop() ?? this.byIdx.length;
    const heard = new Silence(() => performance.now());
    const silence = silenceImpl(heard, (c: { suspectAfterMs: number }) => c.suspectAfterMs);
    const life = createActor(
      workerMachine.provide({
        guards: { heardLately: silence.heard },
        delays: { suspectAfter: silence.left },
        actions: {
          requeueTasks: ({ context }) => this.gone(rec, context.reason ?? "gone"),
          sendStealRequest: ({ event }) => event.type === "STEAL_START" && this.cfg.steal?.request(rec, event.max),
          applyStolen: ({ event }) => event.type === "STEAL_REPLY" && this.cfg.steal?.apply(rec, event.slots),
        },
      }),
      { input: { suspectAfterMs: this.cfg.suspectAfterMs, deadAfterMs: this.cfg.deadAfterMs } },
    );
    const rec: ExecutorRec = {
      id: reg.id,
      name: reg.name,
      index,
      worker: reg.worker,
      nthreads: reg.nthreads,
      pid: reg.pid,
      tasksSubject: this.cfg.subjects.execTasks(reg.id),
      assigned: 0,
      done: 0,
      running: 0,
      queued: 0,
      rss: 0,
      dataFetches: 0,
      dataPushed: 0,
      dataBytes: 0,
      fnsSent: new Set(),
      modsSent: new Set(),
      life,
      auth: this.cfg.newToken(),
      seq: 0,
      nats: natsNode(reg.nats),
      live: false,
      open: false,
      pumpGen: 0,
      heard,
    };
    this.byIdMap.set(reg.id, rec);
    this.byIdx[index] = rec;
    let w = this.workers.get(reg.worker);
    if (!w) {
      // The scheduler restarted and the executor re-registered first: keep a placeholder.
      w = { reg: placeholderWorker(reg), executors: new Set(), lastSeen: Date.now(), auth: this.cfg.newToken() };
      this.workers.set(reg.worker, w);
    }
    w.executors.add(rec);
    if (w.reg.resources) this.offer(rec, w.reg.resources);
    // One field read on the hot path instead of a snapshot match (a heartbeat makes a snapshot too: one match each).
    life.subscribe((snap) => {
      const v = snap.value;
      const live = snap.status === "active" && typeof v === "object" && v !== null && "running" in v;
      if (live !== rec.live) {
        rec.live = live;
        this.setOpen(rec);
      }
    });
    life.start();
    life.send({ type: "REGISTERED" });
    return rec;
  }

  /** `rec` offers `resources` (its worker's), all free (nothing that needs them is assigned to it yet). */
  private offer(rec: ExecutorRec, resources: Resources): void {
    rec.resources = resources;
    rec.free = { ...resources };
    this.setOpen(rec);
  }

  /** Whether any live worker's executors offer enough for one task needing `needs` (and whether any worker is there at all). */
  canEverRun(fits: (offer: Resources | undefined) => boolean): { workers: number; able: boolean; offers: string[] } {
    let workers = 0;
    const offers: string[] = [];
    for (const w of this.workers.values()) {
      if (w.reg.pid === 0 || !this.isLive(w)) continue;
      workers++;
      offers.push(`${w.reg.name} (${w.reg.resources ? Object.entries(w.reg.resources).map(([k, v]) => `${k}=${v}`).join(",") : "none"})`);
      if (fits(w.reg.resources)) return { workers, able: true, offers };
    }
    return { workers, able: false, offers };
  }

  /** After `rec.confirmed` or its machine's state changed: whether it takes work now. */
  setOpen(rec: ExecutorRec): void {
    rec.open = rec.live && rec.confirmed === true && this.byIdMap.get(rec.id) === rec;
    if (rec.open) this.open.add(rec);
    else this.open.delete(rec);
    if (rec.open && rec.resources) this.resourced.add(rec);
    else this.resourced.delete(rec);
    this.load(rec);
  }

  /**
   * After `rec.assigned` changed: its place in the idle and loaded sets. `fell` (the default): its
   * load fell or it just opened, so it may have room again (the pump looks at it next).
   */
  load(rec: ExecutorRec, fell = true): void {
    if (!rec.open) {
      this.idle.delete(rec);
      this.loaded.delete(rec);
      this.hungry.delete(rec);
      return;
    }
    if (rec.assigned < rec.nthreads) this.idle.add(rec);
    else this.idle.delete(rec);
    if (rec.assigned > rec.nthreads) this.loaded.add(rec);
    else this.loaded.delete(rec);
    if (fell) this.hungry.add(rec);
  }

  /** A worker's registration token (undefined for an unknown worker). */
  workerAuth(instance: string): string | undefined {
    return this.workers.get(instance)?.auth;
  }

  /**
   * Executors that may be alive: running, or suspect (silent, e.g. a long task blocks its loop).
   * What they must eventually hold (a broadcast value) goes to these, not only to running ones.
   */
  reachable(): ExecutorRec[] {
    return [...this.byIdMap.values()].filter((r) => {
      const st = r.life.getSnapshot();
      return st.matches("running") || st.matches("suspect");
    });
  }

  /** Executors in the running state, confirmed or not. */
  running(): ExecutorRec[] {
    return [...this.byIdMap.values()].filter((r) => r.life.getSnapshot().matches("running"));
  }

  byId(id: string): ExecutorRec | undefined {
    return this.byIdMap.get(id);
  }

  byIndex(i: number): ExecutorRec | undefined {
    return this.byIdx[i];
  }

  /** Workers (supervisors) that are alive: registered and heard from recently. */
  liveWorkers(): { instance: string; name: string }[] {
    const out: { instance: string; name: string }[] = [];
    for (const w of this.workers.values()) if (w.reg.pid !== 0 && this.isLive(w)) out.push({ instance: w.reg.instance, name: w.reg.name });
    return out;
  }

  /** Every executor record, whatever its state. */
  all(): IterableIterator<ExecutorRec> {
    return this.byIdMap.values();
  }

  /**
   * Executors that take new work, least loaded first. Only confirmed ones: an executor that has not
   * used its token yet may still follow another scheduler and would drop our orders.
   */
  accepting(): ExecutorRec[] {
    return [...this.open].sort((a, b) => a.assigned / a.nthreads - b.assigned / b.nthreads);
  }

  /** Records a heartbeat; false when the executor is unknown (it must re-register). */
  heartbeat(m: Heartbeat): boolean {
    const rec = this.byIdMap.get(m.id);
    if (!rec) return false;
    rec.running = m.running;
    rec.queued = m.queued;
    rec.rss = m.rss;
    rec.paused = m.paused === true;
    rec.dataFetches = m.dataFetches ?? rec.dataFetches;
    if (m.cached) rec.cached = m.cached;
    rec.dataPushed = m.dataPushed ?? rec.dataPushed;
    rec.dataBytes = m.dataBytes ?? rec.dataBytes;
    rec.nats = natsNode(m.nats) ?? rec.nats;
    this.alive(rec);
    const w = this.workers.get(rec.worker);
    if (w) w.lastSeen = Date.now();
    return true;
  }

  workerHeartbeat(m: Heartbeat): void {
    const w = this.workers.get(m.id);
    if (!w) return;
    w.lastSeen = Date.now();
    w.confirmed = true;
    w.nats = natsNode(m.nats) ?? w.nats;
    for (const id of m.executors ?? []) {
      const rec = this.byIdMap.get(id);
      if (rec && rec.worker === m.id) this.alive(rec);
    }
  }

  /**
   * A sign of life of `rec` (its heartbeat, its supervisor's, a completion message). Noted, not
   * sent, while its machine only needs it for its silence timer (running, or retiring and still
   * beating): the timer asks when it fires (runtime/silence.ts). A suspect or silent one's machine
   * hears it: it comes back.
   */
  alive(rec: ExecutorRec): void {
    rec.heard.note();
    if (!rec.live) {
      const snap = rec.life.getSnapshot();
      if (snap.matches("suspect") || snap.matches({ retiring: "silent" })) rec.life.send({ type: "HEARTBEAT" });
    }
    // Its worker is heard from too (completions count, as its beats do).
    const w = this.workers.get(rec.worker);
    if (w) w.lastSeen = Date.now();
  }

  /** Forgets workers silent past the dead window that have no executors left (killed -9). */
  sweepWorkers(now = Date.now()): void {
    for (const [instance, w] of this.workers) {
      if (w.executors.size === 0 && this.silentPastDead(w, now)) this.dropWorker(instance, "silent");
    }
  }

  /** An executor said goodbye (or its worker did): forget it and re-queue its tasks. */
  remove(rec: ExecutorRec, reason: string): void {
    rec.life.send({ type: "LOST", reason });
    this.gone(rec, reason); // in case the machine had already ended
  }

  removeWorker(instance: string, reason: string): void {
    const w = this.workers.get(instance);
    if (!w) return;
    for (const e of [...w.executors]) this.remove(e, reason);
    this.dropWorker(instance, reason);
  }

  private dropWorker(instance: string, reason: string): void {
    this.workers.delete(instance);
    this.workerLeaves.fire(instance, reason);
  }

  /** As {@link whenGone}, for the worker (supervisor) `instance`. */
  whenWorkerGone(instance: string): { left: Promise<string>; cancel(): void } {
    return this.workerLeaves.wait(instance, this.workers.has(instance));
  }
  private readonly workerLeaves = new LeaveWaiters<string>();

  /**
   * `left` resolves with the reason once `rec` has left the table (at once if it already has): a
   * request it will never answer (it exited mid-request) need not wait out its timeout. Call
   * `cancel` when the answer came first, so a long-lived executor does not collect waiters.
   */
  whenGone(rec: ExecutorRec): { left: Promise<string>; cancel(): void } {
    return this.leaves.wait(rec, this.byIdMap.get(rec.id) === rec);
  }
  private readonly leaves = new LeaveWaiters<ExecutorRec>();

  private gone(rec: ExecutorRec, reason: string) {
    if (this.byIdMap.get(rec.id) !== rec) return;
    this.byIdMap.delete(rec.id);
    this.leaves.fire(rec, reason);
    this.setOpen(rec);
    this.byIdx[rec.index] = undefined;
    this.workers.get(rec.worker)?.executors.delete(rec);
    rec.life.stop();
    this.cfg.onDead(rec, reason);
    // The index is reused only after onDead re-queued everything tagged with it.
    this.freeIdx.push(rec.index);
  }

  stopAll(): void {
    for (const r of this.byIdMap.values()) r.life.stop();
  }

  info(): WorkerInfo[] {
    return [...this.workers.values()].map((w) => ({
      name: w.reg.name,
      instance: w.reg.instance,
      host: w.reg.host,
      pid: w.reg.pid,
      platform: w.reg.platform,
      state: w.executors.size ? "running" : "idle",
      nprocs: w.reg.nprocs,
      nthreads: w.reg.nthreads,
      memoryLimit: w.reg.memoryLimit,
      hello: w.reg.hello,
      ...(w.reg.resources ? { resources: w.reg.resources } : {}),
      ...(w.nats ? { nats: w.nats } : {}),
      executors: [...w.executors].sort((a, b) => a.name.localeCompare(b.name)).map(executorInfo),
    }));
  }
}

function placeholderWorker(reg: RegisterExecutor): RegisterWorker {
  return {
    kind: "worker",
    hello: reg.hello,
    name: reg.name.replace(/-\d+$/, ""),
    instance: reg.worker,
    host: "?",
    pid: 0,
    platform: "?",
    nprocs: 0,
    nthreads: reg.nthreads,
    memoryLimit: 0,
  };
}
