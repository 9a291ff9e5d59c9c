/**
 * joblib's `Parallel(n_jobs=…)(delayed(f)(x) for x in xs)` for TypeScript: {@link parallel} (all
 * results, in input order) and {@link parallelStream} (an async iterator in input order, memory
 * bounded), on local processes or a ts-dask cluster with the same code.
 */
import { effectiveOptions, openBackend, type BackendOptions } from "./backends/resolve.ts";
import type { Delayed, DelayedResult } from "./delayed.ts";
import { Engine, knownLength, type CallSource, type DispatchOptions, type DoneBatch, type EngineStats } from "./engine.ts";
import { Errors, type ItemError } from "../runtime/errors.ts";

/** Options of {@link parallel} and {@link parallelStream}. */
export interface ParallelOptions extends BackendOptions, DispatchOptions {
  /**
   * `"raise"` (default): the first failed call stops the run (batches in flight are cancelled) and
   * its {@link ItemError} is thrown. `"return"`: a failed call's slot holds its ItemError.
   */
  errors?: "raise" | "return";
  /** parallelStream: batches finished or in flight but not yet handed out, at most (default 2 × preDispatch). */
  reorderWindow?: number;
  /** Filled in with the run's counters when it ends (batches, calls, scattered values…). */
  stats?: Partial<EngineStats>;
}

/** The per-call outcomes of a finished batch: [input index, value] or [input index, ItemError]. */
export function* outcomes(b: DoneBatch): Generator<[index: number, value: unknown, error: ItemError | undefined]> {
  const errs = b.out?.e?.length ? new Map(b.out.e.map((e) => [e[0], e])) : undefined;
  for (let k = 0; k < b.indices.length; k++) {
    const index = b.indices[k]!;
    if (b.error) {
      yield [index, undefined, Errors.ItemBatchFailed(index, b.fnName, b.error)];
      continue;
    }
    const e = errs?.get(k);
    if (e) yield [index, undefined, Errors.ItemFailed(index, b.fnName, b.out!.w ?? "", e[1], e[2], e[3])];
    else yield [index, b.out!.v[k], undefined];
  }
}

/**
 * Runs every call and returns the results in input order.
 *
 * `calls` may be an array, any iterable, an async iterable, or a generator function; with a lazy
 * one, at most `preDispatch` batches are read ahead. On the cluster, arguments listed in `scatter`
 * (and large arguments shared by several calls) travel once per executor.
 *
 * @example
 * // joblib: Parallel(n_jobs=-1)(delayed(my_proc)(c, ref_data) for c in candidates)
 * const res = await parallel({ nJobs: -1, backend: "cluster", client, scatter: [refData] },
 *   function* () { for (const c of candidates()) yield delayed(procs.myProc)(c, refData); });
 * @throws the first failed call's {@link ItemError} (with `errors: "raise"`, the default)
 */
export async function parallel<D extends Delayed>(opts: ParallelOptions & { errors: "return" }, calls: CallSource<D>): Promise<(DelayedResult<D> | ItemError)[]>;
export async function parallel<D extends Delayed>(opts: ParallelOptions, calls: CallSource<D>): Promise<DelayedResult<D>[]>;
export async function parallel(opts: ParallelOptions, calls: CallSource<Delayed>): Promise<unknown[]> {
  const o = effectiveOptions(opts);
  const { backend, release } = await openBackend(o);
  const out: unknown[] = [];
  const engine = new Engine(backend, calls, { ...o, total: o.total ?? knownLength(calls) });
  try {
    for await (const b of engine.run()) {
      for (const [i, v, e] of outcomes(b)) {
        if (e && o.errors !== "return") throw e;
        out[i] = e ?? v;
      }
    }
    return out;
  } finally {
    if (opts.stats) Object.assign(opts.stats, engine.stats);
    await release();
  }
}

/**
 * Like {@link parallel}, but yields results one by one in input order as they are ready, holding at
 * most a bounded window of results (a slow call holds back the ones after it, and dispatch pauses
 * when the window is full). Breaking out of the loop cancels what is in flight.
 *
 * @example
 * for await (const r of parallelStream({ backend: "local" }, function* () { for (let i = 0; i < 1e6; i++) yield delayed(f)(i); })) { … }
 */
export async function* parallelStream<D extends Delayed>(opts: ParallelOptions, calls: CallSource<D>): AsyncGenerator<DelayedResult<D>> {
  const o = effectiveOptions(opts);
  const { backend, release } = await openBackend(o);
  const engine = new Engine(backend, calls as CallSource<Delayed>, { ...o, ordered: true, total: o.total ?? knownLength(calls) });
  try {
    for await (const b of engine.run()) {
      for (const [, v, e] of outcomes(b)) {
        if (e && o.errors !== "return") throw e;
        yield (e ?? v) as DelayedResult<D>;
      }
    }
  } finally {
    if (opts.stats) Object.assign(opts.stats, engine.stats);
    await release();
  }
}
