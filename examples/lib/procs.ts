/** A side-effect-free module for examples/modules.ts: its exports run on the workers. */
import { clamp } from "./util.ts";

/** A made-up score of a candidate against a weight; slow when asked to be. */
export async function score(candidate: number, weight: number): Promise<number> {
  if (candidate % 7 === 0) await new Promise((r) => setTimeout(r, 20));
  return clamp(Math.sin(candidate) * weight, -1, 1);
}

export function hostInfo(): string {
  return `pid ${process.pid} on Node ${process.version}`;
}
