/** The module the upload example sends to every worker; it imports a sibling file. */
import { FACTOR, weight } from "./helpers.ts";

export function score(x: number): number {
  return weight(x) * FACTOR;
}
