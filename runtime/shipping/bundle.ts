/**
 * Client side of shipping a module by reference: bundle a user module with its local imports into
 * one ES module, npm packages left as imports for the workers' installed packages.
 */
import { stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { BuildFailure, Message } from "esbuild";
import { Errors } from "../errors.ts";
import type { ModuleDef } from "../protocol.ts";
import { sha256Hex } from "./hash.ts";

/** A bundled module and the names it exports. */
export type BundledModule = ModuleDef & { exports: string[] };

interface CacheEntry {
  /** Every input file of the bundle with its mtime when bundled. */
  inputs: [file: string, mtimeMs: number][];
  result: BundledModule;
}
const cache = new Map<string, CacheEntry>();

/**
 * Bundles `path` (relative to `baseDir`, default the working directory) for the workers.
 *
 * The code carries an inline source map whose sources are absolute `file:` URLs of the client's
 * files, so an executor that enables source maps (`process.setSourceMapsEnabled(true)` or
 * `--enable-source-maps`) prints stacks that point at the user's original `.ts` lines. Function
 * names survive (`keepNames`). A repeated call returns the cached bundle while no input file changed.
 *
 * @throws {@link Errors.ModuleBundleFailed} when the file is missing or does not compile.
 */
export async function bundleModule(path: string, baseDir: string = process.cwd()): Promise<BundledModule> {
  const file = resolve(baseDir, path);
  const cached = cache.get(file);
  if (cached && (await unchanged(cached.inputs))) return cached.result;
  const dir = dirname(file);
  let result;
  try {
    const { build } = await import("esbuild"); // loaded on first use: ~45 ms that most processes never need
    result = await build({
      entryPoints: [file],
      absWorkingDir: dir,
      outdir: dir, // nothing is written (write: false); names the output and anchors the map's sources
      bundle: true,
      format: "esm",
      platform: "node",
      packages: "external",
      target: "node20",
      write: false,
      metafile: true,
      keepNames: true,
      sourcemap: "inline",
      sourcesContent: false, // stacks need positions, not text: keep the message small
      sourceRoot: pathToFileURL(dir).href + "/", // the map's sources resolve to the client's files, not the executor's copy
      logLevel: "silent",
    });
  } catch (e) {
    throw Errors.ModuleBundleFailed(path, describeFailure(e));
  }
  const out = result.outputFiles?.[0];
  const meta = Object.values(result.metafile?.outputs ?? {}).find((o) => o.entryPoint !== undefined);
  if (!out || !meta) throw Errors.ModuleBundleFailed(path, "esbuild produced no output");
  const code = out.text;
  const bundled: BundledModule = { hash: sha256Hex(code), file, code, exports: [...meta.exports].sort() };
  const inputs = Object.keys(result.metafile!.inputs).map((f) => resolve(dir, f));
  cache.set(file, { inputs: await Promise.all(inputs.map(async (f): Promise<[string, number]> => [f, await mtime(f)])), result: bundled });
  return bundled;
}

async function unchanged(inputs: [string, number][]): Promise<boolean> {
  const now = await Promise.all(inputs.map(([f]) => mtime(f)));
  return inputs.every(([, m], i) => now[i] === m && m >= 0);
}

async function mtime(file: string): Promise<number> {
  try {
    return (await stat(file)).mtimeMs;
  } catch {
    return -1; // gone: never equal to a recorded time, so the cache entry is rebuilt
  }
}

function describeFailure(e: unknown): string {
  const errors = (e as Partial<BuildFailure>).errors;
  if (Array.isArray(errors) && errors.length > 0) return errors.map(formatMessage).join("; ");
  return e instanceof Error ? e.message : String(e);
}

function formatMessage(m: Message): string {
  const at = m.location ? `${m.location.file}:${m.location.line}:${m.location.column + 1}: ` : "";
  return `${at}${m.text}`;
}
