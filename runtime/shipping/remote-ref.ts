/**
 * Client side of functions shipped by reference: the handle `client.importModule()` returns. Its
 * members are stubs that stand for the module's exports; passing one to submit/map sends
 * `{ module hash, export name }` instead of source.
 */
import { Errors } from "../errors.ts";
import type { ModuleDef, ModuleFnDef } from "../protocol.ts";
import { sha256Hex } from "./hash.ts";

/** What a stub stands for: export `exportName` of the bundled module `module`. */
export interface ModuleRef {
  readonly module: ModuleDef;
  readonly exportName: string;
}

/** Private mark on stubs (not `Symbol.for`: nothing outside this file can forge or read it). */
const REF = Symbol("ts-dask.moduleRef");

/**
 * Names probed by `await`, JSON.stringify and test/inspection tools. Reading one that the module
 * does not export gives `undefined` instead of {@link Errors.NoSuchExport}, so the handle can be
 * awaited, logged and compared. (A module exporting `then` cannot be awaited: it would look like a promise.)
 */
const PROBES = new Set(["then", "toJSON", "constructor", "asymmetricMatch", "$$typeof", "nodeType"]);

/**
 * A handle whose members are stubs for `exports` of `mod`. Calling a stub throws
 * {@link Errors.ModuleStubCalled}; reading a name the module does not export throws
 * {@link Errors.NoSuchExport} (a typo fails at once, not on a worker).
 */
export function makeModuleHandle<T>(mod: ModuleDef, exports: readonly string[]): T {
  // Only the fields a ModuleDef has: a BundledModule's `exports` list need not travel in every ref.
  const module: ModuleDef = { hash: mod.hash, file: mod.file, code: mod.code };
  const target: Record<string, Function> = Object.create(null);
  for (const exportName of exports) {
    const stub = function () {
      throw Errors.ModuleStubCalled(exportName);
    };
    Object.defineProperty(stub, "name", { value: exportName });
    Object.defineProperty(stub, REF, { value: Object.freeze({ module, exportName }) satisfies ModuleRef });
    Object.defineProperty(target, exportName, { value: stub, enumerable: true });
  }
  const available = [...exports].sort();
  return new Proxy(target, {
    get(t, key) {
      if (typeof key === "symbol" || key in t) return t[key as string];
      if (PROBES.has(key)) return undefined;
      throw Errors.NoSuchExport(module.file, key, available);
    },
    has: (t, key) => key in t,
    set: () => false,
    defineProperty: () => false,
    deleteProperty: () => false,
  }) as T;
}

/** The module export `fn` stands for, or undefined when `fn` is not a stub from {@link makeModuleHandle}. */
export function getModuleRef(fn: unknown): ModuleRef | undefined {
  return typeof fn === "function" ? ((fn as unknown as Record<symbol, ModuleRef | undefined>)[REF] ?? undefined) : undefined;
}

const defs = new WeakMap<ModuleRef, ModuleFnDef>();

/** The wire definition of a module export; `hash` is SHA-256 of `<module hash>:<export name>`. Cached per ref. */
export function describeModuleFn(ref: ModuleRef): ModuleFnDef {
  let def = defs.get(ref);
  if (!def) {
    def = { kind: "mod", hash: sha256Hex(`${ref.module.hash}:${ref.exportName}`), module: ref.module.hash, exportName: ref.exportName };
    defs.set(ref, def);
  }
  return def;
}
