/** Cross-validation splits: K-fold, and stratified K-fold for classification; seeded shuffles. */
import { Errors } from "../../runtime/errors.ts";
import { mulberry32, shuffleInPlace } from "../rng.ts";

/** One split: the rows to fit on and the rows to score on. */
export interface Split {
  train: Uint32Array;
  test: Uint32Array;
}

/** Options of the splitters. */
export interface FoldOptions {
  /** Shuffle rows before splitting (default true). */
  shuffle?: boolean;
  /** Seed of the shuffle (default 0): same seed, same folds. */
  seed?: number;
}

function check(n: number, k: number) {
  if (!Number.isInteger(k) || k < 2) throw Errors.BadOption("cv", k, "an integer ≥ 2 (the number of folds)");
  if (k > n) throw Errors.BadOption("cv", k, `at most ${n} folds: cannot make ${k} folds of ${n} samples`);
}

/** Splits from a fold number per row. */
function fromAssignment(fold: Uint32Array, k: number): Split[] {
  const splits: Split[] = [];
  for (let f = 0; f < k; f++) {
    let nt = 0;
    for (const x of fold) if (x === f) nt++;
    const test = new Uint32Array(nt);
    const train = new Uint32Array(fold.length - nt);
    let a = 0;
    let b = 0;
    for (let i = 0; i < fold.length; i++) {
      if (fold[i] === f) test[a++] = i;
      else train[b++] = i;
    }
    splits.push({ train, test });
  }
  return splits;
}

/**
 * K-fold: `k` consecutive folds of the (shuffled) rows, sizes differing by at most one (the first
 * `n % k` folds one larger, as scikit-learn).
 */
export function kFold(n: number, k: number, opts: FoldOptions = {}): Split[] {
  check(n, k);
  const order = Uint32Array.from({ length: n }, (_, i) => i);
  if (opts.shuffle !== false) shuffleInPlace(order, mulberry32(opts.seed ?? 0));
  const fold = new Uint32Array(n);
  let pos = 0;
  for (let f = 0; f < k; f++) {
    const size = Math.floor(n / k) + (f < n % k ? 1 : 0);
    for (let j = 0; j < size; j++) fold[order[pos++]!] = f;
  }
  return fromAssignment(fold, k);
}

/**
 * Stratified K-fold: every fold gets each class in (nearly) the same proportion as the whole set.
 * The rows of each class (shuffled) are dealt to the folds in turn, continuing from class to class,
 * so fold sizes also differ by at most one.
 */
export function stratifiedKFold(y: ArrayLike<number>, k: number, opts: FoldOptions = {}): Split[] {
  const n = y.length;
  check(n, k);
  const rand = mulberry32(opts.seed ?? 0);
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const c = y[i]!;
    let rows = byClass.get(c);
    if (!rows) byClass.set(c, (rows = []));
    rows.push(i);
  }
  const fold = new Uint32Array(n);
  let turn = 0;
  for (const c of [...byClass.keys()].sort((a, b) => a - b)) {
    const rows = byClass.get(c)!;
    if (opts.shuffle !== false) shuffleInPlace(rows, rand);
    for (const r of rows) fold[r] = turn++ % k;
  }
  return fromAssignment(fold, k);
}
