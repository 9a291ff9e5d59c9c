/** Scoring functions of the grid search (scikit-learn's names; greater is better for all). */
import { Errors } from "../../runtime/errors.ts";

/** The built-in scorers. */
export type ScoringName = "accuracy" | "f1_weighted" | "f1_macro" | "neg_mean_squared_error" | "r2";

/** A custom scorer: true values and predictions → a score (greater is better). */
export type ScoringFn = (yTrue: ArrayLike<number>, yPred: ArrayLike<number>) => number;

/** Fraction of exact matches. */
export function accuracy(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  sameLength(yTrue, yPred);
  let ok = 0;
  for (let i = 0; i < yTrue.length; i++) if (yTrue[i] === yPred[i]) ok++;
  return yTrue.length ? ok / yTrue.length : 0;
}

/** Per label (of y_true ∪ y_pred, sorted): F1 (0 where undefined, scikit-learn's zero_division=0) and support. */
function f1PerLabel(yTrue: ArrayLike<number>, yPred: ArrayLike<number>) {
  sameLength(yTrue, yPred);
  const labels = [...new Set([...Array.from(yTrue), ...Array.from(yPred)])].sort((a, b) => a - b);
  return labels.map((l) => {
    let tp = 0;
    let fp = 0;
    let fn = 0;
    for (let i = 0; i < yTrue.length; i++) {
      const t = yTrue[i] === l;
      const p = yPred[i] === l;
      if (t && p) tp++;
      else if (p) fp++;
      else if (t) fn++;
    }
    const denom = 2 * tp + fp + fn;
    return { f1: denom ? (2 * tp) / denom : 0, support: tp + fn };
  });
}

/** F1 averaged over labels weighted by their support (scikit-learn's `f1_weighted`). */
export function f1Weighted(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  const per = f1PerLabel(yTrue, yPred);
  const total = per.reduce((s, p) => s + p.support, 0);
  return total ? per.reduce((s, p) => s + p.f1 * p.support, 0) / total : 0;
}

/** Unweighted mean of per-label F1 (scikit-learn's `f1_macro`). */
export function f1Macro(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  const per = f1PerLabel(yTrue, yPred);
  return per.length ? per.reduce((s, p) => s + p.f1, 0) / per.length : 0;
}

/** Minus the mean squared error (so that greater is better). */
export function negMeanSquaredError(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  sameLength(yTrue, yPred);
  let s = 0;
  for (let i = 0; i < yTrue.length; i++) s += (yTrue[i]! - yPred[i]!) ** 2;
  return yTrue.length ? -s / yTrue.length : 0;
}

/** Coefficient of determination: 1 − SS_res / SS_tot (1 for a perfect fit; 0 when y is constant and not matched). */
export function r2(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  sameLength(yTrue, yPred);
  const n = yTrue.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += yTrue[i]!;
  mean /= n || 1;
  let res = 0;
  let tot = 0;
  for (let i = 0; i < n; i++) {
    res += (yTrue[i]! - yPred[i]!) ** 2;
    tot += (yTrue[i]! - mean) ** 2;
  }
  if (tot === 0) return res === 0 ? 1 : 0;
  return 1 - res / tot;
}

const SCORERS: Record<ScoringName, { fn: ScoringFn; classification: boolean }> = {
  accuracy: { fn: accuracy, classification: true },
  f1_weighted: { fn: f1Weighted, classification: true },
  f1_macro: { fn: f1Macro, classification: true },
  neg_mean_squared_error: { fn: negMeanSquaredError, classification: false },
  r2: { fn: r2, classification: false },
};

/** A resolved scorer: its name, function, and whether it implies classification (undefined: no opinion). */
export interface Scorer {
  name: string;
  fn: ScoringFn;
  classification?: boolean;
}

/**
 * Resolves `scoring` (a name or a function).
 * @throws `BadOption` naming the valid names for an unknown one
 */
export function resolveScoring(scoring: ScoringName | ScoringFn): Scorer {
  if (typeof scoring === "function") return { name: scoring.name || "custom", fn: scoring };
  const s = SCORERS[scoring];
  if (!s) throw Errors.BadOption("scoring", scoring, `one of ${Object.keys(SCORERS).join(", ")}, or a function (yTrue, yPred) => number`);
  return { name: scoring, ...s };
}

function sameLength(a: ArrayLike<number>, b: ArrayLike<number>) {
  if (a.length !== b.length) throw Errors.BadOption("predictions", `${b.length} values`, `one per true value (${a.length})`);
}
