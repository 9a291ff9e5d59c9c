/** joblib's `delayed`: a call written down, to be made later by {@link parallel}. */
import { Errors } from "../runtime/errors.ts";

/** A call of `fn` with `args`, not made yet. Made by {@link delayed}. */
export interface Delayed<R = unknown> {
  readonly fn: (...args: any[]) => R | Promise<R>;
  readonly args: readonly unknown[];
  /** @internal type brand */
  readonly __delayed: true;
}

/** The value a delayed call produces (its function's awaited return type). */
export type DelayedResult<D> = D extends Delayed<infer R> ? Awaited<R> : never;

/**
 * Wraps `fn` so that calling it records the call instead of making it, as joblib's
 * `delayed(my_proc)(c, ref_data)`. `fn` must be able to travel: a self-contained function, or an
 * export of a module handle (`client.importModule` / {@link importModule}).
 *
 * @example
 * const res = await parallel({ nJobs: -1 }, candidates.map((c) => delayed(procs.myProc)(c, refData)));
 */
export function delayed<F extends (...args: any[]) => unknown>(fn: F): (...args: Parameters<F>) => Delayed<Awaited<ReturnType<F>>> {
  if (typeof fn !== "function") throw Errors.BadOption("delayed(fn)", fn, "a function (self-contained, or a module export)");
  return (...args: Parameters<F>) => ({ fn: fn as Delayed<Awaited<ReturnType<F>>>["fn"], args, __delayed: true as const });
}

/** True for the objects {@link delayed} makes. */
export function isDelayed(v: unknown): v is Delayed {
  return typeof v === "object" && v !== null && (v as Delayed).__delayed === true && typeof (v as Delayed).fn === "function";
}
