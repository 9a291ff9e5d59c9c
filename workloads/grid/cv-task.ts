/**
 * One fit of a grid search, on a worker: build the estimator from its parameters, fit it on the
 * training rows, then predict (or score) the test rows (and the training rows when asked). Runs
 * inside a generated wrapper module that imports the user's factory (see backends/wrappers.ts).
 */
import { Errors } from "../../runtime/errors.ts";
import type { Estimator, EstimatorFactory, Features } from "./estimator.ts";

/** What one fit should do. */
export interface FitRequest {
  train: Uint32Array;
  test: Uint32Array;
  /** "predict": return predictions (the client scores them); "score": use estimator.score; "auto": score if it has one, else predict. */
  mode: "predict" | "score" | "auto";
  /** Also predict/score the training rows. */
  trainScores: boolean;
}

/** What one fit returns: times, and predictions or the estimator's own scores. */
export interface FitOutput {
  fitMs: number;
  scoreMs: number;
  testPred?: number[];
  trainPred?: number[];
  testScore?: number;
  trainScore?: number;
}

const rows = <T>(xs: ArrayLike<T>, idx: Uint32Array): T[] => Array.from(idx, (i) => xs[i]!);

/** Fits `factory(params)` on `req.train` and evaluates it on `req.test` (see {@link FitRequest}). */
export async function cvFitTask(factory: EstimatorFactory<unknown>, params: unknown, req: FitRequest, X: Features, y: number[]): Promise<FitOutput> {
  const est: Estimator = await factory(params);
  const Xtr = rows(X, req.train);
  const ytr = rows(y, req.train);
  const t0 = performance.now();
  await est.fit(Xtr, ytr);
  const t1 = performance.now();
  const useScore = req.mode === "score" || (req.mode === "auto" && typeof est.score === "function");
  const out: FitOutput = { fitMs: t1 - t0, scoreMs: 0 };
  const Xte = rows(X, req.test);
  if (useScore) {
    if (typeof est.score !== "function") throw Errors.BadEstimator("it has no score(X, y) method");
    out.testScore = await est.score(Xte, rows(y, req.test));
    if (req.trainScores) out.trainScore = await est.score(Xtr, ytr);
  } else {
    if (typeof est.predict !== "function") throw Errors.BadEstimator("it has neither predict(X) nor score(X, y)");
    out.testPred = Array.from(await est.predict(Xte), Number);
    if (req.trainScores) out.trainPred = Array.from(await est.predict(Xtr), Number);
  }
  out.scoreMs = performance.now() - t1;
  return out;
}
