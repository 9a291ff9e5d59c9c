/**
 * The client's task layer: submit and map (arguments checked, deduplicated with `pure`/`key`, futures
 * as arguments), `with` (task options), gather / asCompleted / wait, cancel and flush. What is
 * submitted goes out through the Submitter (submitter.ts); results come back through client-session.ts.
 */
import { encode, Encoded, findUnencodable } from "../runtime/codec.ts";
import { Errors, TaskError } from "../runtime/errors.ts";
import { randomId } from "../runtime/ids.ts";
import type {
  FnDef,
  ModuleDef,
} from "../runtime/protocol.ts";
import { toFnDef } from "../runtime/shipping/index.ts";
import { type OutputStream } from "./outputs.ts";
import { Future } from "./future.ts";
import { ERROR, Job } from "./jobs.ts";
import { type Piece } from "./submitter.ts";
import { nameOf } from "./remote-run.ts";
import { asCompleted, wait } from "./waiting.ts";
import type { DurableOptions, MapOptions, ReturnWhen, TaskOptions } from "./options.ts";
import { LargeResult } from "./large-values.ts";
import { checkArgs, checkMap } from "./arg-shapes.ts";
import type { Args, Iterables, Result } from "./wire-types.ts";
import { explicitKey, planMap, pureKey } from "./dedup.ts";
import { ClientSession } from "./client-session.ts";

type AnyFn = (...args: any[]) => unknown;

export abstract class ClientTasks extends ClientSession {
  // --- submit / map ---------------------------------------------------------------------------

  /**
   * Runs `fn(...args)` on the cluster. `fn` is a self-contained function (it travels by source)
   * or an export of {@link importModule} (by reference).
   * @throws `ClosureCaptured` / `FunctionNotShippable` / `NotSerializable` before anything is sent.
   */
  submit<F extends AnyFn>(fn: F, ...args: Args<Parameters<F>>): Future<Result<F>> {
    this.assertOpen();
    const { fn: def, module } = toFnDef(fn);
    const values = args.map((a) => (a instanceof Future ? null : a));
    checkArgs(values, nameOf(def), this.warnedUndefined);
    // Each argument encoded once, here: checked, sized, hashed for `pure`, and sent as these bytes
    // (Piece.enc; a large one is stored apart from them, client/large-values.ts).
    let encoded: Uint8Array[];
    try {
      encoded = values.map((v) => encode(v));
    } catch (e) {
      throw Errors.NotSerializable(`An argument of ${def.kind === "src" ? def.name || "the function" : def.exportName}`, findUnencodable(args, "args") ?? (e as Error).message);
    }
    encoded.forEach((b, i) => {
      if (b.byteLength > this.maxValueBytes) throw Errors.ValueTooLarge(`Argument ${i + 1} of ${nameOf(def)}`, b.byteLength, this.maxValueBytes);
    });
    const o = this.defaults;
    let dk: string | undefined;
    if (o.pure || o.key !== undefined) {
      dk = o.key === undefined ? pureKey(def.hash, args, encoded) : explicitKey(typeof o.key === "function" ? String(o.key(...args)) : String(o.key));
      const hit = this.dedup.get(dk);
      if (hit) return new Future<Result<F>>(this, hit.job, hit.row);
    }
    const job = this.newJob(1, nameOf(def), o);
    if (dk) this.dedup.set(dk, job, 0);
    if (o.publish !== undefined) this.outputs.attach(job, o.publish);
    const piece = { job, fn: def, module, cols: args.map((a) => [a]), timeout: o.timeout, priority: o.priority, resources: o.resources };
    if (args.some((a) => a instanceof Future)) this.afterDependencies(job, piece, args as unknown[]);
    else this.launch(job, piece, encoded.map((b) => new Encoded(b)));
    return new Future<Result<F>>(this, job, 0);
  }

  /**
   * Applies `fn` to every item (or to items of several iterables in lockstep, as Dask's map).
   * Returns one Future per item, in input order. Items travel in batches; each is its own task.
   *
   * @example
   * const futures = client.map((x: number) => x * x, [1, 2, 3]);
   * await client.gather(futures); // [1, 4, 9]
   */
  // Typed so that what is passed matches what the function takes: one iterable per parameter, or
  // with `{ args }` the leading parameters from iterables and the rest from `args`.
  map<P extends unknown[], R>(fn: (...a: P) => R, ...iterables: Iterables<P>): Future<Result<(...a: P) => R>>[];
  map<P extends unknown[], A extends unknown[], R>(fn: (...a: [...P, ...A]) => R, ...rest: [...Iterables<P>, MapOptions & { args: Args<A> }]): Future<Result<(...a: P) => R>>[];
  map<P extends unknown[], R>(fn: (...a: P) => R, ...rest: [...Iterables<P>, MapOptions]): Future<Result<(...a: P) => R>>[];
  /** A function of no parameters, called once per item (the item is not passed). */
  map<R>(fn: () => R, items: ArrayLike<unknown> | Iterable<unknown>, opts?: MapOptions): Future<Result<() => R>>[];
  map<F extends AnyFn>(fn: F, ...iterables: (ArrayLike<unknown> | Iterable<unknown> | MapOptions | undefined)[]): Future<Result<F>>[] {
    this.assertOpen();
    let opts: MapOptions = {};
    const last = iterables[iterables.length - 1];
    if (last === undefined) iterables = iterables.slice(0, -1);
    else if (!isIterableLike(last)) {
      opts = last as MapOptions;
      iterables = iterables.slice(0, -1);
    }
    const cols = (iterables as (ArrayLike<unknown> | Iterable<unknown>)[]).map((it) => (isArrayLike(it) ? it : Array.from(it as Iterable<unknown>)));
    if (cols.length === 0) throw Errors.BadOption("map(fn, …iterables)", "no iterables", "at least one array or iterable of arguments");
    const n = Math.min(...cols.map((c) => c.length));
    const { fn: def, module } = toFnDef(fn);
    checkMap(cols, opts, nameOf(def), this.warnedUndefined);
    // The shared arguments encoded once, here (checked), and sent as these bytes in every message
    // of the call (Piece.consts); a large one is stored apart from them (client/large-values.ts).
    let consts: Encoded[] | undefined;
    if (opts.args?.length) {
      try {
        consts = opts.args.map((v) => new Encoded(encode(v)));
      } catch (e) {
        throw Errors.NotSerializable("map(…, { args })", findUnencodable(opts.args, "args") ?? (e as Error).message);
      }
    }
    if (opts.priority !== undefined && !Number.isFinite(opts.priority)) throw Errors.BadOption("priority", opts.priority, "a finite number (higher runs first)");
    checkResources(opts.resources);
    const o = { ...this.defaults, ...opts };
    if (o.publish !== undefined) {
      this.outputs.check(o.publish, o.durable);
      if (o.pure || o.key !== undefined) throw Errors.BadOption("map(…, { publish })", o.publish, "no publish together with pure or key (shared rows have no single index)");
    }
    if (o.pure || o.key !== undefined) return this.mapDeduplicated<Result<F>>(def, module, cols, n, consts, o);
    const job = this.newJob(n, nameOf(def), o);
    if (o.publish !== undefined) this.outputs.attach(job, o.publish);
    this.launch(job, { job, fn: def, module, cols, consts, timeout: o.timeout, priority: o.priority, resources: o.resources });
    const out = new Array<Future<Result<F>>>(n);
    for (let i = 0; i < n; i++) out[i] = new Future<Result<F>>(this, job, i);
    return out;
  }

  /** map() with `pure` or `key`: rows already alive (or repeated in this call) share one task. */
  protected mapDeduplicated<T>(def: FnDef, module: ModuleDef | undefined, cols: ArrayLike<unknown>[], n: number, consts: Encoded[] | undefined, o: MapOptions): Future<T>[] {
    const key = o.key;
    if (key !== undefined && typeof key !== "function") throw Errors.BadOption("map(…, { key })", key, "a function of the row's arguments returning a string");
    const rowArgs = (i: number) => cols.map((c) => c[i]);
    const keyOf = (i: number) => {
      if (key) return explicitKey(String(key(...rowArgs(i))));
      try {
        const args = rowArgs(i);
        // The shared arguments' bytes as encoded once by map(), not encoded again per row.
        return pureKey(def.hash, args, [...args.map((a) => encode(a instanceof Future ? null : a)), ...(consts ?? []).map((c) => c.bytes)]);
      } catch {
        return `x:${randomId(8)}`; // not encodable: its own task, which fails with NotSerializable
      }
    };
    const plan = planMap(this.dedup, n, keyOf);
    const job = this.newJob(plan.unique.length, nameOf(def), o);
    this.launch(job, { job, fn: def, module, cols: cols.map((c) => plan.unique.map((i) => c[i])), consts, timeout: o.timeout, priority: o.priority, resources: o.resources });
    plan.keys.forEach((k, u) => this.dedup.set(k, job, u));
    return plan.target.map((t) => (typeof t === "number" ? new Future<T>(this, job, t) : new Future<T>(this, t.job, t.row)));
  }

  /**
   * The same client with task options applied to every submit/map made through it.
   * @example
   * const f = client.with({ retries: 2, timeout: 5_000 }).submit(flaky, 1);
   */
  with(opts: TaskOptions): this {
    if (opts.timeout !== undefined && !(opts.timeout > 0)) throw Errors.BadOption("timeout", opts.timeout, "a positive number of milliseconds");
    if (opts.priority !== undefined && !Number.isFinite(opts.priority)) throw Errors.BadOption("priority", opts.priority, "a finite number (higher runs first)");
    if (opts.retries !== undefined && !(Number.isInteger(opts.retries) && opts.retries >= 0)) throw Errors.BadOption("retries", opts.retries, "a whole number ≥ 0");
    checkResources(opts.resources);
    if (opts.pure !== undefined && typeof opts.pure !== "boolean") throw Errors.BadOption("pure", opts.pure, "true or false");
    if (opts.publish !== undefined) this.outputs.check(opts.publish, opts.durable);
    else if (opts.durable) throw Errors.BadOption("durable", opts.durable, "together with publish (durable stores a named output)");
    if (opts.key !== undefined && typeof opts.key !== "string" && typeof opts.key !== "function") throw Errors.BadOption("key", opts.key, "a string, or a function of the arguments returning one");
    // A view: every read and write goes to this client (one key counter, one job table), except
    // `defaults`. (Object.create would give the view its own copy of each field it assigns.)
    const defaults = { ...this.defaults, ...opts };
    return new Proxy(this, { get: (target, p) => (p === "defaults" ? defaults : Reflect.get(target, p, target)) });
  }

  protected defaults: TaskOptions = {};

  /**
   * Futures as arguments: the task is submitted once they are all done, with their values in
   * their places (the values pass through this client). A failed dependency fails the task with
   * `DependencyFailed`, its error as the cause.
   */
  protected afterDependencies(job: Job, piece: Omit<Piece, "from" | "to">, args: unknown[]) {
    const deps = args.filter((a): a is Future => a instanceof Future);
    // Settled, not fetched: a large result stays in the scheduler and goes on as its DataRef.
    const settled = (d: Future) => new Promise<void>((res, rej) => d.job.onSettled(d.index, (j, i) => (j.errors.has(i) ? rej(j.errors.get(i)) : res())));
    void Promise.all(deps.map(settled)).then(
      () => {
        if (job.status[0] !== 0 || this.closed) return;
        // An ungathered large result goes on as its DataRef: scheduler → executor, not through here.
        let values: unknown[];
        try {
          values = args.map((a) => (a instanceof Future ? this.largeResults.forDependency(a.job, a.index, job) : a));
        } catch (e) {
          return void job.settle(0, ERROR, undefined, Errors.DependencyFailed(job.keyName(0), e as TaskError));
        }
        this.launch(job, { ...piece, cols: values.map((v) => [v]) });
      },
      (cause: TaskError) => {
        job.settle(0, ERROR, undefined, Errors.DependencyFailed(job.keyName(0), cause));
      },
    );
  }

  /** Queues the job's rows for the scheduler; `enc`: a submit's arguments as encoded already (Piece.enc), for this first send only. */
  protected launch(job: Job, piece: Omit<Piece, "from" | "to">, enc?: Encoded[]) {
    job.piece = piece;
    this.submitter.add({ ...piece, from: 0, to: job.size, ...(enc ? { enc } : {}) });
  }

  /**
   * @internal A named output fed by the caller (the workloads' `publish`): reserves one task key
   * as the call's `job` number. `total`: rows in the call, -1 when unknown.
   */
  openOutput(name: string, total: number, durable?: boolean | DurableOptions): OutputStream {
    this.assertOpen();
    this.outputs.check(name, durable);
    const job = this.nextKey++;
    return this.outputs.stream(name, job, total);
  }

  protected newJob(n: number, name: string, opts: TaskOptions = {}): Job {
    const job = new Job(this.nextKey, n, name);
    job.retries = opts.retries ?? 0;
    this.nextKey += n;
    if (this.nextKey > 0xfffffff0) throw Errors.KeySpaceExhausted();
    this.jobs.add(job);
    return job;
  }

  // --- gather / wait / asCompleted ------------------------------------------------------------

  /**
   * Waits for futures and returns their values in the same order. With `errors: "raise"`
   * (default) rejects with the first failed task's error; with `"skip"` leaves failed ones out.
   */
  async gather<T>(futures: readonly Future<T>[], opts?: { errors?: "raise" | "skip" }): Promise<T[]>;
  async gather<T>(future: Future<T>): Promise<T>;
  async gather<T>(futures: readonly Future<T>[] | Future<T>, opts: { errors?: "raise" | "skip" } = {}): Promise<T[] | T> {
    if (futures instanceof Future) return futures.result();
    if (!Array.isArray(futures) || !futures.every((f) => f instanceof Future)) throw Errors.BadOption("gather(futures)", futures, "a Future or an array of Futures");
    await Promise.all([...new Set(futures.map((f) => f.job))].map((j) => j.done()));
    const out: T[] = [];
    let fetches: Promise<void>[] | undefined;
    for (const f of futures) {
      const e = f.job.errors.get(f.index);
      if (e) {
        if (opts.errors === "skip") continue;
        throw e;
      }
      const v = f.job.values[f.index];
      if (f.job.large && v instanceof LargeResult) {
        // Held by the scheduler until now: fetched (once) and released there.
        const at = out.length;
        (fetches ??= []).push(Promise.resolve(this.largeResults.value(f.job, f.index)).then((x) => void (out[at] = x as T)));
      }
      out.push(v as T);
    }
    if (fetches) await Promise.all(fetches);
    return out;
  }

  /** Yields each future as it completes (finished, failed or cancelled), in completion order. */
  asCompleted<T>(futures: readonly Future<T>[]): AsyncGenerator<Future<T>> {
    return asCompleted(futures);
  }

  /**
   * Waits until all (`ALL_COMPLETED`), any (`FIRST_COMPLETED`) or the first failed
   * (`FIRST_EXCEPTION`) of the futures is done, or until `timeoutMs`. Returns `{ done, notDone }`.
   */
  wait<T>(futures: readonly Future<T>[], opts: { returnWhen?: ReturnWhen; timeoutMs?: number } = {}): Promise<{ done: Future<T>[]; notDone: Future<T>[] }> {
    return wait(futures, opts);
  }

  /** Cancels many futures at once. */
  cancel(futures: readonly Future[]): void {
    for (const f of futures) f.cancel();
  }

  /**
   * Resolves when every task submitted so far has reached the scheduler (not finished), and every
   * row of a durable output settled so far is stored in its stream (`{ publish, durable }`).
   */
  async flush(): Promise<void> {
    await this.submitter.idle();
    this.outputs.flush();
    await this.outputs.drain();
  }

}

const isArrayLike = (v: unknown): v is ArrayLike<unknown> => Array.isArray(v) || ArrayBuffer.isView(v);
const isIterableLike = (v: unknown) => isArrayLike(v) || (typeof v === "object" && v !== null && Symbol.iterator in v);

/** `{ resources }` (worker resources): names of letters, digits, `_` and `-`, amounts finite and > 0. */
function checkResources(r: unknown): void {
  if (r === undefined) return;
  const bad = () => Errors.BadOption("resources", r, "an object of names (letters, digits, '_', '-') to amounts > 0, e.g. { GPU: 1 }");
  if (typeof r !== "object" || r === null || Array.isArray(r) || Object.keys(r).length === 0) throw bad();
  for (const [k, v] of Object.entries(r)) if (!/^[A-Za-z0-9_-]{1,64}$/.test(k) || typeof v !== "number" || !Number.isFinite(v) || v <= 0) throw bad();
}
