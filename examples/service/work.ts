/** What the service computes for a job: a side-effect-free module, shipped by reference. */
export function collatzSteps(n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`not a positive whole number: ${n}`);
  let steps = 0;
  for (let x = n; x !== 1; steps++) x = x % 2 === 0 ? x / 2 : 3 * x + 1;
  return steps;
}
