/**
 * Wrapper functions that run on the workers around a user's function: a *batch* wrapper (many calls
 * in one task, see `run-rows.ts`) and a *cross-validation* wrapper (one fit of a grid search, around
 * an estimator factory). A JavaScript function cannot carry its callee along, so each wrapper is
 * made in the form that travels:
 * - around a self-contained function: a new self-contained function whose source embeds the
 *   user's source (shipped by source);
 * - around a module export: a small generated module that imports the export and the wrapper's
 *   code, bundled like any module (shipped by reference, content-hashed, sent once per executor).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sha256Hex } from "../../runtime/shipping/hash.ts";
import { bundleModule, describeFunction, getModuleRef, makeModuleHandle, type ModuleRef } from "../../runtime/shipping/index.ts";
import { Errors } from "../../runtime/errors.ts";
import { ownModule } from "../../runtime/self.ts";
import { runRows } from "../run-rows.ts";

const RUN_ROWS = ownModule(import.meta.url, "../run-rows.ts");
const CV_TASK = ownModule(import.meta.url, "../grid/cv-task.ts");

/** Where generated wrapper modules are written (content-named, so never stale; safe to delete). */
export const WRAPPER_DIR: string = join(tmpdir(), "ts-dask-workloads");

const batchCache = new WeakMap<Function, Promise<Function>>();

/**
 * A function `(payload, ...refs) => BatchOutput` that runs `fn` over a batch on a worker, in the
 * form that travels (see the file comment). Cached per function.
 *
 * @throws `ClosureCaptured` / `FunctionNotShippable` for a function that can travel neither way.
 */
export function batchWrapper(fn: Function): Promise<Function> {
  let p = batchCache.get(fn);
  if (!p) {
    const ref = getModuleRef(fn);
    p = ref ? moduleWrapper(ref, "batch") : Promise.resolve(sourceBatchWrapper(fn));
    batchCache.set(fn, p);
    p.catch(() => batchCache.delete(fn));
  }
  return p;
}

/**
 * A module export `(params, train, test, X, y, want) => FitOutput` that builds an estimator with
 * the factory `factory` (a module export) and fits it once (see `grid/cv-task.ts`).
 *
 * @throws `FactoryNotAModuleExport` when `factory` is not a module export.
 */
export function cvWrapper(factory: Function): Promise<Function> {
  const ref = getModuleRef(factory);
  if (!ref) throw Errors.FactoryNotAModuleExport(factory.name);
  return moduleWrapper(ref, "cv");
}

function sourceBatchWrapper(fn: Function): Function {
  const def = describeFunction(fn); // validates: self-contained, or throws with the captured names
  const name = `${identifier(def.name) || "lambda"}_batch`;
  const code = `(function ${name}(p, ...refs) { return (${runRows.toString()})((${def.source}\n), p, refs); })`;
  // Indirect eval: global scope. Only its source matters here; it is never called on the client.
  return (0, eval)(code) as Function;
}

async function moduleWrapper(ref: ModuleRef, kind: "batch" | "cv"): Promise<Function> {
  const target = JSON.stringify(ref.module.file);
  const exportName = ref.exportName;
  const imported = exportName === "default" ? "default as target" : `${exportName} as target`;
  const name = `${identifier(exportName) || "fn"}_${kind}`;
  const text =
    kind === "batch"
      ? `import { ${imported} } from ${target};\nimport { runRows } from ${JSON.stringify(RUN_ROWS)};\n` +
        `export function ${name}(p: any, ...refs: unknown[]) {\n  return runRows(target as any, p, refs);\n}\n`
      : `import { ${imported} } from ${target};\nimport { cvFitTask } from ${JSON.stringify(CV_TASK)};\n` +
        `export function ${name}(...a: any[]) {\n  return (cvFitTask as any)(target, ...a);\n}\n`;
  const file = writeOnce(`${kind}-${sha256Hex(text).slice(0, 20)}.ts`, text);
  const mod = await bundleModule(file);
  const handle = makeModuleHandle<Record<string, Function>>(mod, mod.exports);
  return handle[name]!;
}

/** Writes `text` to WRAPPER_DIR/`name` unless that file already holds it (write-then-rename). */
function writeOnce(name: string, text: string): string {
  const file = join(WRAPPER_DIR, name);
  try {
    if (readFileSync(file, "utf8") === text) return file;
  } catch {
    /* not there yet */
  }
  mkdirSync(WRAPPER_DIR, { recursive: true });
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
  return file;
}

/** `s` if it is a plain identifier, else a sanitized version ("" when nothing is left). */
function identifier(s: string): string {
  const t = s.replace(/[^A-Za-z0-9_$]/g, "_");
  return /^[A-Za-z_$]/.test(t) ? t : t ? `_${t}` : "";
}
