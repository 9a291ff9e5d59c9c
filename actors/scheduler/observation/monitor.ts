/**
 * What the dashboard, `/metrics`, `ts-dask info` and the `events` subject need from the
 * scheduler, aggregated as it happens. The scheduler calls a hook per *message* (a submit, a
 * completion batch, a heartbeat, a departure), never per task: the task table's hot loops stay as
 * they are. Everything per task that the views show is derived at read time from counters the
 * scheduler keeps anyway (the task table's chunks) or from per-message statistics the executors
 * already send (`Done.stats`, `Done.span`, `Done.failedSlots`).
 *
 * Hooks (called from scheduler.ts):
 *   submitted      one `sched.submit` message accepted (job started events)
 *   done           one `sched.done` message (durations per function, task stream, errors per job)
 *   heartbeat      one `sched.heartbeat` (CPU %, paused, NATS bytes of executors, liveness of workers)
 *   workerJoined / workerLeaving / executorGone   (events, restarts, re-queued tasks)
 *   failedByScheduler  a task the scheduler itself failed (KilledWorker, TaskTimeout)
 * Readers: {@link Monitor.snapshot} (dashboard), {@link Monitor.metrics} (Prometheus),
 * {@link Monitor.workerInfo} (`sched.info`'s worker table).
 * Its parts: job-progress.ts (jobs, their rows done, rates, job events), worker-view.ts (executors'
 * CPU and bytes, workers' totals, departures and deaths); here: counters, durations, the task
 * stream, events, the housekeeping tick and the views built from all of them.
 */
import { hostname } from "node:os";
import type {
  ClusterEvent,
  ClusterInfo,
  Done,
  FnDef,
  Heartbeat,
  RegisterWorker,
  Subjects,
  Submit,
  WorkerInfo,
} from "../../../runtime/protocol.ts";
import type { Transport } from "../../../runtime/transport.ts";
import { msToBeat } from "../../../runtime/beat-clock.ts";
import type { Logger } from "../../../runtime/actor.ts";
import type { ExecutorRec } from "../executor-rec.ts";
import type { ExecutorTable } from "../executors.ts";
import { DURATION_BUCKETS, workerRows, type HistoryPoint, type JobView, type Snapshot } from "./dashboard/views.ts";
import { SchedulerMetrics } from "./metrics.ts";
import { fnLabel } from "./fn-label.ts";
import { TaskStream } from "./task-stream.ts";
import type { TaskTable } from "../tasks.ts";
import { JobProgress, type JobRec } from "./job-progress.ts";
import { WorkerView } from "./worker-view.ts";

/** What the monitor reads from the scheduler (the Scheduler class satisfies it). */
export interface MonitorHost {
  readonly tasks: TaskTable;
  readonly executors: ExecutorTable;
  readonly tx: Transport;
  readonly subjects: Subjects;
  readonly cluster: string;
  readonly instance: string;
  readonly startedAt: number;
  /** Tasks moved from one executor's queue to another's (work stealing). */
  readonly stolen?: number;
  info(): ClusterInfo;
}

export interface MonitorOptions {
  /** The definition of a function hash (for names). */
  fnDef: (hash: string) => FnDef | undefined;
  /** Task stream window (default 60 s). */
  streamMs?: number;
  /** Throughput / CPU / memory history (default 10 min). */
  historyS?: number;
  /** Departed workers stay listed (as gone) this long (default 10 min). */
  keepGoneMs?: number;
  /** The scheduler's log: workers leaving and dying are logged here as well as published. */
  log?: Logger;
}

/** Functions are named by this many characters of their hash in snapshots (stream entries, fns). */
const FN_ID = 16;
const MAX_EVENTS = 200;


export class Monitor {
  completed = 0;
  failed = 0;
  retried = 0;
  restarts = 0;
  memoryRestarts = 0;
  /** Cumulative counts per bucket of {@link DURATION_BUCKETS} (+Inf last), sum in seconds. */
  readonly durationBuckets = new Float64Array(DURATION_BUCKETS.length + 1);
  durationSum = 0;
  durationCount = 0;
  readonly perFn = new Map<string, { count: number; ms: number; errors: number }>();

  private readonly stream = new TaskStream();
  private readonly history: HistoryPoint[] = [];
  private lastCompleted = 0;
  private lastFailed = 0;
  /** Jobs and their progress (job-progress.ts). */
  private readonly jobs: JobProgress;
  /** Executors' CPU and bytes, workers' totals, departures and deaths (worker-view.ts). */
  private readonly workers: WorkerView;
  private readonly recentEvents: (ClusterEvent & { t: number })[] = [];
  /** Tasks the scheduler failed since the last flush, per job and error code (aggregated into events). */
  private schedFailed = new Map<string, { job: JobRec | undefined; code: string; message: string; worker: string; count: number }>();
  private timer: NodeJS.Timeout | undefined;
  /** When the once-a-second housekeeping runs next (history, dead workers, expiry). */
  private nextHousekeeping = 0;
  readonly streamMs: number;
  private readonly historyS: number;

  constructor(
    private readonly host: MonitorHost,
    private readonly opts: MonitorOptions,
  ) {
    this.streamMs = opts.streamMs ?? 60_000;
    this.historyS = opts.historyS ?? 600;
    this.jobs = new JobProgress(host, opts.fnDef, (e) => this.emit(e));
    this.workers = new WorkerView(host, (e) => this.emit(e), opts.keepGoneMs ?? 600_000, opts.log);
  }

  /**
   * Starts the housekeeping tick: every 250 ms while jobs run (a job's end is noticed within
   * 250 ms), once a second when idle (an idle scheduler should barely wake up: each wakeup costs
   * ~0.5–1 ms of CPU on a small VM, beside the executors' work).
   */
  start(): void {
    if (this.timer) return;
    this.nextHousekeeping = Date.now() + 1000;
    this.arm(1000);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * Ticks at the next point of the wall clock's `ms` grid (runtime/beat-clock.ts): the 250 ms and
   * 1 s grids meet the scheduler's 500 ms beat, so the tick shares its wake-up instead of taking
   * one of its own (and meets the executors' lingering results, outbox.ts).
   */
  private arm(ms: number, afterTick = false): void {
    this.timer = setTimeout(() => {
      this.tick();
      this.arm(this.jobs.active > 0 || this.schedFailed.size ? 250 : 1000, true);
    }, msToBeat(ms, Date.now(), afterTick));
    this.timer.unref();
  }

  /** Work arrived while idle: back to the 250 ms tick at once. */
  private wake(): void {
    if (!this.timer || this.jobs.active > 0) return;
    this.jobs.active = 1; // until the next tick counts them
    clearTimeout(this.timer);
    this.arm(250);
  }

  // --- events ---------------------------------------------------------------------------------

  /** Publishes a cluster event on `events` and keeps it for the dashboard. */
  emit(e: ClusterEvent): void {
    const ev = { ...e, t: Date.now() } as ClusterEvent & { t: number };
    this.recentEvents.push(ev);
    if (this.recentEvents.length > MAX_EVENTS) this.recentEvents.splice(0, this.recentEvents.length - MAX_EVENTS);
    try {
      this.host.tx.send(this.host.subjects.events, ev);
    } catch {
      /* disconnected: events are best effort */
    }
  }

  // --- hooks ----------------------------------------------------------------------------------

  /** One accepted `sched.submit`; `slots[i]` are the slots of `m.groups[i]`. */
  submitted(m: Submit, slots: Uint32Array[]): void {
    this.wake();
    this.jobs.submitted(m, slots, Date.now());
  }

  /** One `sched.done` from `rec`, of which `finished` completions were expected. */
  done(rec: ExecutorRec, m: Done, finished: number): void {
    const now = Date.now();
    this.completed += finished;
    const nFailed = Number.isFinite(m.failed) ? Math.min(m.failed, finished) : 0;
    this.failed += nFailed;
    this.workers.done(rec.worker, finished);
    // Errors: which jobs and functions they belong to (only failed slots are looked at).
    let errByFn: Map<string, number> | undefined;
    const fs = m.failedSlots;
    if (fs instanceof Uint32Array && fs.length) {
      errByFn = new Map();
      const byJob = new Map<JobRec, number>();
      for (let i = 0; i < fs.length; i++) {
        const job = this.jobs.ofSlot(fs[i]!);
        if (!job) continue;
        byJob.set(job, (byJob.get(job) ?? 0) + 1);
        errByFn.set(job.fn, (errByFn.get(job.fn) ?? 0) + 1);
      }
      const err = m.error && typeof m.error.message === "string" ? { name: String(m.error.name ?? "Error"), message: m.error.message.slice(0, 500) } : undefined;
      for (const [job, n] of byJob) {
        job.errors += n;
        this.emit({ type: "task-erred", worker: rec.name, client: job.client, job: job.job, name: job.name, count: n, ...(err ? { error: err } : {}) });
      }
    } else if (nFailed > 0) {
      this.emit({ type: "task-erred", worker: rec.name, client: "", job: -1, name: "", count: nFailed });
    }
    // Durations per function, the histogram (batch means), the task stream.
    const span = typeof m.span === "number" && m.span >= 0 ? m.span : undefined;
    let busyAll = 0;
    for (const st of m.stats) {
      if (!Array.isArray(st)) continue;
      const n = Number(st[1]);
      const ms = Number(st[2]);
      if (!(n > 0) || !Number.isFinite(ms)) continue;
      busyAll += ms;
    }
    for (const st of m.stats) {
      if (!Array.isArray(st)) continue;
      const fn = String(st[0]);
      const n = Number(st[1]);
      const ms = Number(st[2]);
      if (!(n > 0) || !Number.isFinite(ms)) continue;
      const errors = errByFn?.get(fn) ?? 0;
      let f = this.perFn.get(fn);
      // A late completion of a function already forgotten (its clients left) starts no new entry.
      if (!f && this.opts.fnDef(fn)) this.perFn.set(fn, (f = { count: 0, ms: 0, errors: 0 }));
      if (f) {
        f.count += n;
        f.ms += ms;
        f.errors += errors;
      }
      this.observeDuration(ms / n / 1000, n);
      const width = span ?? ms / Math.max(1, rec.nthreads);
      // Several functions in one message share its span in proportion to their time.
      const part = busyAll > 0 ? width * (ms / busyAll) : width;
      this.stream.add(rec.name, fn.slice(0, FN_ID), Math.round(now - part), now, n, errors, Math.round(ms * 100) / 100, rec.nthreads);
    }
  }

  /** A function's definition is gone (its clients left): its totals go too. */
  forgetFn(fn: string): void {
    this.perFn.delete(fn);
  }

  /** Entries held, for info (a long-lived scheduler's state must not grow with every client). */
  counts(): { jobs: number; chunkJobs: number; pooled: number; perFn: number; failed: number } {
    return { ...this.jobs.counts(), perFn: this.perFn.size, failed: this.schedFailed.size };
  }

  private observeDuration(seconds: number, n: number) {
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
    this.durationBuckets[i]! += n;
    this.durationSum += seconds * n;
    this.durationCount += n;
  }

  /** One `sched.heartbeat`. */
  heartbeat(m: Heartbeat): void {
    this.workers.heartbeat(m);
  }

  /** A worker registered (publishes `worker-joined`). */
  workerJoined(reg: RegisterWorker): void {
    this.workers.joined(reg);
  }

  /** A worker said goodbye (call before it is removed from the table): `worker-left`, and a log line. */
  workerLeaving(instance: string, reason: string): void {
    this.workers.leaving(instance, reason);
  }

  /** An executor is gone (bye, crash, silence); `requeued` of its tasks went back to the queue. */
  executorGone(rec: ExecutorRec, reason: string, requeued: number): void {
    this.stream.forget(rec.name);
    this.retried += requeued;
    const memory = /memory/i.test(reason);
    // The supervisor reports a process that died and is being restarted (executor-process.ts).
    const restarted = memory || /^(was killed|exited with|was lost|stopped: a task ran past)/.test(reason);
    this.workers.executorGone(rec, restarted, memory);
    if (restarted) {
      this.restarts++;
      if (memory) this.memoryRestarts++;
      this.emit({ type: "executor-restarted", name: rec.name, id: rec.id, reason, memory });
    }
    const failed = this.flushSchedFailed();
    if (requeued > 0 || failed > 0) this.emit({ type: "killed-worker", name: rec.name, id: rec.id, reason, requeued, failed });
  }

  /** The task stream's version (see {@link Snapshot.seq}). */
  get streamVersion(): number {
    return this.stream.version;
  }

  /** Tasks moved from one executor's queue to another's (the scheduler counts them). */
  get stolen(): number {
    return this.host.stolen ?? 0;
  }

  /**
   * The scheduler failed slot `s` itself (`KilledWorker` after too many deaths, `TaskTimeout`).
   * Call before the slot is released. Aggregated: the events go out with the executor's
   * departure ({@link executorGone}) or at the next tick.
   */
  failedByScheduler(s: number, code: string, message: string, worker: string): void {
    this.completed++;
    this.failed++;
    const job = this.jobs.ofSlot(s);
    if (job) job.errors++;
    const key = `${job?.key ?? ""}\0${code}`;
    const f = this.schedFailed.get(key);
    if (f) f.count++;
    else {
      this.schedFailed.set(key, { job, code, message: message.slice(0, 500), worker, count: 1 });
      this.wake();
    }
  }

  /** Publishes `task-erred` for what {@link failedByScheduler} collected; returns how many. */
  private flushSchedFailed(): number {
    let n = 0;
    for (const f of this.schedFailed.values()) {
      n += f.count;
      this.emit({ type: "task-erred", worker: f.worker, client: f.job?.client ?? "", job: f.job?.job ?? -1, name: f.job?.name ?? "", count: f.count, error: { name: f.code, message: f.message } });
    }
    this.schedFailed.clear();
    return n;
  }

  // --- housekeeping ---------------------------------------------------------------------------

  private tick(): void {
    const now = Date.now();
    if (this.schedFailed.size) this.flushSchedFailed();
    this.jobs.update(now);
    if (now < this.nextHousekeeping) return;
    // A second on, less half the shortest tick: the grid's tick a second later (a few ms early or late) is the next.
    this.nextHousekeeping = now + 1000 - 125;
    // Once a second: history, dead workers, expiry.
    const load = this.workers.load();
    const done = this.completed - this.lastCompleted;
    const failed = this.failed - this.lastFailed;
    this.lastCompleted = this.completed;
    this.lastFailed = this.failed;
    this.history.push([Math.floor(now / 1000), done, failed, load.cpu, load.rss, load.limit]);
    if (this.history.length > this.historyS) this.history.splice(0, this.history.length - this.historyS);
    // Worker deaths are judged on the scheduler's beat (checkWorkers), after a stall's backlog is read.
    this.workers.prune(now);
    this.stream.prune(now - this.streamMs);
  }

  /**
   * Workers silent past the dead window, as the executor table judges them
   * (ExecutorTable.workerSilentPastDead): `worker-died` (once), and kept as gone. The scheduler
   * calls this with the `now` of its table's sweep (ExecutorTable.sweepWorkers), just before it.
   */
  checkWorkers(now = Date.now()): void {
    this.workers.checkWorkers(now);
  }

  // --- readers --------------------------------------------------------------------------------

  /** `sched.info`'s workers with states (running / paused / restarting / gone), CPU and totals. */
  workerInfo(workers: WorkerInfo[]): WorkerInfo[] {
    return this.workers.workerInfo(workers);
  }

  /** Workers that left or died recently and are no longer in the table (state "gone"). */
  departedWorkers(): WorkerInfo[] {
    return this.workers.departedWorkers();
  }

  /** NATS bytes in and out: the scheduler's own and its executors' (those gone included). */
  bytes(): { in: number; out: number; schedulerIn: number; schedulerOut: number; executorsIn: number; executorsOut: number } {
    return this.workers.bytes();
  }

  /** The jobs, running first (job-progress.ts). */
  jobViews(): JobView[] {
    return this.jobs.views();
  }

  /**
   * What the dashboard shows. A delta (`since` > 0: the `t` of the previous snapshot, `sinceSeq`
   * its `seq`) carries only the stream entries created or extended since, and the newer history
   * points and events; tables are always whole (they are small).
   */
  snapshot(since = 0, sinceSeq = 0): Snapshot {
    const info = this.host.info();
    const now = Date.now();
    const workers = workerRows(info);
    let running = 0;
    let executors = 0;
    for (const w of info.workers) for (const e of w.executors) (running += e.running), executors++;
    const b = this.bytes();
    const fns = [...this.perFn].map(([hash, f]) => ({ hash: hash.slice(0, FN_ID), name: fnLabel(this.opts.fnDef(hash), hash), count: f.count, meanMs: f.count ? f.ms / f.count : 0, errors: f.errors }));
    const stream = since > 0 ? this.stream.changedSince(sinceSeq) : this.stream.endingAfter(now - this.streamMs);
    const sinceS = Math.floor(since / 1000);
    const history = since > 0 ? this.history.filter((p) => p[0] >= sinceS - 1) : this.history.slice();
    return {
      t: now,
      seq: this.stream.version,
      cluster: info.cluster,
      scheduler: { host: info.scheduler.host, instance: info.scheduler.instance, version: info.scheduler.hello.version, node: info.scheduler.hello.node, startedAt: info.scheduler.startedAt, rss: info.scheduler.rss, nats: info.scheduler.nats },
      clientNodes: info.clientNodes,
      totals: {
        workers: info.workers.filter((w) => w.state !== "gone").length,
        executors,
        clients: info.clients,
        queued: info.tasks.queued,
        byPriority: info.tasks.byPriority,
        needingResources: info.tasks.needingResources ?? 0,
        assigned: info.tasks.assigned,
        running,
        completed: this.completed,
        failed: this.failed,
        stolen: this.stolen,
        retried: this.retried,
        restarts: this.restarts,
        memoryRestarts: this.memoryRestarts,
        bytesIn: b.in,
        bytesOut: b.out,
      },
      workers,
      jobs: this.jobViews(),
      fns,
      stream,
      streamMs: this.streamMs,
      history,
      events: since > 0 ? this.recentEvents.filter((e) => e.t >= since) : this.recentEvents.slice(-50),
      actors: info.actors ?? [],
    };
  }

  private prom: SchedulerMetrics | undefined;
  /** `GET /metrics`: the Prometheus text format, through prom-client (metrics.ts). */
  metrics(): SchedulerMetrics {
    return (this.prom ??= new SchedulerMetrics(this, () => this.host.info(), this.opts.fnDef));
  }

  /** `GET /health`. */
  health(): { status: "ok" | "degraded"; cluster: string; scheduler: string; host: string; uptimeS: number; workers: number; executors: number; nats: boolean } {
    const info = this.host.info();
    const nats = !this.host.tx.isClosed;
    return {
      status: nats ? "ok" : "degraded",
      cluster: this.host.cluster,
      scheduler: this.host.instance,
      host: hostname(),
      uptimeS: Math.round((Date.now() - this.host.startedAt) / 1000),
      workers: info.workers.filter((w) => w.state !== "gone").length,
      executors: info.workers.reduce((n, w) => n + w.executors.length, 0),
      nats,
    };
  }
}
