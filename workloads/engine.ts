/**
 * The dispatcher under parallel(), best() and gridSearchCV(): pulls calls from a (lazy, possibly
 * async) source in batches, keeps a bounded number of batches in flight (pre-dispatch), sizes
 * batches automatically, scatters shared data, and hands back finished batches in completion order
 * or in input order (with a bounded reorder window). Memory is bounded by the window, not by the
 * input: a generator of 10^6 candidates is never held whole.
 */
import { toFnDef } from "../runtime/shipping/index.ts";
import { ArgPacker } from "./args.ts";
import { AutoBatcher, nextBatchSize, TARGET_BATCH_MS } from "./batch-size.ts";
import type { Backend, BatchHandle, PreparedFn } from "./backends/types.ts";
import { isDelayed, type Delayed } from "./delayed.ts";
import { Errors } from "../runtime/errors.ts";
import { outError, type OutputStream } from "../client/outputs.ts";
import type { DurableOptions } from "../client/options.ts";
import type { OutError } from "../runtime/protocol.ts";
import { Progress, type ProgressOptions } from "./progress.ts";
import type { BatchOutput } from "./run-rows.ts";
import { estimateSize } from "./size.ts";

/** How calls are batched and dispatched (the joblib knobs). */
export interface DispatchOptions extends ProgressOptions {
  /**
   * Concurrency: -1 (default) every worker of the backend; a positive number caps it. For
   * `backend: "local"` it is also the number of processes (joblib's negatives: -2 = all cores but one).
   */
  nJobs?: number;
  /** Calls per task: `"auto"` (default; about {@link TARGET_BATCH_MS} ms of work each) or a number. */
  batchSize?: "auto" | number;
  /**
   * Batches in flight at once (dispatched, not finished): a number, or joblib's expressions
   * `"2*n_jobs"` (default), `"n_jobs"`, `"3*n_jobs"`. This is also how far a lazy input is read ahead.
   */
  preDispatch?: string | number;
  /** Values to send once per worker instead of with each batch (arguments `===` one of them are replaced by a reference). */
  scatter?: readonly unknown[];
  /** Scatter large (> ~1 kB) arguments shared by several calls automatically (default true). */
  autoScatter?: boolean;
  /** Target duration of one batch with `batchSize: "auto"`, in ms (default {@link TARGET_BATCH_MS}). */
  targetBatchMs?: number;
  /** The number of calls, when the input is lazy but its length known (for progress and the tail). */
  total?: number;
  /**
   * A named output (cluster backend only): every call's outcome is also published, batch by
   * batch, on `tsdask.<cluster>.out.<publish>` for any NATS client (docs/subjects.md): its input
   * index, value or error. Letters, digits, `_` and `-` (else `BadOutputName`).
   */
  publish?: string;
  /** With `publish`: also store the rows in a JetStream stream (see the client's `durable` option). */
  durable?: boolean | DurableOptions;
}

/** A finished batch. */
export interface DoneBatch {
  /** Position of the batch in dispatch (= input) order. */
  seq: number;
  /** Name of the function the batch ran. */
  fnName: string;
  /** Input positions of its calls. */
  indices: number[];
  /** Its calls (for callers that need the arguments back, e.g. best() keeps the candidate). */
  calls: Delayed[];
  /** Per-call values and errors, when the batch ran. */
  out?: BatchOutput;
  /** Why the whole batch failed (then every call of it failed with this). */
  error?: Error;
}

/** Counters of a run (for tests and benchmarks). */
export interface EngineStats {
  batches: number;
  calls: number;
  scattered: number;
  maxBatch: number;
  lastBatch: number;
  workers: number;
  preDispatch: number;
}

/** An (async) iterable of calls, or a function returning one (a generator function). */
export type CallSource<T = Delayed> = Iterable<T> | AsyncIterable<T> | (() => Iterable<T> | AsyncIterable<T>);

/** Internal knobs of {@link Engine} beyond {@link DispatchOptions}. */
export interface EngineOptions extends DispatchOptions {
  /** Yield batches in input order (with a bounded reorder window) instead of completion order. */
  ordered?: boolean;
  /** With `ordered`: at most this many batches dispatched or finished and not yet handed out (default 2 × preDispatch). */
  reorderWindow?: number;
  /** Input positions to skip (already done: a checkpoint). */
  skip?: (index: number) => boolean;
  /** Progress reporter (default: one made from the options). */
  progressReporter?: Progress;
}

const MAX_BATCH_BYTES = 512 * 1024;
/** Work (ms per worker) the default pre-dispatch keeps in flight when batches are short. */
const IN_FLIGHT_MS = 200;
/** Most batches in flight with the default pre-dispatch. */
const MAX_IN_FLIGHT = 10_000;
/**
 * Most calls dispatched and not yet handed to the consumer (in flight, or finished and waiting in
 * the reorder buffer), per worker: the bound on the client's memory for a lazy input, whatever its
 * length (measured by bench/streaming-memory: 10^6 calls peak within ~20 MB of 10^5). Automatic
 * batches are capped so that pre-dispatch fits in it; only functions faster than ~0.1 ms per call
 * feel it (their batches are shorter than the 250 ms target).
 */
const CALLS_AHEAD_PER_WORKER = 2_500;

/** Parses joblib's `pre_dispatch` (`"2*n_jobs"`, `"n_jobs"`, a number). */
export function parsePreDispatch(v: string | number | undefined, nJobs: number): number {
  if (v === undefined) return 2 * nJobs;
  if (typeof v === "number") {
    if (!(v >= 1) || !Number.isFinite(v)) throw Errors.BadOption("preDispatch", v, "a number ≥ 1 or an expression like \"2*n_jobs\"");
    return Math.floor(v);
  }
  const m = /^\s*(?:(\d+(?:\.\d+)?)\s*\*\s*)?n_jobs\s*(?:\*\s*(\d+(?:\.\d+)?))?\s*$/.exec(v);
  if (m) return Math.max(1, Math.round(Number(m[1] ?? 1) * Number(m[2] ?? 1) * nJobs));
  if (/^\s*\d+\s*$/.test(v)) return Math.max(1, Number(v));
  throw Errors.BadOption("preDispatch", v, "a number ≥ 1 or an expression like \"2*n_jobs\"");
}

/** Iterates a {@link CallSource}: sync sources without an await per item. */
function iteratorOf<T>(src: CallSource<T>): Iterator<T> | AsyncIterator<T> {
  const s = typeof src === "function" ? src() : src;
  if (s && typeof (s as AsyncIterable<T>)[Symbol.asyncIterator] === "function") return (s as AsyncIterable<T>)[Symbol.asyncIterator]();
  if (s && typeof (s as Iterable<T>)[Symbol.iterator] === "function") return (s as Iterable<T>)[Symbol.iterator]();
  throw Errors.BadOption("input", s, "an array, an iterable, an async iterable or a generator function");
}

/** The length of a source when it is an array-like (known without consuming it). */
export function knownLength(src: CallSource<unknown>): number | undefined {
  return Array.isArray(src) ? src.length : undefined;
}

/** One run: a source of calls dispatched on a backend. Use {@link Engine.run} once. */
export class Engine {
  readonly stats: EngineStats = { batches: 0, calls: 0, scattered: 0, maxBatch: 0, lastBatch: 0, workers: 0, preDispatch: 0 };
  readonly progress: Progress;
  private readonly it: Iterator<Delayed> | AsyncIterator<Delayed>;
  private readonly packer: ArgPacker;
  /** Measures call durations; sets the batch size with `batchSize: "auto"`. */
  private readonly sizer: AutoBatcher;
  private readonly fixedSize: number | undefined;
  /** Prepared functions by definition hash (fresh arrows of the same source share one). */
  private readonly prepared = new Map<string, Promise<PreparedFn>>();
  private readonly handles = new Set<BatchHandle>();
  private readonly ready: DoneBatch[] = [];
  private readonly reorder = new Map<number, DoneBatch>();
  private wake: (() => void) | undefined;
  private held: { call: Delayed; index: number; key: string } | undefined;
  private exhausted = false;
  private inFlight = 0;
  private seq = 0;
  private emitted = 0;
  private nextIndex = 0;
  private pulled = 0;
  private workers = 1;
  private maxInFlight = 2;
  private basePreDispatch = 2;
  private lastBatch = 1;
  /** Calls dispatched, and calls handed to the consumer. */
  private callsOut = 0;
  private callsTaken = 0;
  private perItemBytes = 0;
  private perResultBytes = 0;
  /** Where finished batches are published (`publish`). */
  private output: OutputStream | undefined;

  constructor(
    private readonly backend: Backend,
    source: CallSource,
    private readonly opts: EngineOptions = {},
  ) {
    this.it = iteratorOf(source);
    this.packer = new ArgPacker(backend, { scatter: opts.scatter, autoScatter: opts.autoScatter });
    const bs = opts.batchSize ?? "auto";
    this.sizer = new AutoBatcher({ targetMs: opts.targetBatchMs ?? TARGET_BATCH_MS });
    if (bs === "auto") this.fixedSize = undefined;
    else if (Number.isInteger(bs) && bs >= 1) this.fixedSize = bs;
    else throw Errors.BadOption("batchSize", bs, '"auto" or an integer ≥ 1');
    if (opts.nJobs !== undefined && (!Number.isInteger(opts.nJobs) || opts.nJobs === 0)) {
      throw Errors.BadOption("nJobs", opts.nJobs, "a non-zero integer (-1: every worker)");
    }
    this.progress = opts.progressReporter ?? new Progress(opts, opts.total);
  }

  /** The current automatic batch size (undefined with a fixed batchSize). */
  get autoBatchSize(): number | undefined {
    return this.fixedSize === undefined ? this.sizer.size : undefined;
  }

  /**
   * Runs everything, yielding finished batches (completion order, or input order with `ordered`).
   * Breaking out of the loop (or a throw) cancels the batches in flight.
   */
  async *run(): AsyncGenerator<DoneBatch> {
    let completed = false;
    try {
      const workers = await this.backend.workers();
      this.workers = this.opts.nJobs && this.opts.nJobs > 0 ? this.opts.nJobs : workers;
      this.maxInFlight = this.basePreDispatch = parsePreDispatch(this.opts.preDispatch, this.workers);
      this.stats.workers = this.workers;
      this.stats.preDispatch = this.maxInFlight;
      if (this.opts.publish !== undefined) {
        if (!this.backend.output) throw Errors.BadOption("publish", this.opts.publish, "the cluster backend (backend: \"cluster\" or a client): the local backend has no NATS to publish on");
        this.output = this.backend.output(this.opts.publish, this.opts.total ?? -1, this.opts.durable);
      }
      this.progress.start(this.backend.name, this.workers);
      await this.packer.start();
      for (;;) {
        await this.fill();
        const next = this.take();
        if (next) {
          yield next;
          continue;
        }
        if (this.inFlight === 0 && this.exhausted) break;
        await new Promise<void>((r) => (this.wake = r));
        this.wake = undefined;
      }
      completed = true;
      this.progress.finish();
    } finally {
      if (!completed) {
        this.progress.abort();
        for (const h of this.handles) h.cancel();
        this.handles.clear();
        try {
          const r = (this.it as { return?: () => unknown }).return?.();
          if (r instanceof Promise) r.catch(() => {});
        } catch {
          /* the source's own cleanup failed: nothing to add to the error at hand */
        }
      }
      this.stats.scattered = this.packer.scattered;
      // Batches may still run (cancelled ones): release only after a complete run, unless the backend
      // says a running batch keeps what it read (the cluster: a failed run's data would stay otherwise).
      if (completed || this.backend.releaseAnytime) this.backend.release?.(this.packer.allTokens);
    }
  }

  private take(): DoneBatch | undefined {
    let b: DoneBatch | undefined;
    if (!this.opts.ordered) b = this.ready.shift();
    else {
      b = this.reorder.get(this.emitted);
      if (!b) return undefined;
      this.reorder.delete(this.emitted);
      this.emitted++;
    }
    if (b) this.callsTaken += b.indices.length;
    return b;
  }

  /**
   * Batches allowed in flight. An explicit `preDispatch` is obeyed as given. The default,
   * "2*n_jobs", is raised when batches are so short (a small fixed `batchSize`) that two per worker
   * would leave the workers waiting on round trips: then enough batches for about
   * {@link IN_FLIGHT_MS} of work per worker (never more than {@link MAX_IN_FLIGHT}). With automatic
   * batches (~250 ms each) the two coincide.
   */
  private inFlightLimit(): number {
    if (this.opts.preDispatch !== undefined || this.fixedSize === undefined) return this.basePreDispatch;
    const itemMs = this.sizer.itemMs;
    let limit = this.basePreDispatch;
    if (itemMs !== undefined) limit = Math.max(limit, Math.min(MAX_IN_FLIGHT, Math.ceil((this.workers * IN_FLIGHT_MS) / (this.lastBatch * Math.max(itemMs, 1e-3)))));
    if (limit > this.maxInFlight) this.maxInFlight = this.stats.preDispatch = limit;
    return limit;
  }

  /** See {@link CALLS_AHEAD_PER_WORKER}. */
  private callsAhead(): number {
    return CALLS_AHEAD_PER_WORKER * this.workers;
  }

  /** True while another batch may be dispatched. */
  private room(): boolean {
    const limit = this.inFlightLimit();
    if (this.inFlight >= limit) return false;
    if (this.inFlight === 0) return true; // always make progress
    if (this.callsOut - this.callsTaken >= this.callsAhead()) return false;
    if (this.opts.ordered) {
      const window = this.opts.reorderWindow ?? 2 * limit;
      return this.seq - this.emitted < window;
    }
    return this.ready.length < limit; // the consumer is slow: do not run ahead of it
  }

  /** Dispatches batches while there is room and input. */
  private async fill(): Promise<void> {
    while (!this.exhausted && this.room()) {
      const size = this.nextSize();
      const got = await this.pull(size);
      if (!got) break;
      let prepared = this.prepared.get(got.key);
      if (!prepared) {
        prepared = this.backend.prepare(got.fn);
        this.prepared.set(got.key, prepared);
      }
      const fn = await prepared;
      await this.dispatch(fn, got.calls, got.indices);
    }
  }

  private nextSize(): number {
    if (this.fixedSize !== undefined) return this.fixedSize;
    const base = this.sizer.size;
    const total = this.opts.total;
    const maxItems = Math.floor(
      Math.min(
        this.perItemBytes > 0 ? MAX_BATCH_BYTES / this.perItemBytes : Infinity,
        this.perResultBytes > 0 ? MAX_BATCH_BYTES / this.perResultBytes : Infinity,
        this.callsAhead() / this.basePreDispatch,
      ),
    );
    return nextBatchSize(base, {
      remaining: total !== undefined ? Math.max(0, total - this.pulled) : undefined,
      workers: this.workers,
      maxItems: Number.isFinite(maxItems) ? Math.max(1, maxItems) : undefined,
    });
  }

  /**
   * Up to `max` calls of one function from the source (undefined when the source is exhausted).
   * "One function" means one definition: `delayed((x) => x + 1)` written in a loop makes a new
   * arrow per call, all with the same source, and they batch together.
   */
  private async pull(max: number): Promise<{ fn: Function; key: string; calls: Delayed[]; indices: number[] } | undefined> {
    const calls: Delayed[] = [];
    const indices: number[] = [];
    let fn: Function | undefined;
    let key = "";
    if (this.held) {
      calls.push(this.held.call);
      indices.push(this.held.index);
      fn = this.held.call.fn;
      key = this.held.key;
      this.held = undefined;
    }
    const skip = this.opts.skip;
    while (calls.length < max) {
      let r = this.it.next() as IteratorResult<Delayed> | Promise<IteratorResult<Delayed>>;
      if (r instanceof Promise) r = await r;
      if (r.done) {
        this.exhausted = true;
        break;
      }
      const index = this.nextIndex++;
      if (skip?.(index)) continue;
      const call = r.value;
      if (!isDelayed(call)) throw Errors.BadOption(`input item ${index}`, call, "a call made with delayed(fn)(...args)");
      if (call.fn !== fn) {
        const k = toFnDef(call.fn).fn.hash; // throws ClosureCaptured & co. for a function that cannot travel
        if (fn && k !== key) {
          this.held = { call, index, key: k };
          break;
        }
        fn = call.fn;
        key = k;
      }
      calls.push(call);
      indices.push(index);
    }
    this.pulled += calls.length;
    if (this.opts.total === undefined && this.exhausted && !this.held) {
      // An input of unknown length just ended: progress now knows the total.
      this.progress.setTotal(this.pulled);
    }
    if (!calls.length) return undefined;
    return { fn: fn!, key, calls, indices };
  }

  private async dispatch(fn: PreparedFn, calls: Delayed[], indices: number[]): Promise<void> {
    const packed = await this.packer.pack(calls.map((c) => c.args));
    if (packed.bytes > MAX_BATCH_BYTES && calls.length > 1) {
      // Too big for one message: split (and remember, so the next batches are smaller).
      this.perItemBytes = Math.max(this.perItemBytes, packed.bytes / calls.length);
      const h = calls.length >> 1;
      await this.dispatch(fn, calls.slice(0, h), indices.slice(0, h));
      await this.dispatch(fn, calls.slice(h), indices.slice(h));
      return;
    }
    this.perItemBytes = this.perItemBytes ? 0.5 * this.perItemBytes + 0.5 * (packed.bytes / calls.length) : packed.bytes / calls.length;
    const seq = this.seq++;
    this.callsOut += calls.length;
    const handle = this.backend.run(fn, packed.payload, packed.refs);
    this.inFlight++;
    this.handles.add(handle);
    this.stats.batches++;
    this.stats.lastBatch = this.lastBatch = calls.length;
    this.stats.maxBatch = Math.max(this.stats.maxBatch, calls.length);
    const done = (out: BatchOutput | undefined, error: Error | undefined) => {
      this.inFlight--;
      this.handles.delete(handle);
      const b: DoneBatch = { seq, fnName: fn.name, indices, calls, out, error };
      if (out) {
        // Large values only this batch's calls used: released now, not held to the end of the run.
        const spent = this.packer.finished(packed.refs);
        if (spent.length) this.backend.release?.(spent);
        this.sizer.observe(calls.length, out.ms);
        const rb = estimateSize(out.v, MAX_BATCH_BYTES) / calls.length;
        this.perResultBytes = this.perResultBytes ? 0.5 * this.perResultBytes + 0.5 * rb : rb;
      }
      this.stats.calls += calls.length;
      this.progress.add(calls.length);
      if (this.output) publishBatch(this.output, b);
      if (this.opts.ordered) this.reorder.set(seq, b);
      else this.ready.push(b);
      this.wake?.();
    };
    handle.result.then(
      (out) => done(out, undefined),
      (e: unknown) => done(undefined, e instanceof Error ? e : new Error(String(e))),
    );
  }
}

/** A finished batch's calls as rows of a named output (the same errors as the workload's ItemErrors). */
function publishBatch(output: OutputStream, b: DoneBatch): void {
  const values = new Array<unknown>(b.indices.length).fill(null);
  const errors: OutError[] = [];
  const errs = b.out?.e?.length ? new Map(b.out.e.map((e) => [e[0], e])) : undefined;
  b.indices.forEach((index, k) => {
    if (b.error) return errors.push(outError(k, Errors.ItemBatchFailed(index, b.fnName, b.error)));
    const e = errs?.get(k);
    if (e) errors.push(outError(k, Errors.ItemFailed(index, b.fnName, b.out!.w ?? "", e[1], e[2], e[3])));
    else values[k] = b.out!.v[k] ?? null;
  });
  output.publish(b.fnName, b.indices, values, errors);
}
