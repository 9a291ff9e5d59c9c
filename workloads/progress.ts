/**
 * Progress of a workload, silent unless asked: joblib-style verbose lines
 * (`Done 8 out of 15 | elapsed: 2.0s remaining: 1.7s`) and a progress bar (cli-progress) on a
 * terminal.
 */
import type cliProgress from "cli-progress";
import { lazyRequire } from "../runtime/lazy.ts";

const progressBars = lazyRequire<typeof cliProgress>("cli-progress");
import { inspect } from "node:util";

/** How a workload reports progress. */
export interface ProgressOptions {
  /**
   * joblib's verbosity: false/0 silent (default); true/1 a header, about ten `Done …` lines and
   * a final one; ≥ 10 a `Done …` line per finished batch.
   */
  verbose?: boolean | number;
  /** Show a progress bar with elapsed/remaining time when stderr is a terminal (default false). */
  progress?: boolean;
  /** Where verbose lines go (default: stderr, as joblib). */
  log?: (line: string) => void;
  /**
   * A plain loop's time for the same function, so the closing line says whether the run was faster
   * (`| 1.58x a plain loop (14.9s, estimated from 300 calls)`).
   */
  baseline?: Baseline;
}

/**
 * `calls` calls of the function took `seconds` in one plain loop, in one process; scaled to the
 * calls a run finishes (so a resumed or partial run compares like with like).
 */
export interface Baseline {
  seconds: number;
  calls: number;
  /** How it was found, printed with it (e.g. "estimated from 300 calls", "measured"). */
  how?: string;
}

/** Batches that must finish before a remaining time is shown: the first ones carry the start-up (scatter, module load) and are small on purpose. */
const MIN_BATCHES_FOR_ETA = 3;
/** The rate is measured over the completions of the last 10 s: it follows a run that speeds up or slows down without jumping with each batch. */
const RATE_WINDOW_MS = 10_000;
/** Most completions kept for that (bounds memory when tiny batches finish by the thousand). */
const MAX_SAMPLES = 1_000;

/** `1.58x a plain loop (14.9s, estimated from 300 calls)` for `done` calls in `elapsedS` (`0.80x …` when slower). */
export function speedupText(elapsedS: number, done: number, b: Baseline): string {
  const serial = b.calls > 0 ? (b.seconds / b.calls) * done : 0;
  const x = elapsedS > 0 ? serial / elapsedS : Infinity;
  return `${x.toFixed(2)}x a plain loop (${formatTime(serial)}${b.how ? `, ${b.how}` : ""})`;
}

/** joblib's `short_format_time`: `2.0s`, or `1.7min` from a minute on. */
export function formatTime(seconds: number): string {
  return seconds >= 60 ? `${(seconds / 60).toFixed(1)}min` : `${seconds.toFixed(1)}s`;
}

/** Parameters as the story prints them: `{ C: 10 }`. */
export function formatParams(params: unknown): string {
  return inspect(params, { depth: 4, breakLength: Infinity, compact: true, colors: false });
}

/** Reports one workload's progress (see {@link ProgressOptions}). */
export class Progress {
  private readonly level: number;
  private readonly log: (line: string) => void;
  private readonly t0: number;
  private bar: cliProgress.SingleBar | undefined;
  private done = 0;
  private nextMilestone = 1;
  private finished = false;
  /** (time, done) at the last completions, oldest first: the rate behind the remaining time. */
  private readonly samples: Array<[number, number]> = [];
  private readonly baseline: Baseline | undefined;

  constructor(
    opts: ProgressOptions,
    private total?: number,
    /** The clock, in ms (tests pass their own). */
    private readonly now: () => number = () => performance.now(),
  ) {
    this.t0 = now();
    this.level = opts.verbose === true ? 1 : opts.verbose ? Number(opts.verbose) : 0;
    this.log = opts.log ?? ((line) => process.stderr.write(line + "\n"));
    this.baseline = opts.baseline;
    if (opts.progress && process.stderr.isTTY) {
      this.bar = new (progressBars().SingleBar)(
        {
          stream: process.stderr,
          // An input of unknown length: a count, no bar or estimate (there is nothing to estimate from).
          format:
            total === undefined
              ? "{value} done | elapsed: {duration_formatted}"
              : "{bar} {percentage}% | {value}/{total} | elapsed: {duration_formatted} | remaining: {remaining}",
          hideCursor: true,
          clearOnComplete: false,
        },
        progressBars().Presets.shades_classic,
      );
    }
  }

  /** True when verbose lines are printed. */
  get verbose(): boolean {
    return this.level > 0;
  }

  /** Prints `text` when verbose. */
  line(text: string): void {
    if (this.level > 0) this.log(text);
  }

  /** `Using backend <name> with <n> concurrent workers.`, then starts the bar. */
  start(backendName: string, workers: number): void {
    this.line(`Using backend ${backendName} with ${workers} concurrent workers.`);
    this.bar?.start(this.total ?? 0, 0, { remaining: "…" });
  }

  /** The total became known (or grew: an input of unknown length pulled further). */
  setTotal(total: number): void {
    this.total = total;
    this.bar?.setTotal(total);
  }

  /** `n` more items finished. */
  add(n: number): void {
    this.done += n;
    const now = this.now();
    this.samples.push([now, this.done]);
    while (this.samples.length > MAX_SAMPLES || (this.samples.length > MIN_BATCHES_FOR_ETA && now - this.samples[1]![0] > RATE_WINDOW_MS)) this.samples.shift();
    if (this.bar) {
      const r = this.remaining();
      this.bar.update(this.done, { remaining: r === undefined ? "…" : formatTime(r) });
    }
    if (this.level === 0 || this.bar) return;
    const total = this.total;
    if (this.level >= 10 || this.done >= this.nextMilestone) {
      if (total !== undefined && this.done >= total) return; // finish() prints the last line
      this.log(this.doneLine());
      if (total !== undefined) {
        const step = Math.max(1, Math.ceil(total / 10));
        this.nextMilestone = (Math.floor(this.done / step) + 1) * step;
      } else {
        while (this.nextMilestone <= this.done) this.nextMilestone *= 2;
      }
    }
  }

  /** Stops the bar and prints the final `Done … finished` line. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.bar) {
      this.bar.update(this.done, { remaining: formatTime(0) });
      this.bar.stop();
    }
    const el = this.elapsed();
    const s = formatTime(el);
    const speedup = this.baseline && this.done > 0 ? ` | ${speedupText(el, this.done, this.baseline)}` : "";
    this.line((this.total !== undefined ? `Done ${this.done} out of ${this.total} | elapsed: ${s} finished` : `Done ${this.done} tasks | elapsed: ${s} finished`) + speedup);
  }

  /** Stops the bar without a final line (the run failed). */
  abort(): void {
    if (this.finished) return;
    this.finished = true;
    this.bar?.stop();
  }

  private elapsed(): number {
    return (this.now() - this.t0) / 1000;
  }

  private doneLine(): string {
    const el = this.elapsed();
    if (this.total === undefined) return `Done ${this.done} tasks | elapsed: ${formatTime(el)}`;
    const head = `Done ${this.done} out of ${this.total} | elapsed: ${formatTime(el)}`;
    const remaining = this.remaining();
    return remaining === undefined ? head : `${head} remaining: ${formatTime(remaining)}`;
  }

  /**
   * Seconds left at the rate of the last completions, or undefined while too few batches have
   * finished to tell (joblib, too, prints no estimate at first). The rate is measured from the first
   * completion on, never from the start: start-up time is not a per-item cost.
   */
  private remaining(): number | undefined {
    if (this.total === undefined || this.samples.length < MIN_BATCHES_FOR_ETA) return undefined;
    const [t0, d0] = this.samples[0]!;
    const [t1, d1] = this.samples.at(-1)!;
    const left = Math.max(0, this.total - this.done);
    if (d1 <= d0) return undefined;
    return (left * (t1 - t0)) / 1000 / (d1 - d0);
  }
}
