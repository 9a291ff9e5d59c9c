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
 */
import { hostname } from "node:os";
import type {
  ClusterEvent,
  ClusterInfo,
  Done,
  ExecutorInfo,
  FnDef,
  Heartbeat,
  RegisterWorker,
  Subjects,
  Submit,
  WorkerInfo,
} from "../../../runtime/protocol.ts";
import type { Transport } from "../../../runtime/transport.ts";
import type { Logger } from "../../../runtime/actor.ts";
import type { ExecutorRec, ExecutorTable } from "../executors.ts";
import { DURATION_BUCKETS, workerRows, type HistoryPoint, type JobView, type Snapshot, type WorkerRow } from "./dashboard/views.ts";
import { SchedulerMetrics } from "./metrics.ts";
import { fnLabel } from "./fn-label.ts";
import { TaskStream } from "./task-stream.ts";
import type { TaskTable } from "../tasks.ts";

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

interface JobRec {
  key: string;
  client: string;
  job: number;
  fn: string;
  name: string;
  kind: "map" | "submit";
  total: number;
  received: number;
  /** Rows of chunks known finished. */
  doneRows: number;
  /** Chunks not finished yet: [chunk id, rows]. */
  chunks: [number, number][];
  errors: number;
  startedAt: number;
  finishedAt?: number;
  lastActive: number;
  rate: number;
  lastDone: number;
  lastRateAt: number;
  /** Rows were re-submitted after a reconnect: `total` may never be reached here, finish on idle. */
  resynced?: boolean;
}

interface ExecExtra {
  cpu: number;
  paused: boolean;
  bytesIn: number;
  bytesOut: number;
}

interface WorkerExtra {
  done: number;
  restarts: number;
  memoryRestarts: number;
  died: boolean;
}

/** Functions are named by this many characters of their hash in snapshots (stream entries, fns). */
const FN_ID = 16;
const MAX_EVENTS = 200;
const KEEP_FINISHED_JOBS = 20;


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
  /** Ids of pooled single-submit jobs. */
  private nextPooledJob = 1;
  private readonly history: HistoryPoint[] = [];
  private lastCompleted = 0;
  private lastFailed = 0;
  private readonly jobs = new Map<string, JobRec>();
  /** Chunk id → its job, while the chunk has unfinished rows. */
  private readonly chunkJob = new Map<number, JobRec>();
  /** Pooled single submits: (client, fn) → the open job. */
  private readonly pooled = new Map<string, JobRec>();
  private readonly execExtra = new Map<string, ExecExtra>();
  /** NATS bytes of executors that are gone, so totals never go down. */
  private goneBytesIn = 0;
  private goneBytesOut = 0;
  private readonly workerExtra = new Map<string, WorkerExtra>();
  private readonly departed = new Map<string, { info: WorkerInfo; at: number }>();
  private readonly recentEvents: (ClusterEvent & { t: number })[] = [];
  /** Tasks the scheduler failed since the last flush, per job and error code (aggregated into events). */
  private schedFailed = new Map<string, { job: JobRec | undefined; code: string; message: string; worker: string; count: number }>();
  private timer: NodeJS.Timeout | undefined;
  /** When the once-a-second housekeeping runs next (history, dead workers, expiry). */
  private nextHousekeeping = 0;
  /** Jobs not finished at the last tick: while there are some, the tick runs every 250 ms. */
  private activeJobs = 0;
  readonly streamMs: number;
  private readonly historyS: number;
  private readonly keepGoneMs: number;

  constructor(
    private readonly host: MonitorHost,
    private readonly opts: MonitorOptions,
  ) {
    this.streamMs = opts.streamMs ?? 60_000;
    this.historyS = opts.historyS ?? 600;
    this.keepGoneMs = opts.keepGoneMs ?? 600_000;
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

  private arm(ms: number): void {
    this.timer = setTimeout(() => {
      this.tick();
      this.arm(this.activeJobs > 0 || this.schedFailed.size ? 250 : Math.max(1, Math.min(1000, this.nextHousekeeping - Date.now())));
    }, ms);
    this.timer.unref();
  }

  /** Work arrived while idle: back to the 250 ms tick at once. */
  private wake(): void {
    if (!this.timer || this.activeJobs > 0) return;
    this.activeJobs = 1; // until the next tick counts them
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
    const now = Date.now();
    for (let i = 0; i < m.groups.length; i++) {
      const g = m.groups[i]!;
      const s = slots[i];
      if (!s || s.length === 0) continue;
      const chunkCol = this.host.tasks.chunk;
      // A re-submit after a reconnect (`resync`) mixes rows held already with new ones: count only
      // the rows of chunks not tracked yet (rare, so the per-row walk is fine).
      const fresh = new Map<number, number>();
      if (m.resync) {
        for (let r = 0; r < s.length; r++) {
          const c = chunkCol[s[r]!]!;
          if (!this.chunkJob.has(c)) fresh.set(c, (fresh.get(c) ?? 0) + 1);
        }
      } else fresh.set(chunkCol[s[0]!]!, s.length);
      if (fresh.size === 0) continue;
      const job = this.jobFor(m.client, g.fn, typeof g.job === "number" ? g.job : undefined, typeof g.total === "number" ? g.total : 0, s.length, now);
      if (m.resync) job.resynced = true;
      for (const [chunk, rows] of fresh) {
        job.received += rows;
        job.chunks.push([chunk, rows]);
        this.chunkJob.set(chunk, job);
      }
      if (job.kind === "submit") job.total = job.received;
      job.lastActive = now;
    }
  }

  private jobFor(client: string, fn: string, id: number | undefined, total: number, rows: number, now: number): JobRec {
    const asMap = id !== undefined && total > 1;
    const key = asMap ? `${client}:${id}` : `${client}:submit:${fn}`;
    let j = asMap ? this.jobs.get(key) : this.pooled.get(key);
    if (j && j.finishedAt === undefined) return j;
    const name = fnLabel(this.opts.fnDef(fn), fn);
    const jobId = asMap ? id! : this.nextPooledJob++;
    j = {
      key: asMap ? key : `${key}:${jobId}`,
      client,
      job: jobId,
      fn,
      name,
      kind: asMap ? "map" : "submit",
      total: asMap ? total : 0,
      received: 0,
      doneRows: 0,
      chunks: [],
      errors: 0,
      startedAt: now,
      lastActive: now,
      rate: 0,
      lastDone: 0,
      lastRateAt: now,
    };
    this.jobs.set(j.key, j);
    if (!asMap) this.pooled.set(key, j);
    this.emit({ type: "job-started", client, job: j.job, name, kind: j.kind, total: asMap ? total : rows });
    return j;
  }

  /** One `sched.done` from `rec`, of which `finished` completions were expected. */
  done(rec: ExecutorRec, m: Done, finished: number): void {
    const now = Date.now();
    this.completed += finished;
    const nFailed = Number.isFinite(m.failed) ? Math.min(m.failed, finished) : 0;
    this.failed += nFailed;
    const w = this.worker(rec.worker);
    w.done += finished;
    // Errors: which jobs and functions they belong to (only failed slots are looked at).
    let errByFn: Map<string, number> | undefined;
    const fs = m.failedSlots;
    if (fs instanceof Uint32Array && fs.length) {
      errByFn = new Map();
      const byJob = new Map<JobRec, number>();
      const chunkCol = this.host.tasks.chunk;
      for (let i = 0; i < fs.length; i++) {
        const s = fs[i]!;
        const job = s < chunkCol.length ? this.chunkJob.get(chunkCol[s]!) : undefined;
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
    let open = 0;
    for (const j of this.jobs.values()) if (j.finishedAt === undefined) open++;
    // Finished jobs are kept for the dashboard, the newest KEEP_FINISHED_JOBS only: not counted.
    return { jobs: open, chunkJobs: this.chunkJob.size, pooled: this.pooled.size, perFn: this.perFn.size, failed: this.schedFailed.size };
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
    if (m.kind === "worker") return;
    let x = this.execExtra.get(m.id);
    if (!x) this.execExtra.set(m.id, (x = { cpu: 0, paused: false, bytesIn: 0, bytesOut: 0 }));
    if (typeof m.cpu === "number" && Number.isFinite(m.cpu)) x.cpu = m.cpu;
    x.paused = m.paused === true;
    if (typeof m.bytesIn === "number") x.bytesIn = m.bytesIn;
    if (typeof m.bytesOut === "number") x.bytesOut = m.bytesOut;
  }

  /** A worker registered (publishes `worker-joined`). */
  workerJoined(reg: RegisterWorker): void {
    for (const [k, d] of this.departed) if (d.info.name === reg.name) this.departed.delete(k);
    this.worker(reg.instance).died = false;
    this.emit({ type: "worker-joined", name: reg.name, host: reg.host, nprocs: reg.nprocs, nthreads: reg.nthreads, memoryLimit: reg.memoryLimit });
  }

  /** A worker said goodbye (call before it is removed from the table): `worker-left`, and a log line. */
  workerLeaving(instance: string, reason: string): void {
    const info = this.host.executors.info().find((w) => w.instance === instance);
    if (!info) return;
    this.opts.log?.info(`worker ${info.name} left: ${reason}`);
    this.departed.set(instance, { info: { ...info, state: "gone", executors: [], done: this.worker(instance).done, restarts: this.worker(instance).restarts }, at: Date.now() });
    this.emit({ type: "worker-left", name: info.name, reason });
  }

  /** An executor is gone (bye, crash, silence); `requeued` of its tasks went back to the queue. */
  executorGone(rec: ExecutorRec, reason: string, requeued: number): void {
    const x = this.execExtra.get(rec.id);
    if (x) {
      this.goneBytesIn += x.bytesIn;
      this.goneBytesOut += x.bytesOut;
      this.execExtra.delete(rec.id);
    }
    this.stream.forget(rec.name);
    this.retried += requeued;
    const w = this.worker(rec.worker);
    const memory = /memory/i.test(reason);
    // The supervisor reports a process that died and is being restarted (executor-process.ts).
    const restarted = memory || /^(was killed|exited with|was lost|stopped: a task ran past)/.test(reason);
    if (restarted) {
      this.restarts++;
      w.restarts++;
      if (memory) {
        this.memoryRestarts++;
        w.memoryRestarts++;
      }
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
    const chunkCol = this.host.tasks.chunk;
    const job = s < chunkCol.length ? this.chunkJob.get(chunkCol[s]!) : undefined;
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

  private worker(instance: string): WorkerExtra {
    let w = this.workerExtra.get(instance);
    if (!w) this.workerExtra.set(instance, (w = { done: 0, restarts: 0, memoryRestarts: 0, died: false }));
    return w;
  }

  // --- housekeeping ---------------------------------------------------------------------------

  private tick(): void {
    const now = Date.now();
    if (this.schedFailed.size) this.flushSchedFailed();
    this.updateJobs(now);
    if (now < this.nextHousekeeping) return;
    this.nextHousekeeping = now + 1000;
    // Once a second: history, dead workers, expiry.
    const execs = this.liveExecutors();
    let cpu = 0;
    let mem = 0;
    let limit = 0;
    for (const { e, w } of execs) {
      cpu += this.execExtra.get(e.id)?.cpu ?? 0;
      mem += e.rss;
      limit += w.memoryLimit;
    }
    const done = this.completed - this.lastCompleted;
    const failed = this.failed - this.lastFailed;
    this.lastCompleted = this.completed;
    this.lastFailed = this.failed;
    this.history.push([Math.floor(now / 1000), done, failed, execs.length ? cpu / execs.length : 0, mem, limit]);
    if (this.history.length > this.historyS) this.history.splice(0, this.history.length - this.historyS);
    // Worker deaths are judged on the scheduler's beat (checkWorkers), after a stall's backlog is read.
    for (const [k, d] of this.departed) if (now - d.at > this.keepGoneMs) this.departed.delete(k);
    this.stream.prune(now - this.streamMs);
  }

  /**
   * Workers silent past the dead window, as the executor table judges them
   * (ExecutorTable.workerSilentPastDead): `worker-died` (once), and kept as gone. The scheduler
   * calls this with the `now` of its table's sweep (ExecutorTable.sweepWorkers), just before it.
   */
  checkWorkers(now = Date.now()): void {
    const table = this.host.executors;
    for (const w of table.info()) {
      const x = this.worker(w.instance);
      const silent = table.workerSilentMs(w.instance, now);
      const dead = table.workerSilentPastDead(w.instance, now);
      if (!x.died && dead) {
        x.died = true;
        this.departed.set(w.instance, { info: { ...w, state: "gone", executors: [], done: x.done, restarts: x.restarts }, at: now });
        this.emit({ type: "worker-died", name: w.name, host: w.host, silentMs: silent });
        this.opts.log?.warn(`worker ${w.name} (${w.host}) died: silent for ${(silent / 1000).toFixed(1)} s`);
      } else if (x.died && !dead) {
        x.died = false;
        this.departed.delete(w.instance);
      }
    }
  }

  private liveExecutors(): { e: ExecutorInfo; w: WorkerInfo }[] {
    const out: { e: ExecutorInfo; w: WorkerInfo }[] = [];
    for (const w of this.host.executors.info()) for (const e of w.executors) out.push({ e, w });
    return out;
  }

  /** Job progress from the task table's chunks: a chunk gone from the table is finished. */
  private updateJobs(now: number): void {
    const chunks = this.host.tasks.chunks;
    let finished = 0;
    for (const j of this.jobs.values()) {
      if (j.finishedAt !== undefined) {
        finished++;
        continue;
      }
      let w = 0;
      for (const c of j.chunks) {
        if (chunks.has(c[0])) j.chunks[w++] = c;
        else {
          j.doneRows += c[1];
          this.chunkJob.delete(c[0]);
        }
      }
      j.chunks.length = w;
      const done = this.jobDone(j);
      const dt = (now - j.lastRateAt) / 1000;
      if (dt >= 0.9) {
        const r = (done - j.lastDone) / dt;
        j.rate = j.lastDone === 0 && j.rate === 0 ? r : 0.5 * j.rate + 0.5 * r;
        j.lastDone = done;
        j.lastRateAt = now;
      }
      const complete = j.resynced ? j.chunks.length === 0 && now - j.lastActive > 1000 : done > 0 && done >= j.total && j.received >= j.total;
      if (complete) {
        j.finishedAt = now;
        finished++;
        if (j.kind === "submit") this.pooled.delete(`${j.client}:submit:${j.fn}`);
        this.emit({ type: "job-finished", client: j.client, job: j.job, name: j.name, kind: j.kind, total: j.total, errors: j.errors, ms: now - j.startedAt });
      }
    }
    this.activeJobs = this.jobs.size - finished;
    if (finished > KEEP_FINISHED_JOBS) {
      const old = [...this.jobs.values()].filter((j) => j.finishedAt !== undefined).sort((a, b) => a.finishedAt! - b.finishedAt!);
      for (const j of old.slice(0, old.length - KEEP_FINISHED_JOBS)) this.jobs.delete(j.key);
    }
  }

  private jobDone(j: JobRec): number {
    let done = j.doneRows;
    const chunks = this.host.tasks.chunks;
    for (const [id, rows] of j.chunks) {
      const c = chunks.get(id);
      done += c ? rows - c.remaining : rows;
    }
    return done;
  }

  // --- readers --------------------------------------------------------------------------------

  /** `sched.info`'s workers with states (running / paused / restarting / gone), CPU and totals. */
  workerInfo(workers: WorkerInfo[]): WorkerInfo[] {
    const now = Date.now();
    this.present = new Set(workers.map((w) => w.instance));
    for (const w of workers) {
      const x = this.worker(w.instance);
      let paused = w.executors.length > 0;
      for (const e of w.executors) {
        const ex = this.execExtra.get(e.id);
        e.cpu = ex?.cpu ?? 0;
        e.paused = ex?.paused ?? false;
        if (!e.paused) paused = false;
        if (e.paused) e.state = "paused";
      }
      w.done = x.done;
      w.restarts = x.restarts;
      if (this.host.executors.workerSilentPastDead(w.instance, now)) w.state = "gone";
      else if (w.executors.length === 0 && x.restarts === 0) w.state = "starting";
      else if (w.nprocs > 0 && w.executors.filter((e) => e.state === "running" || e.state === "paused").length < w.nprocs) w.state = "restarting";
      else if (paused) w.state = "paused";
      else w.state = "running";
    }
    return workers;
  }

  /** Instances listed by the last {@link workerInfo} (so a departed one is not listed twice). */
  private present = new Set<string>();

  /** Workers that left or died recently and are no longer in the table (state "gone"). */
  departedWorkers(): WorkerInfo[] {
    return [...this.departed].filter(([instance]) => !this.present.has(instance)).map(([, d]) => d.info);
  }

  /** The worker table, as the dashboard and `ts-dask info` show it. */
  bytes(): { in: number; out: number; schedulerIn: number; schedulerOut: number; executorsIn: number; executorsOut: number } {
    const s = this.host.tx.stats();
    let ein = this.goneBytesIn;
    let eout = this.goneBytesOut;
    for (const x of this.execExtra.values()) (ein += x.bytesIn), (eout += x.bytesOut);
    return { in: s.inBytes + ein, out: s.outBytes + eout, schedulerIn: s.inBytes, schedulerOut: s.outBytes, executorsIn: ein, executorsOut: eout };
  }

  jobViews(): JobView[] {
    const out: JobView[] = [];
    for (const j of this.jobs.values()) {
      const done = j.finishedAt !== undefined ? j.total : Math.min(j.total || Infinity, this.jobDone(j));
      const rate = j.finishedAt !== undefined ? (j.total / Math.max(0.001, (j.finishedAt - j.startedAt) / 1000)) : j.rate;
      const left = j.total - done;
      out.push({
        key: j.key,
        client: j.client,
        job: j.job,
        name: j.name,
        kind: j.kind,
        total: j.total,
        done,
        errors: j.errors,
        state: j.finishedAt !== undefined ? "finished" : "running",
        startedAt: j.startedAt,
        ...(j.finishedAt !== undefined ? { finishedAt: j.finishedAt } : {}),
        rate,
        ...(j.finishedAt === undefined && rate > 0 ? { eta: left / rate } : j.finishedAt !== undefined ? { eta: 0 } : {}),
      });
    }
    // Running first (oldest first), then finished (newest first).
    return out.sort((a, b) => (a.state !== b.state ? (a.state === "running" ? -1 : 1) : a.state === "running" ? a.startedAt - b.startedAt : b.finishedAt! - a.finishedAt!));
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
