/** The joblib-style example's work: a side-effect-free module (its exports run where the work runs). */

/** The story's `my_proc(c, ref_data)`: ~0.2 ms of numeric work of a candidate against the reference data. */
export function myProc(c: number, refData: Float64Array): number {
  let s = 0;
  const n = refData.length;
  for (let j = 0; j < 20_000; j++) s += refData[(c * 7919 + j * 104_729) % n]! * Math.cos(j * 1e-3 + c);
  return s;
}
