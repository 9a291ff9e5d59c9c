/**
 * What an argument becomes on the way to a worker, checked before it goes: msgpack keeps data, not
 * classes. A class instance would arrive as a plain object without its methods and fail only inside
 * the task (`p.norm is not a function`), so it is refused at submit; a top-level `undefined` arrives
 * as `null` (a default parameter does not apply), so it is warned about; an unknown `map` option
 * (a typo) is refused instead of ignored. Cheap: only the top level of the arguments of `submit`,
 * and the first row of a `map`, are looked at.
 */
import { DataRef } from "../runtime/data-ref.ts";
import { Errors } from "../runtime/errors.ts";
import { Future } from "./future.ts";

/** The option names map() and submit() understand. */
const MAP_OPTIONS = new Set(["args", "retries", "timeout", "pure", "key", "priority", "resources", "publish", "durable"]);

/** A value that travels as what it is: plain data, or a type the codec carries (runtime/codec.ts). */
function travelsAsIs(v: object): boolean {
  if (Array.isArray(v) || ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return true;
  if (v instanceof Date || v instanceof Map || v instanceof Set || v instanceof Error || v instanceof DataRef || v instanceof Future) return true;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** The name of the class of `v` when it would lose its class on the way, else undefined. */
export function lostClass(v: unknown): string | undefined {
  if (typeof v !== "object" || v === null || travelsAsIs(v)) return undefined;
  return (v as object).constructor?.name || "an unnamed class";
}

/**
 * Refuses class instances among `args` (and as the first element of an array argument); warns
 * once per function name about a top-level `undefined`. Futures must be replaced (by null) first.
 */
export function checkArgs(args: readonly unknown[], fnName: string, warned: Set<string>): void {
  args.forEach((a, i) => {
    const cls = lostClass(a) ?? (Array.isArray(a) && a.length ? lostClass(a[0]) : undefined);
    if (cls) throw Errors.ClassInstanceArgument(`Argument ${i + 1} of ${fnName}${Array.isArray(a) ? " (an array)" : ""}`, cls);
    if (a === undefined && !warned.has(fnName)) {
      warned.add(fnName);
      process.emitWarning(Errors.UndefinedArgument(`Argument ${i + 1} of ${fnName}`));
    }
  });
}

/** map(): unknown options are refused; the first row of each iterable and `args` are checked as {@link checkArgs}. */
export function checkMap(cols: readonly ArrayLike<unknown>[], opts: object, fnName: string, warned: Set<string>): void {
  const unknown = Object.keys(opts).filter((k) => !MAP_OPTIONS.has(k));
  if (unknown.length) throw Errors.UnknownOptions(`map(${fnName}, …)`, unknown, [...MAP_OPTIONS]);
  if (cols.every((c) => c.length > 0)) checkArgs(cols.map((c) => c[0]), fnName, warned);
  const consts = (opts as { args?: unknown[] }).args;
  if (consts?.length) checkArgs(consts, `${fnName} (map's args)`, warned);
}
