/**
 * Module handles without a client: for `backend: "local"` (no cluster), the same typed handle that
 * `client.importModule()` returns. Its exports travel by reference to local processes and, passed
 * to a cluster backend, to the cluster's executors.
 */
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleModule, makeModuleHandle } from "../runtime/shipping/index.ts";

/**
 * Bundles a side-effect-free module and returns a handle typed as the module, whose exports can be
 * passed to parallel/delayed/best/gridSearchCV (they run where the work runs, never here).
 *
 * @param path relative to `opts.from` (a directory, a file, or `import.meta.url`), else to the calling file's directory
 * @example
 * const procs = await importModule<typeof import("./procs.ts")>("./procs.ts", { from: import.meta.url });
 * await parallel({ backend: "local" }, xs.map((x) => delayed(procs.score)(x)));
 */
export async function importModule<T>(path: string, opts: { from?: string } = {}): Promise<T> {
  const base = opts.from ? dirOf(opts.from) : (callerDir() ?? process.cwd());
  const mod = await bundleModule(resolve(base, path), base);
  return makeModuleHandle<T>(mod, mod.exports);
}

function dirOf(from: string): string {
  const p = from.startsWith("file:") ? fileURLToPath(from) : from;
  return /\.[cm]?[jt]sx?$/.test(p) ? dirname(p) : p;
}

/** The directory of the first stack frame outside this file (the caller's). */
function callerDir(): string | undefined {
  const self = fileURLToPath(import.meta.url);
  for (const line of (new Error().stack ?? "").split("\n").slice(1)) {
    const m = /\((.*):\d+:\d+\)$/.exec(line) ?? /at (.*):\d+:\d+$/.exec(line);
    if (!m) continue;
    const file = m[1]!.startsWith("file:") ? fileURLToPath(m[1]!) : m[1]!;
    if (file.startsWith("node:") || file === self) continue;
    return dirname(file);
  }
  return undefined;
}
