/**
 * Client side of shipping a function by source: check it is self-contained and describe it as a
 * {@link SourceFnDef}. Runs before anything is sent, so a closure fails at the call, not on a worker.
 */
import { Errors } from "../errors.ts";
import type { SourceFnDef } from "../protocol.ts";
import { sha256Hex } from "./hash.ts";
import { type CodeLocation, callerLocation, functionLocation } from "./location.ts";
import { parseClassSource, parseFunctionSource } from "./parse.ts";
import { findCaptures } from "./scope.ts";

const cache = new WeakMap<Function, SourceFnDef>();
/**
 * Second level, by source text: a loop that passes a fresh arrow each time (`submit((x) => x, i)`)
 * creates a new function object per call, and locating each would cost ~1–3 ms. Identical text
 * shares one definition (and the first copy's file and line). Bounded.
 */
const byText = new Map<string, SourceFnDef>();
const BY_TEXT_MAX = 4096;

/**
 * Describes a self-contained function for a worker. Cached per function object: the first call
 * parses and locates it (≈1–3 ms; ≈20–30 ms for the very first function
 * of a process, which warms up the parser and the inspector), later calls are a WeakMap lookup
 * (~20 ns). Rejections are not cached.
 *
 * `hash` is SHA-256 of name, source, file and line (NUL-separated): two copies of the same code
 * in different places are different definitions, so each keeps its own file and line in remote stacks.
 *
 * @param callerHint where the function came from if V8 cannot tell (default: the first stack frame outside ts-dask).
 * @throws {@link Errors.FunctionNotShippable} for native/bound functions, classes, getters/setters, methods using `this`.
 * @throws {@link Errors.ClosureCaptured} listing every identifier it takes from its surrounding scope.
 */
export function describeFunction(fn: Function, callerHint?: CodeLocation): SourceFnDef {
  const hit = cache.get(fn);
  if (hit) return hit;
  const text = typeof fn === "function" ? `${fn.name}\0${Function.prototype.toString.call(fn)}` : "";
  let def = byText.get(text);
  if (!def) {
    def = buildDef(fn, callerHint);
    if (byText.size >= BY_TEXT_MAX) byText.clear();
    byText.set(text, def);
  }
  cache.set(fn, def);
  return def;
}

/**
 * Describes a self-contained class for an actor (issue 14), as {@link describeFunction} does a
 * function: `extends` a name from its surroundings, or any other captured name, is refused.
 */
export function describeClass(cls: Function, callerHint?: CodeLocation): SourceFnDef {
  const hit = classCache.get(cls);
  if (hit) return hit;
  const def = buildDef(cls, callerHint, true);
  classCache.set(cls, def);
  return def;
}
const classCache = new WeakMap<Function, SourceFnDef>();

function buildDef(fn: Function, callerHint: CodeLocation | undefined, asClass = false): SourceFnDef {
  if (typeof fn !== "function") throw Errors.FunctionNotShippable(String(fn), `it is not a function (got ${typeof fn})`);
  const name = typeof fn.name === "string" ? fn.name : "";
  const text = Function.prototype.toString.call(fn);
  const parsed = asClass ? parseClassSource(text, name) : parseFunctionSource(text, name);
  const captures = findCaptures(parsed.root, parsed.fn);
  // A class expression's own name is bound inside it (the analysis of the class alone sees it as free).
  if (asClass) captures.names = captures.names.filter((n) => n !== (parsed.root as { id?: { name?: string } }).id?.name);
  if (captures.context) {
    throw Errors.FunctionNotShippable(
      name,
      `it uses \`${captures.context}\`, which refers to the client's ${captures.context === "import.meta" ? "module" : "object"} and does not travel to workers; pass what it needs as arguments`,
    );
  }
  const { file, line } = locate(fn, callerHint);
  if (captures.names.length > 0) throw Errors.ClosureCaptured(name, file ? (line ? `${file}:${line}` : file) : "", captures.names);
  return { kind: "src", hash: sha256Hex(name, parsed.source, file, String(line)), name, source: parsed.source, file, line };
}

function locate(fn: Function, callerHint: CodeLocation | undefined): CodeLocation {
  const found = functionLocation(fn);
  if (found && found.line > 0) return found;
  const hint = callerHint ?? callerLocation();
  if (found) return hint && hint.file === found.file ? hint : found;
  return hint ?? { file: "", line: 0 };
}
