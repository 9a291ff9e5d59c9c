/**
 * Estimator factories for gridSearchCV: adapters of real mljs models to ts-dask's estimator
 * interface (fit/predict). A side-effect-free module: it travels by reference
 * (`client.importModule("./models.ts")`) and its npm imports are resolved on the workers.
 */
import LogisticRegression from "ml-logistic-regression";
import { DecisionTreeClassifier } from "ml-cart";
import { Matrix } from "ml-matrix";
import { RandomForestClassifier } from "ml-random-forest";
import type { Estimator } from "ts-dask";

/** As scikit-learn's set_params: a parameter the model does not have is an error, not ignored. */
function known<P extends object>(factory: string, params: P, names: readonly (keyof P & string)[]): P {
  const unknown = Object.keys(params).filter((k) => !(names as readonly string[]).includes(k));
  if (unknown.length) throw new TypeError(`${factory}: unknown parameter ${unknown.map((k) => `'${k}'`).join(", ")} (it takes ${names.join(", ")})`);
  return params;
}

/** Parameters of {@link makeLogReg}. */
export interface LogRegParams {
  learningRate?: number;
  numSteps?: number;
}

/** ml-logistic-regression (one-vs-all, gradient descent). Labels must be 0 … classes − 1. */
export function makeLogReg(params: LogRegParams): Estimator {
  known("makeLogReg", params, ["learningRate", "numSteps"]);
  const model = new LogisticRegression({ numSteps: params.numSteps ?? 500, learningRate: params.learningRate ?? 0.01 });
  return {
    fit: (X, y) => model.train(new Matrix(X), Matrix.columnVector(y)),
    predict: (X) => model.predict(new Matrix(X)),
  };
}

/** Parameters of {@link makeTree}. */
export interface TreeParams {
  maxDepth?: number;
  minNumSamples?: number;
}

/** ml-cart's CART classification tree. */
export function makeTree(params: TreeParams): Estimator {
  known("makeTree", params, ["maxDepth", "minNumSamples"]);
  const model = new DecisionTreeClassifier({ gainFunction: "gini", maxDepth: params.maxDepth ?? 10, minNumSamples: params.minNumSamples ?? 3 });
  return {
    fit: (X, y) => model.train(X, y),
    predict: (X) => model.predict(X),
  };
}

/** Parameters of {@link makeForest}. */
export interface ForestParams {
  nEstimators?: number;
  maxDepth?: number;
  maxFeatures?: number;
  seed?: number;
}

/** ml-random-forest's classifier (seeded; out-of-bag estimates off, see NOTES). */
export function makeForest(params: ForestParams): Estimator {
  known("makeForest", params, ["nEstimators", "maxDepth", "maxFeatures", "seed"]);
  const model = new RandomForestClassifier({
    nEstimators: params.nEstimators ?? 10,
    maxFeatures: params.maxFeatures ?? 0.8,
    seed: params.seed ?? 42,
    noOOB: true,
    treeOptions: { maxDepth: params.maxDepth ?? 8 },
  });
  return {
    fit: (X, y) => model.train(X, y),
    predict: (X) => model.predict(X),
  };
}
