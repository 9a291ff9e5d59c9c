/**
 * Executor side of shipping by source: turn a {@link SourceFnDef} back into a function.
 */
import { findSourceMap } from "node:module";
import { pathToFileURL } from "node:url";
import type { SourceFnDef } from "../protocol.ts";

// esbuild's keepNames helper, which tsx-compiled functions call (`__name(fn, "helper")`).
// Declared inside the wrapper below, so it neither leaks into nor clobbers the executor's globals.
const PRELUDE = `var __name=(t,v)=>Object.defineProperty(t,"name",{value:v,configurable:true});`;

/**
 * Evaluates `def.source` in the executor's global scope (strict mode, like the ES module it came
 * from) and returns the function.
 *
 * Stacks: the code is named `//# sourceURL=<def.file>` and padded with newlines so the function
 * starts on `def.line`. A throw inside shows the user's file, and the definition line for a
 * function that was compiled to one line (tsx minifies whitespace, so that is the usual case;
 * lines further into a multi-line function are counted from the definition line). The function
 * is bound to a property named `def.name`, so frames show `at myFn (…)` like on the client.
 *
 * @throws the evaluation error (a SyntaxError, or a TypeError if the source is not a function);
 *   the caller reports it as `Errors.FunctionLoadFailed`.
 */
export function compileSource(def: SourceFnDef): Function {
  const pad = def.line > 1 ? "\n".repeat(def.line - 1) : "";
  // `{ "name": (fn) }["name"]` names an anonymous function without declaring a variable that
  // could shadow a global the function uses (a method named `fetch` calling `fetch`).
  const key = JSON.stringify(def.name);
  const body = def.name ? `{${key}:(${pad}${def.source}\n)}[${key}]` : `(${pad}${def.source}\n)`;
  const code = `(function(){"use strict";${PRELUDE}return ${body}})\n//# sourceURL=${sourceUrl(def)}`;
  // Indirect eval: global scope, and unlike vm.runInThisContext, `import()` inside works.
  const fn = (0, eval)(code)() as unknown;
  if (typeof fn !== "function") throw new TypeError(`the shipped source of ${def.name || "a function"} evaluated to ${typeof fn}, not a function`);
  return fn;
}

function sourceUrl(def: SourceFnDef): string {
  if (!def.file) return `ts-dask-fn-${def.hash.slice(0, 12)}.js`;
  // A sourceURL ends at whitespace: spell such paths as a file URL (%20).
  let url = /\s/.test(def.file) && !def.file.includes("://") ? pathToFileURL(def.file).href : def.file;
  // If this process loaded that very file with a source map (an in-process executor, tests),
  // Node would map our padded lines through it and print wrong ones: make the name differ.
  if (findSourceMap(url)) url += "?ts-dask";
  return url;
}
