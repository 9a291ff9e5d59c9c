/**
 * Executor side of shipping a module by reference: write a bundle to a content-addressed file and
 * import it.
 */
import { access, mkdir, rename, writeFile } from "node:fs/promises";
import { register } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { MessageChannel, type MessagePort } from "node:worker_threads";
import { hostname } from "node:os";
import { Errors } from "../errors.ts";
import type { ModuleDef } from "../protocol.ts";
import { isSha256Hex, sha256Hex } from "./hash.ts";

const loaded = new Map<string, Promise<Record<string, unknown>>>();
/** Failed imports per hash: a retry imports the file under a new URL, as Node keeps a failed import's error for its URL. */
const failures = new Map<string, number>();

/**
 * Imports the bundle `def`, written to `<dir>/modules/<hash>/index.mjs` (kept if already there:
 * the directory is named by content, so it is never stale, and a new version gets a new directory
 * instead of an `import()` cache that would keep the old one). The namespace is cached per hash.
 *
 * npm imports in the bundle resolve through the resolve hook: installed here if it was only
 * deferred ({@link deferResolveHook}).
 *
 * @throws when the hash is malformed or does not match the code, or the import fails (the caller
 *   reports it as `Errors.FunctionLoadFailed`).
 */
export function loadModule(def: ModuleDef, dir: string): Promise<Record<string, unknown>> {
  ensureResolveHook();
  let p = loaded.get(def.hash);
  if (!p) {
    p = importBundle(def, dir, failures.get(def.hash) ?? 0).catch((e: unknown) => {
      loaded.delete(def.hash); // let a later task retry (e.g. after a package is installed)
      failures.set(def.hash, (failures.get(def.hash) ?? 0) + 1);
      throw missingPackage(e, def.file) ?? e;
    });
    loaded.set(def.hash, p);
  }
  return p;
}

async function importBundle(def: ModuleDef, dir: string, attempt: number): Promise<Record<string, unknown>> {
  // The hash names a directory: it must be a hash (no path tricks) and the hash of this code.
  if (!isSha256Hex(def.hash)) throw Errors.ModuleCorrupted(def.file, `malformed hash '${String(def.hash).slice(0, 80)}'`);
  if (sha256Hex(def.code) !== def.hash) throw Errors.ModuleCorrupted(def.file, `its code does not match its hash ${def.hash}`);
  const moduleDir = join(dir, "modules", def.hash);
  const file = join(moduleDir, "index.mjs");
  if (!(await exists(file))) {
    await mkdir(moduleDir, { recursive: true });
    // Write then rename: executors sharing a directory never import a half-written file.
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    await writeFile(tmp, def.code);
    await rename(tmp, file);
  }
  const url = pathToFileURL(file).href;
  return (await import(attempt ? `${url}?attempt=${attempt}` : url)) as Record<string, unknown>;
}

/** "Cannot find package 'lodash' imported from …" as our error, naming the fix. */
function missingPackage(e: unknown, file: string): Error | undefined {
  const err = e as { code?: string; message?: string };
  if (err?.code !== "ERR_MODULE_NOT_FOUND") return undefined;
  const name = /Cannot find package '([^']+)'/.exec(err.message ?? "")?.[1];
  return name ? Errors.PackageNotInstalled(name, file, hostname()) : undefined;
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

let hookDirs: readonly string[] | undefined;
let hookPort: MessagePort | undefined;
let hookSeq = 0;
/** Search directories of a hook deferred until first needed ({@link deferResolveHook}). */
let deferredDirs: readonly string[] | undefined;

/**
 * Remembers the search directories of {@link installResolveHook} without installing it yet: the
 * hook's loader thread costs ~100 ms of CPU (and more wall time on a busy machine), which an
 * executor would otherwise pay at every start, before its first task, whether or not a task ever
 * imports anything. {@link ensureResolveHook} installs it: loading a module bundle, applying
 * uploads, and compiling a function whose source mentions `import` do.
 */
export function deferResolveHook(searchDirs: readonly string[]): void {
  if (!hookDirs) deferredDirs = [...searchDirs];
}

/** Installs the hook deferred by {@link deferResolveHook}, if it is not installed yet. */
export function ensureResolveHook(): void {
  if (!hookDirs && deferredDirs) installResolveHook(deferredDirs);
}

/**
 * Lets bare imports (npm packages) in loaded bundles resolve from `searchDirs`, tried in order
 * after the normal resolution fails, and bare imports of uploads resolve to their current
 * directory ({@link setUploadMap}). The executor passes [its local directory, process.cwd(), the
 * ts-dask package root]. Idempotent: only the first call registers the hook; later calls change
 * nothing and return false.
 */
export function installResolveHook(searchDirs: readonly string[]): boolean {
  if (hookDirs) return false;
  hookDirs = [...searchDirs];
  const { port1, port2 } = new MessageChannel();
  hookPort = port1;
  port1.unref();
  register(new URL("./resolve-hook.mjs", import.meta.url), { data: { searchDirs: hookDirs, port: port2 }, transferList: [port2] });
  return true;
}

/**
 * Tells the resolve hook the current uploads: package name → the directory whose `node_modules`
 * holds that version (`<localDir>/uploads/<name>/<sha256>`). Resolves once the hook has the map,
 * so every `import()` after it sees the new versions. Requires {@link installResolveHook}.
 */
export function setUploadMap(uploads: Readonly<Record<string, string>>): Promise<void> {
  ensureResolveHook();
  const port = hookPort;
  if (!port) return Promise.reject(new Error("the resolve hook is not installed in this process"));
  const seq = ++hookSeq;
  return new Promise((resolve) => {
    const onAck = (m: { ack?: number }) => {
      if (m?.ack !== seq) return;
      port.off("message", onAck);
      port.unref();
      resolve();
    };
    port.on("message", onAck);
    port.ref();
    port.postMessage({ seq, uploads });
  });
}
