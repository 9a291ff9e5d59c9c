/** Type shim for ml-cart 2.x (CommonJS, ships no types). */
declare module "ml-cart" {
  import type { Matrix } from "ml-matrix";

  export interface DecisionTreeOptions {
    /** Only "gini" is supported. */
    gainFunction?: "gini";
    splitFunction?: "mean";
    /** Minimum samples to make a leaf (default 3). */
    minNumSamples?: number;
    /** Maximum depth (default Infinity). */
    maxDepth?: number;
    gainThreshold?: number;
  }

  /** CART classification tree. */
  export class DecisionTreeClassifier {
    constructor(options?: DecisionTreeOptions);
    train(X: number[][] | Matrix, y: number[]): void;
    predict(X: number[][] | Matrix): number[];
    toJSON(): object;
    static load(model: object): DecisionTreeClassifier;
  }

  /** CART regression tree. */
  export class DecisionTreeRegression {
    constructor(options?: DecisionTreeOptions);
    train(X: number[][] | number[] | Matrix, y: number[]): void;
    predict(X: number[][] | number[] | Matrix): number[];
    toJSON(): object;
    static load(model: object): DecisionTreeRegression;
  }
}
