/** The benchmarks' workload (shipped by reference): the story's pattern, ~0.2 ms of numeric work per candidate against a 10 MB Float64Array. */

/** Elements of the reference data: 1,250,000 float64 = 10 MB. */
export const REF_LENGTH = 1_250_000;

/** ~0.2 ms on an idle core of the benchmark machine (strided reads of the reference data and a cosine per step). */
export function myProc(c: number, refData: Float64Array): number {
  let s = 0;
  const n = refData.length;
  for (let j = 0; j < 4400; j++) s += refData[(c * 7919 + j * 104_729) % n]! * Math.cos(j * 1e-3 + c);
  return s;
}

/** A fresh 10 MB reference array; `salt` makes its bytes (hence its scatter hash) differ per run. */
export function makeRef(salt: number): Float64Array {
  const a = new Float64Array(REF_LENGTH);
  for (let i = 0; i < a.length; i++) a[i] = Math.sin(i);
  a[0] = salt;
  return a;
}
