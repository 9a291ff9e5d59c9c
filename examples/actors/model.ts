/**
 * A "model" loaded once and queried many times: the kind of state an actor is for. Exported from a
 * side-effect-free module, so it travels by reference (client.importModule) with its imports.
 */
export interface Weights {
  bias: number;
  w: number[];
}

export class Model {
  private weights: Weights;
  private served = 0;
  /** Predictions made since the actor was created, kept across restarts by snapshot()/restore(). */
  history: number[] = [];

  constructor(weights: Weights) {
    // Imagine reading a large file here: done once per actor, not once per call.
    this.weights = weights;
  }

  predict(x: number[]): number {
    const y = this.weights.bias + x.reduce((s, v, i) => s + v * (this.weights.w[i] ?? 0), 0);
    this.served++;
    this.history.push(y);
    return y;
  }

  get calls(): number {
    return this.served;
  }

  pid(): number {
    return process.pid;
  }

  /** Called by ts-dask every few calls; what it returns is kept by the scheduler. */
  snapshot(): { history: number[]; served: number } {
    return { history: this.history, served: this.served };
  }

  /** Called on a restart, after the constructor, with the last snapshot. */
  restore(s: { history: number[]; served: number }): void {
    this.history = s.history;
    this.served = s.served;
  }
}
