import type { FnDef } from "../../../runtime/protocol.ts";

/** A name for a function hash, for people. */
export function fnLabel(def: FnDef | undefined, hash: string): string {
  if (!def) return hash.slice(0, 8);
  if (def.kind === "mod") return def.exportName;
  if (def.name) return def.name;
  // An anonymous function: a short excerpt of its source, e.g. `(x) => x + 1`.
  const src = def.source.replace(/\s+/g, " ").trim();
  return src.length <= 32 ? src : `${src.slice(0, 31)}…`;
}
