/** Shipped code: functions by source and by reference; part of runtime/protocol.ts, which re-exports it. */

// ---------------------------------------------------------------------------------------------
// Shipped code

/** A function shipped by source (self-contained). `hash` is the SHA-256 of `source` + `name`. */
export interface SourceFnDef {
  kind: "src";
  hash: string;
  /** The function's name (for stacks), may be "". */
  name: string;
  /** An expression that evaluates to the function, e.g. `(x) => x * 2`. */
  source: string;
  /** Where it was defined on the client: a file URL or path, for `//# sourceURL`. */
  file: string;
  /** 1-based line of the definition in `file` (0 when unknown). */
  line: number;
}

/** A function shipped by reference: export `exportName` of module `module` (a {@link ModuleDef} hash). */
export interface ModuleFnDef {
  kind: "mod";
  hash: string;
  module: string;
  exportName: string;
}

export type FnDef = SourceFnDef | ModuleFnDef;

/** A bundled, side-effect-free ES module (local imports inlined, npm imports left external). */
export interface ModuleDef {
  /** SHA-256 of `code`. */
  hash: string;
  /** The path the client bundled, for messages. */
  file: string;
  /** ESM source. */
  code: string;
}
