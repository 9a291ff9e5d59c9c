/**
 * The estimator interface of gridSearchCV: what a model must offer (scikit-learn's fit/predict, or
 * fit/score). Adapters for real libraries are a few lines (see examples/grid-search/models.ts for
 * ml-logistic-regression and ml-cart).
 */

/** Feature rows (samples × features). */
export type Features = number[][];

/** A model that can be fitted and then predict, or score itself. */
export interface Estimator {
  /** Learns from `X` (rows) and `y` (labels or targets). May be async. */
  fit(X: Features, y: number[]): unknown;
  /** Predictions for `X` (labels or values). Needed unless the estimator has {@link score}. */
  predict?(X: Features): ArrayLike<number> | Promise<ArrayLike<number>>;
  /** Its own score on `X`, `y` (greater is better); used when gridSearchCV has no `scoring`. */
  score?(X: Features, y: number[]): number | Promise<number>;
}

/**
 * Makes an unfitted estimator from one parameter combination. gridSearchCV calls it on the workers,
 * so it must be an export of a module loaded with `client.importModule()` / `importModule()`.
 */
export type EstimatorFactory<P, E extends Estimator = Estimator> = (params: P) => E | Promise<E>;
