/**
 * How much work to hand each executor: plain functions over per-function duration estimates.
 *
 * An executor is kept up to `targetMs` of work ahead (so it never waits for the scheduler between
 * tasks), but never fewer than 2 tasks per thread (one running, one prefetched) nor more than
 * `maxWindow`. Its queue is refilled once half of that window is done ({@link roomFor}), and the
 * executor reports its completions at that point, once per batch it received (actors/executor/outbox.ts):
 * a dispatch and a completion message per half window, whatever the task size, so the messages' fixed cost is
 * spread over many tasks. A function never seen before is treated as slow until its first
 * completions report otherwise, so long tasks are not hoarded by the first executor; trivial ones
 * ramp up to the cap within a couple of round trips.
 */

export interface PlacementConfig {
  /** Milliseconds of queued work to keep on each executor. */
  targetMs: number;
  /** Most tasks outstanding on one executor. */
  maxWindow: number;
  /** Most tasks in one dispatch message. */
  maxBatch: number;
  /** Duration assumed for a function not measured yet. */
  unknownMs: number;
}

export const defaultPlacement: PlacementConfig = { targetMs: 1000, maxWindow: 20_000, maxBatch: 4_000, unknownMs: 50 };

/** Exponentially weighted mean task duration per function hash. */
export class DurationEstimates {
  private readonly ms = new Map<string, number>();

  /** Folds in `count` tasks that took `totalMs` together. */
  observe(fn: string, count: number, totalMs: number): void {
    if (count <= 0) return;
    const mean = Math.max(totalMs / count, 0.0005);
    const prev = this.ms.get(fn);
    // Weight by the evidence: many tasks, or much time (a few long tasks say as much as many
    // short ones), counts more than one straggler.
    const w = Math.min(0.9, Math.max(count / (count + 20), totalMs / (totalMs + 50)));
    this.ms.set(fn, prev === undefined ? mean : prev * (1 - w) + mean * w);
  }

  get(fn: string): number | undefined {
    return this.ms.get(fn);
  }

  /** The function's definition is gone (definitions.ts). */
  forget(fn: string): void {
    this.ms.delete(fn);
  }

  get size(): number {
    return this.ms.size;
  }
}

/**
 * How many tasks to send an executor that holds `assigned` of a window of `window`: none while
 * more than half of the window is still there, else enough to fill it.
 */
export function roomFor(window: number, assigned: number): number {
  return assigned * 2 > window ? 0 : window - assigned;
}

/** Tasks an executor with `nthreads` should hold for a function taking `estMs` each. */
export function windowFor(nthreads: number, estMs: number, cfg: PlacementConfig): number {
  const perThread = Math.max(2, Math.ceil(cfg.targetMs / Math.max(estMs, 1e-3)));
  return Math.min(cfg.maxWindow, perThread * nthreads);
}
