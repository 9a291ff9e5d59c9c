/**
 * The code an executor has loaded: task functions by definition hash (a shipped source compiled
 * here, or an export of a module imported from its definition), the module definitions they come
 * from, and the newest few `client.run()` functions. A load that failed (a missing package, say)
 * is tried again by the next batch that uses it, since `client.install()` may have added what it
 * missed. The scheduler says when a definition is no longer used (`control` op `forget`).
 */
import type { FnDef, ModuleDef } from "../../runtime/protocol.ts";
import { compileSource } from "../../runtime/shipping/compile.ts";
import { ensureResolveHook, loadModule } from "../../runtime/shipping/load-module.ts";
import { Errors } from "../../runtime/errors.ts";

/** A loaded function, or why it could not be loaded (its tasks fail with it). */
export type LoadedFn = Function | Error;

/** `client.run()` functions kept loaded (the scheduler never hears of them, so never says to forget them). */
const RUN_FNS_KEPT = 32;

export class FunctionCache {
  private readonly fns = new Map<string, LoadedFn | Promise<LoadedFn>>();
  private readonly mods = new Map<string, ModuleDef>();
  private readonly runFns = new Map<string, LoadedFn | Promise<LoadedFn>>();
  /** Functions whose module failed to load: loaded again by the next batch that uses them. */
  private readonly failedLoads = new Map<string, FnDef>();

  constructor(
    /** Where modules and uploads are written. */
    private readonly localDirectory: string,
    /** Who we are, for errors ("executor local-0"). */
    private readonly where: string,
  ) {}

  /**
   * A task batch's definitions: its modules noted, its functions not held yet loaded, and the
   * failed loads among the functions its groups use tried again.
   */
  add(mods: ModuleDef[] | undefined, fns: FnDef[] | undefined, groups: readonly { fn: string }[]): void {
    for (const d of mods ?? []) this.mods.set(d.hash, d);
    for (const f of fns ?? []) if (!this.fns.has(f.hash)) this.fns.set(f.hash, this.load(f));
    if (this.failedLoads.size) for (const g of groups) this.retry(g.fn);
  }

  /** Notes a module definition (a user actor's, a `client.run()`'s). */
  addModule(mod: ModuleDef): void {
    this.mods.set(mod.hash, mod);
  }

  /** Whether the function `hash` is still being imported. */
  loading(hash: string): boolean {
    return this.fns.get(hash) instanceof Promise;
  }

  /** The function `hash` (or why there is none), once its import is done. */
  get(hash: string): LoadedFn | Promise<LoadedFn> {
    const f = this.fns.get(hash);
    return f instanceof Promise ? f : this.now(hash);
  }

  /** The function `hash` (or why there is none) when it is not being imported. */
  now(hash: string): LoadedFn {
    const f = this.fns.get(hash);
    if (f === undefined) return Errors.DefinitionNotSent("function", hash, this.where);
    return f as LoadedFn;
  }

  /** A `client.run()` function: the newest {@link RUN_FNS_KEPT} stay loaded; one that failed is loaded again next time. */
  async forRun(def: FnDef, mod: ModuleDef | undefined): Promise<LoadedFn> {
    if (mod) this.mods.set(mod.hash, mod);
    const loading = this.runFns.get(def.hash) ?? this.load(def);
    this.runFns.delete(def.hash);
    this.runFns.set(def.hash, loading);
    if (this.runFns.size > RUN_FNS_KEPT) this.runFns.delete(this.runFns.keys().next().value!);
    const fn = await loading;
    if (fn instanceof Error) this.runFns.delete(def.hash); // a package may have been installed meanwhile
    return fn;
  }

  /** Loads `def`: compiles a shipped source now, or imports its module (the function's entry is replaced when done). */
  load(def: FnDef): LoadedFn | Promise<LoadedFn> {
    if (def.kind === "src") {
      try {
        // A function that may import (`import("ts-dask/worker")`, an uploaded or installed
        // package) needs the resolve hook before it runs; others never pay for it.
        if (def.source.includes("import")) ensureResolveHook();
        return compileSource(def);
      } catch (e) {
        return e as Error;
      }
    }
    const mod = this.mods.get(def.module);
    if (!mod) return Errors.DefinitionNotSent("module", def.module, this.where);
    return loadModule(mod, this.localDirectory).then(
      (ns): LoadedFn => {
        const f = ns[def.exportName];
        const loaded = typeof f === "function" ? f : Errors.ExportNotAFunction(def.exportName, mod.file);
        this.fns.set(def.hash, loaded);
        return loaded;
      },
      (e: unknown): LoadedFn => {
        const err = e instanceof Error ? e : new Error(String(e));
        this.fns.set(def.hash, err);
        this.failedLoads.set(def.hash, def);
        return err;
      },
    );
  }

  /** The scheduler forgot these definitions (no registered client uses them); not arrays (a malformed order): nothing. */
  forget(fns: readonly string[] | undefined, mods: readonly string[] | undefined): void {
    for (const h of Array.isArray(fns) ? fns : []) {
      this.fns.delete(h);
      this.failedLoads.delete(h);
    }
    for (const h of Array.isArray(mods) ? mods : []) this.mods.delete(h);
  }

  /** Entries held (reported in heartbeats: a long-lived cluster must not grow). */
  get counts(): { fns: number; mods: number } {
    return { fns: this.fns.size, mods: this.mods.size };
  }

  private retry(hash: string): void {
    const def = this.failedLoads.get(hash);
    if (!def) return;
    this.failedLoads.delete(hash);
    this.fns.set(hash, this.load(def));
  }
}
