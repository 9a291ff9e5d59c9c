/** SHA-256 content hashes for shipped code. */
import { createHash } from "node:crypto";

/** SHA-256 hex digest of `parts` joined by NUL (a separator no identifier or path contains). */
export function sha256Hex(...parts: string[]): string {
  const h = createHash("sha256");
  for (let i = 0; i < parts.length; i++) {
    if (i > 0) h.update("\0");
    h.update(parts[i]!);
  }
  return h.digest("hex");
}

/** True for a 64-digit lowercase hex string: the only shape a hash from the network may have before it names a directory. */
export function isSha256Hex(s: unknown): s is string {
  return typeof s === "string" && /^[0-9a-f]{64}$/.test(s);
}
