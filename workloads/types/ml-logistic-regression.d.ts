/** Type shim for ml-logistic-regression 2.x (CommonJS, ships no types): the parts gridSearchCV examples use. */
declare module "ml-logistic-regression" {
  import type { Matrix } from "ml-matrix";

  export interface LogisticRegressionOptions {
    /** Gradient-descent steps (default 50,000). */
    numSteps?: number;
    /** Step size (default 5e-4). */
    learningRate?: number;
  }

  /** One-vs-all logistic regression by gradient descent. Labels must be 0 … (classes − 1). */
  export default class LogisticRegression {
    constructor(options?: LogisticRegressionOptions);
    numSteps: number;
    learningRate: number;
    numberClasses: number;
    /** `X`: samples × features; `Y`: a column vector of labels. */
    train(X: Matrix, Y: Matrix): void;
    /** One label per row of `X`. */
    predict(X: Matrix): number[];
    toJSON(): object;
    static load(model: object): LogisticRegression;
  }
}
