/**
 * The story's study, made up but of the same shape: many candidate input sets, each scored by a
 * few milliseconds of numeric work against shared reference data; the best ones win.
 *
 * Here a candidate is a guess of the three tones (frequency, amplitude, phase) hidden in a long
 * noisy recording (the reference data, 8 MB); its score is how well the tones it describes match
 * the recording (minus the mean squared error over a stride of the samples).
 *
 * Side-effect free: the main script imports it normally (to make the data and the candidates) and
 * through `client.importModule` (to run `score` on the workers).
 */
import { mulberry32 as rng } from "../../workloads/rng.ts";

/** One candidate: three tones. */
export interface Candidate {
  id: number;
  freq: [number, number, number];
  amp: [number, number, number];
  phase: [number, number, number];
}

/** The hidden tones of {@link makeReference} (for checking the answer). */
export const TRUTH = { freq: [3.1, 7.4, 12.2], amp: [1.0, 0.6, 0.35], phase: [0.3, 1.9, 4.0] };

/** Samples in the reference recording (8 MB of Float64). */
export const REFERENCE_SAMPLES = 1_000_000;

/** The recording: the hidden tones plus Gaussian noise, sampled at `n` points over 10 seconds. Seeded. */
export function makeReference(n = REFERENCE_SAMPLES, seed = 1): Float64Array {
  const rand = rng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t = (10 * i) / n;
    let v = 0;
    for (let k = 0; k < 3; k++) v += TRUTH.amp[k]! * Math.sin(2 * Math.PI * TRUTH.freq[k]! * t + TRUTH.phase[k]!);
    const u = Math.max(rand(), 1e-12);
    out[i] = v + 0.5 * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  }
  return out;
}

/**
 * `count` candidates, lazily (a generator: 200,000 never sit in memory at once), drawn around a
 * coarse grid of frequencies. Seeded: the same sequence every run (so a checkpoint can resume it).
 */
export function* candidates(count: number, seed = 2): Generator<Candidate> {
  const rand = rng(seed);
  for (let id = 0; id < count; id++) {
    const f = (lo: number, hi: number) => Math.round((lo + rand() * (hi - lo)) * 10) / 10;
    yield {
      id,
      freq: [f(2, 5), f(6, 9), f(11, 14)],
      amp: [1.0, f(0.3, 0.9), f(0.1, 0.6)],
      phase: [f(0, 6.2), f(0, 6.2), f(0, 6.2)],
    };
  }
}

/** How well `c` explains the recording: −MSE over every 40th sample (~25,000 points, a few ms). */
export function score(c: Candidate, reference: Float64Array): number {
  const n = reference.length;
  const stride = 40;
  let err = 0;
  let m = 0;
  const w0 = 2 * Math.PI * c.freq[0];
  const w1 = 2 * Math.PI * c.freq[1];
  const w2 = 2 * Math.PI * c.freq[2];
  for (let i = 0; i < n; i += stride) {
    const t = (10 * i) / n;
    const v = c.amp[0] * Math.sin(w0 * t + c.phase[0]) + c.amp[1] * Math.sin(w1 * t + c.phase[1]) + c.amp[2] * Math.sin(w2 * t + c.phase[2]);
    const d = reference[i]! - v;
    err += d * d;
    m++;
  }
  return -err / m;
}

