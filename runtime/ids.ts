/** Random ids that are valid NATS subject tokens. */
import { randomBytes } from "node:crypto";

/** `n` random bytes as hex (a subject token). */
export const randomId = (n = 6) => randomBytes(n).toString("hex");
