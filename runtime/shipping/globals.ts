/**
 * Which free identifiers a function shipped by source may use: the names every executor has in its
 * global scope. Anything else is a captured variable that would not exist on the worker.
 */
import { builtinModules } from "node:module";

/**
 * Standard JavaScript and Node 20 globals, listed explicitly so the check does not depend on what
 * happens to be on the client's `globalThis` (and so a name is allowed even if the client lacks it).
 */
const STANDARD = [
  // language
  "undefined", "NaN", "Infinity", "globalThis", "arguments", "eval", "isFinite", "isNaN", "parseFloat", "parseInt",
  "decodeURI", "decodeURIComponent", "encodeURI", "encodeURIComponent", "escape", "unescape",
  "Object", "Function", "Array", "Number", "Boolean", "String", "Symbol", "BigInt", "Date", "RegExp", "Promise",
  "Error", "AggregateError", "EvalError", "RangeError", "ReferenceError", "SyntaxError", "TypeError", "URIError",
  "JSON", "Math", "Intl", "Reflect", "Proxy", "Map", "Set", "WeakMap", "WeakSet", "WeakRef", "FinalizationRegistry",
  "ArrayBuffer", "SharedArrayBuffer", "DataView", "Atomics", "WebAssembly",
  "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array",
  "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array",
  // Node
  "global", "process", "console", "Buffer", "crypto", "performance", "fetch", "structuredClone", "queueMicrotask",
  "setTimeout", "clearTimeout", "setInterval", "clearInterval", "setImmediate", "clearImmediate", "atob", "btoa",
  "URL", "URLSearchParams", "TextEncoder", "TextDecoder", "AbortController", "AbortSignal", "Event", "EventTarget",
  "MessageChannel", "MessagePort", "MessageEvent", "BroadcastChannel", "Blob", "File", "FormData", "Headers",
  "Request", "Response", "DOMException", "WebSocket", "navigator",
];

/**
 * Names that look global in some Node modes but do not exist on an executor: CommonJS module-scope
 * variables (`require`, `module`, …; none is on `globalThis` in ESM, but `node -e` and the REPL put
 * them there), and the builtin modules `node -e`/the REPL expose as globals (`fs`, `path`, …).
 */
const NEVER = new Set(["require", "module", "exports", "__dirname", "__filename"]);

/** esbuild's keepNames helper (tsx compiles with it); the executor's prelude defines it. */
export const NAME_HELPER = "__name";

let allowed: Set<string> | undefined;

/** The set of free identifiers a shipped function may use. Computed once, on first use. */
export function allowedGlobals(): ReadonlySet<string> {
  if (allowed) return allowed;
  const standard = new Set(STANDARD);
  // A builtin-module name on globalThis (e.g. `fs` under `node -e`) is a REPL convenience, not a
  // real global — unless it is one (`process`, `console`, `crypto`).
  const moduleNames = new Set(builtinModules);
  const set = new Set(STANDARD);
  for (const name of Object.getOwnPropertyNames(globalThis)) {
    if (moduleNames.has(name) && !standard.has(name)) continue;
    set.add(name);
  }
  for (const name of NEVER) set.delete(name);
  set.add(NAME_HELPER);
  return (allowed = set);
}
