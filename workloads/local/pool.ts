/**
 * The `"local"` backend: a pool of child processes on this machine (no NATS), joblib's loky in
 * spirit. Functions travel as they do to the cluster (by source, or as bundled modules), so code
 * that runs here runs on the cluster unchanged.
 */
import { fork, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { toFnDef } from "../../runtime/shipping/index.ts";
import type { BatchOutput, BatchPayload } from "../run-rows.ts";
import type { Backend, BatchHandle, PreparedFn } from "../backends/types.ts";
import { Errors } from "../../runtime/errors.ts";
import { ownCodeExecArgv, ownModule } from "../../runtime/self.ts";
import type { FromChild, ToChild } from "./protocol.ts";

const CHILD = ownModule(import.meta.url, "./child.ts");

/** Options of {@link LocalPool.start}. */
export interface LocalPoolOptions {
  /** Processes: a positive number, or joblib's negatives (-1: one per core, -2: all but one…). Default -1. */
  nJobs?: number;
  /** Extra Node flags for the children (e.g. `--max-old-space-size=512`). */
  execArgv?: string[];
}

interface LocalFn extends PreparedFn {
  readonly id: number;
  readonly msg: Extract<ToChild, { t: "fn" }>;
}

interface Job {
  id: number;
  fn: LocalFn;
  payload: BatchPayload;
  refs: number[];
  resolve(out: BatchOutput): void;
  reject(e: Error): void;
  cancelled: boolean;
}

interface Worker {
  index: number;
  proc: ChildProcess;
  ready: Promise<void>;
  job?: Job;
  fns: Set<number>;
  data: Set<number>;
  /** Batches finished since it started (a child that dies before finishing any counts as a failed start). */
  finished: number;
  /** Said "ready": its message listener is in place. */
  isReady: boolean;
}

/** Resolves joblib's `n_jobs` (-1 = every core, -2 = all but one, …; 0 is refused) for this machine. */
export function resolveNJobs(nJobs: number | undefined, cores = availableParallelism()): number {
  const n = nJobs ?? -1;
  if (!Number.isInteger(n) || n === 0) throw Errors.BadOption("nJobs", n, "a non-zero integer (-1: one per core)");
  return n > 0 ? n : Math.max(1, cores + 1 + n);
}

/**
 * A pool of `nJobs` child processes running batches, one at a time each, from one queue (a free
 * process takes the next batch, so load balances itself). A child that dies fails its batch
 * (`WorkerDied`) and is replaced. Idle children do not keep the parent alive; still, call
 * {@link close} when done.
 *
 * @example
 * const pool = await LocalPool.start({ nJobs: 4 });
 * try { await parallel({ backend: pool }, items); } finally { await pool.close(); }
 */
export class LocalPool implements Backend {
  readonly name = "local";
  private readonly workersList: Worker[] = [];
  private readonly queue: Job[] = [];
  private readonly fnIds = new WeakMap<Function, LocalFn>();
  private readonly dataIds = new Map<number, unknown>();
  private nextId = 1;
  private closed = false;
  private failedStarts = 0;
  private readonly dir: string;

  private constructor(
    readonly size: number,
    private readonly execArgv: string[],
  ) {
    this.dir = mkdtempSync(join(tmpdir(), "ts-dask-local-"));
  }

  /** Starts the processes and waits until each is ready (~0.3 s: Node and the TypeScript loader). */
  static async start(opts: LocalPoolOptions = {}): Promise<LocalPool> {
    const pool = new LocalPool(resolveNJobs(opts.nJobs), opts.execArgv ?? []);
    for (let i = 0; i < pool.size; i++) pool.workersList.push(pool.spawn(i));
    try {
      await Promise.all(pool.workersList.map((w) => w.ready));
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  /** See {@link Backend.workers}. */
  async workers(): Promise<number> {
    return this.size;
  }

  /** See {@link Backend.prepare}. */
  async prepare(fn: Function): Promise<LocalFn> {
    let f = this.fnIds.get(fn);
    if (!f) {
      const { fn: def, module } = toFnDef(fn); // same rules as the cluster: throws for closures
      const id = this.nextId++;
      f = { id, name: fn.name || "lambda", msg: { t: "fn", id, def, module } };
      this.fnIds.set(fn, f);
    }
    return f;
  }

  /** See {@link Backend.scatter}. */
  async scatter(value: unknown): Promise<unknown> {
    const id = this.nextId++;
    this.dataIds.set(id, value);
    return id;
  }

  /** See {@link Backend.release}. */
  release(tokens: readonly unknown[]): void {
    const ids = tokens.filter((t): t is number => typeof t === "number" && this.dataIds.delete(t));
    if (!ids.length) return;
    for (const w of this.workersList) {
      const held = ids.filter((id) => w.data.delete(id));
      if (held.length && w.proc.connected) {
        try {
          w.proc.send({ t: "drop", ids: held } satisfies ToChild);
        } catch {
          /* the child is going away anyway */
        }
      }
    }
  }

  /** See {@link Backend.run}. */
  run(fn: PreparedFn, payload: BatchPayload, refs: readonly unknown[]): BatchHandle {
    let job!: Job;
    const result = new Promise<BatchOutput>((resolve, reject) => {
      job = { id: this.nextId++, fn: fn as LocalFn, payload, refs: refs as number[], resolve, reject, cancelled: false };
    });
    if (this.closed) job.reject(Errors.PoolClosed());
    else if (refs.some((r) => typeof r !== "number" || !this.dataIds.has(r))) {
      job.reject(Errors.BadOption("argument", "a DataRef", "a value: a DataRef points into a cluster, which local processes cannot reach"));
    } else {
      this.queue.push(job);
      this.pump();
    }
    return {
      result,
      cancel: () => {
        if (job.cancelled) return;
        job.cancelled = true;
        const i = this.queue.indexOf(job);
        if (i >= 0) this.queue.splice(i, 1);
        job.reject(Errors.BatchCancelled());
      },
    };
  }

  /** Stops every child (they exit when their IPC channel closes) and removes the pool's files. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const j of this.queue.splice(0)) j.reject(Errors.PoolClosed());
    await Promise.all(
      this.workersList.map(async (w) => {
        const exited = new Promise<void>((r) => (w.proc.exitCode !== null || w.proc.signalCode !== null ? r() : w.proc.once("exit", () => r())));
        if (w.proc.connected) w.proc.disconnect();
        const timer = setTimeout(() => w.proc.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }

  private spawn(index: number): Worker {
    const proc = fork(CHILD, [], {
      execArgv: [...ownCodeExecArgv(), "--enable-source-maps", ...this.execArgv],
      serialization: "advanced",
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      env: { ...process.env, TSDASK_WORKER_NAME: `local-${index}`, TSDASK_LOCAL_DIR: this.dir },
    });
    let readyResolve!: () => void;
    let readyReject!: (e: Error) => void;
    const w: Worker = {
      index,
      proc,
      ready: new Promise<void>((res, rej) => ((readyResolve = res), (readyReject = rej))),
      fns: new Set(),
      data: new Set(),
      finished: 0,
      isReady: false,
    };
    w.ready.catch(() => {});
    proc.on("message", (m: FromChild) => {
      if (m.t === "ready") {
        w.isReady = true;
        readyResolve();
        this.idle(w);
        this.pump();
      } else if (m.t === "done" || m.t === "fail") {
        const job = w.job;
        w.job = undefined;
        w.finished++;
        this.failedStarts = 0;
        if (job && job.id === m.id && !job.cancelled) {
          if (m.t === "done") job.resolve(m.out);
          else job.reject(Errors.BatchFailed(`local-${index}`, m.name, m.message, m.stack));
        }
        this.idle(w);
        this.pump();
      }
    });
    proc.once("error", (e) => readyReject(e));
    proc.once("exit", (code, signal) => {
      readyReject(Errors.LocalWorkerDied(`local-${index}`, code, signal));
      const job = w.job;
      w.job = undefined;
      if (job && !job.cancelled) job.reject(Errors.LocalWorkerDied(`local-${index}`, code, signal));
      if (this.closed) return;
      if (w.finished === 0 && ++this.failedStarts > 3 * this.size) {
        // Children die before doing anything: fail what waits instead of respawning forever.
        for (const j of this.queue.splice(0)) j.reject(Errors.LocalWorkerDied(`local-${index}`, code, signal));
        return;
      }
      const k = this.workersList.indexOf(w);
      if (k >= 0) this.workersList[k] = this.spawn(index);
    });
    return w;
  }

  /** An idle child does not keep the parent process alive. */
  private idle(w: Worker) {
    w.proc.unref();
    (w.proc.channel as { unref?: () => void } | undefined)?.unref?.();
  }

  private busy(w: Worker) {
    w.proc.ref();
    (w.proc.channel as { ref?: () => void } | undefined)?.ref?.();
  }

  private pump() {
    for (const w of this.workersList) {
      if (!this.queue.length) return;
      if (w.job || !w.isReady || !w.proc.connected || w.proc.exitCode !== null) continue;
      const job = this.queue.shift()!;
      w.job = job;
      this.busy(w);
      try {
        if (!w.fns.has(job.fn.id)) {
          w.proc.send(job.fn.msg);
          w.fns.add(job.fn.id);
        }
        for (const id of job.refs) {
          if (!w.data.has(id)) {
            w.proc.send({ t: "data", id, value: this.dataIds.get(id) } satisfies ToChild);
            w.data.add(id);
          }
        }
        w.proc.send({ t: "run", id: job.id, fn: job.fn.id, p: job.payload, refs: job.refs } satisfies ToChild);
      } catch (e) {
        w.job = undefined;
        this.idle(w);
        job.reject(Errors.NotSerializable("An argument for a local process", (e as Error).message));
      }
    }
  }
}
