/**
 * Function shipping: how a function passed to submit/map reaches an executor.
 *
 * - Self-contained functions travel by source ({@link describeFunction} on the client,
 *   {@link compileSource} on the executor).
 * - Everything else travels by reference: exports of a module bundled on the client
 *   ({@link bundleModule}, {@link makeModuleHandle}) and imported on the executor ({@link loadModule}).
 *
 * Executor start-up: `process.setSourceMapsEnabled(true)` (stacks from bundles then point at the
 * user's files) and `installResolveHook([localDirectory, process.cwd(), TSDASK_ROOT])`.
 */
import { Errors } from "../errors.ts";
import type { FnDef, ModuleDef } from "../protocol.ts";
import { PACKAGE_ROOT } from "../self.ts";
import { describeModuleFn, getModuleRef } from "./remote-ref.ts";
import { describeClass, describeFunction } from "./source.ts";

export { bundleModule, type BundledModule } from "./bundle.ts";
export { compileSource } from "./compile.ts";
export { deferResolveHook, ensureResolveHook, installResolveHook, loadModule, setUploadMap } from "./load-module.ts";
export type { CodeLocation } from "./location.ts";
export { describeModuleFn, getModuleRef, makeModuleHandle, type ModuleRef } from "./remote-ref.ts";
export { describeFunction } from "./source.ts";

/** The ts-dask package root (a search directory for npm imports of bundles, see `installResolveHook`). */
export const TSDASK_ROOT: string = PACKAGE_ROOT;

/** What the client sends for one function: its definition, and the module it lives in if shipped by reference. */
export interface ShippedFn {
  fn: FnDef;
  module?: ModuleDef;
}

const shipped = new WeakMap<Function, ShippedFn>();

/**
 * The definition to send for `fn`, per submit: a module export's reference, or a self-contained
 * function's source. A WeakMap lookup after the first call for a given function.
 *
 * @throws {@link Errors.FunctionNotShippable} or {@link Errors.ClosureCaptured} (see {@link describeFunction}).
 */
export function toFnDef(fn: Function): ShippedFn {
  if (typeof fn !== "function") throw Errors.FunctionNotShippable(String(fn), `it is not a function (got ${typeof fn})`);
  let s = shipped.get(fn);
  if (!s) {
    const ref = getModuleRef(fn);
    s = ref ? { fn: describeModuleFn(ref), module: ref.module } : { fn: describeFunction(fn) };
    shipped.set(fn, s);
  }
  return s;
}

/**
 * The definition to send for a class (user actors, issue 14): a module export's reference, or a
 * self-contained class's source (checked for captured names like a function's).
 *
 * @throws {@link Errors.FunctionNotShippable} (not a class) or {@link Errors.ClosureCaptured}.
 */
export function toClassDef(cls: Function): ShippedFn {
  if (typeof cls !== "function") throw Errors.FunctionNotShippable(String(cls), `it is not a class (got ${typeof cls})`);
  const ref = getModuleRef(cls);
  return ref ? { fn: describeModuleFn(ref), module: ref.module } : { fn: describeClass(cls) };
}
