/**
 * Automatic batch size: as many calls per task as fit in a target duration.
 *
 * Why 250 ms (joblib's lower bound: it aims at 0.2–2 s per batch): each batch costs a handful of
 * messages (submit and its acknowledgement, the task, the completion, the result), and on a real
 * machine each message is a wake-up of two or three processes, ~0.2–0.5 ms of CPU each on a busy or
 * virtualised host, more than the message's own work: the CPU the cluster spends beside the work
 * falls with the number of batches (bench/brute-force reports it per candidate). Longer would not pay much more and would cost: the last batches on each worker finish within one
 * batch of each other (shrunk at the end of a known-length input), progress and checkpoints get
 * coarser, and a batch runs synchronously on an executor (cancels and console forwarding wait for it;
 * an executor's silence is suspected only after its batch overruns the estimate).
 */

/**
 * The largest automatic batch, in items. Only functions faster than ~10 µs per call reach it; it
 * keeps the memory of the calls in flight small (≈ 100 bytes each on the client).
 */
export const MAX_BATCH_ITEMS = 10_000;

/** The default target duration of one batch, in milliseconds. */
export const TARGET_BATCH_MS = 250;

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
