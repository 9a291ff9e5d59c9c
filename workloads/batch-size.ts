/**
 * Automatic batch size: as many calls per task as fit in a target duration.
 *
 * Why 100 ms (joblib aims at 0.2–1 s per batch on Dask): a batch is one task, and a ts-dask task
 * costs ~1 ms end to end (README: p50 0.8 ms), not Dask's 10+ ms, so 100 ms already keeps the
 * overhead near 1 %. Shorter batches balance better at the end of a run (the last batches on each
 * worker finish within ~100 ms of each other), make progress and checkpoints finer, and keep the
 * pre-dispatch window (hence client memory) small. Longer ones would not pay: a batch runs
 * synchronously on an executor, and heartbeats, cancels and console forwarding wait for it (an
 * executor is suspected after 1.5 s of silence).
 */

/**
 * The largest automatic batch, in items. Only functions faster than ~10 µs per call reach it; it
 * keeps the memory of the calls in flight small (≈ 100 bytes each on the client).
 */
export const MAX_BATCH_ITEMS = 10_000;

/** The default target duration of one batch, in milliseconds. */
export const TARGET_BATCH_MS = 100;

/** Options of {@link AutoBatcher}. */
export interface AutoBatcherOptions {
  /** Target compute time of one batch (ms). Default {@link TARGET_BATCH_MS}. */
  targetMs?: number;
  /** Largest batch (items). Default {@link MAX_BATCH_ITEMS}. */
  max?: number;
}

/**
 * Estimates the batch size from measured batch durations (compute time inside the task, so queueing
 * and network do not count). The estimate is an item-weighted average of recent per-item times,
 * halving the weight of the past at every measurement: a warm-up outlier (the first call compiles
 * the function) is forgotten within a batch or two, and when calls get slower or faster the size
 * follows within a few batches. It starts at 1, like joblib, so a slow function is never sent in a
 * large first batch; growth is at most ×16 per measurement.
 */
export class AutoBatcher {
  private readonly targetMs: number;
  private readonly max: number;
  private sumMs = 0;
  private sumN = 0;
  /** Current batch size. */
  size = 1;

  constructor(opts: AutoBatcherOptions = {}) {
    this.targetMs = opts.targetMs ?? TARGET_BATCH_MS;
    this.max = opts.max ?? MAX_BATCH_ITEMS;
  }

  /** Mean compute time per item (ms) as currently estimated; undefined before any measurement. */
  get itemMs(): number | undefined {
    return this.sumN > 0 ? this.sumMs / this.sumN : undefined;
  }

  /** Records that a batch of `n` items computed in `ms` milliseconds, and re-estimates {@link size}. */
  observe(n: number, ms: number): void {
    if (!(n > 0) || !(ms >= 0)) return;
    this.sumMs = this.sumMs / 2 + ms;
    this.sumN = this.sumN / 2 + n;
    const per = Math.max(this.sumMs / this.sumN, 1e-4);
    const ideal = Math.floor(this.targetMs / per);
    this.size = Math.max(1, Math.min(this.max, ideal, this.size * 16));
  }
}

/**
 * The size of the next batch: `size`, capped so that the known rest of the input is shared by all
 * workers at the end (the last batches shrink instead of leaving workers idle), and by `maxItems`
 * (payload limits). At least 1.
 */
export function nextBatchSize(size: number, opts: { remaining?: number; workers: number; maxItems?: number }): number {
  let n = size;
  if (opts.remaining !== undefined) n = Math.min(n, Math.ceil(opts.remaining / Math.max(1, opts.workers)));
  if (opts.maxItems !== undefined) n = Math.min(n, opts.maxItems);
  return Math.max(1, n);
}
