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
  private readonly t0 = performance.now();
  private bar: cliProgress.SingleBar | undefined;
  private done = 0;
  private nextMilestone = 1;
  private finished = false;

  constructor(
    opts: ProgressOptions,
    private total?: number,
  ) {
    this.level = opts.verbose === true ? 1 : opts.verbose ? Number(opts.verbose) : 0;
    this.log = opts.log ?? ((line) => process.stderr.write(line + "\n"));
    if (opts.progress && process.stderr.isTTY) {
      this.bar = new (progressBars().SingleBar)(
        {
          stream: process.stderr,
          // An input of unknown length: a count, no bar or estimate (there is nothing to estimate from).
          format:
            total === undefined
              ? "{value} done | elapsed: {duration_formatted}"
              : "{bar} {percentage}% | {value}/{total} | elapsed: {duration_formatted} | remaining: {eta_formatted}",
          hideCursor: true,
          clearOnComplete: false,
          etaBuffer: 50,
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
    this.bar?.start(this.total ?? 0, 0);
  }

  /** The total became known (or grew: an input of unknown length pulled further). */
  setTotal(total: number): void {
    this.total = total;
    this.bar?.setTotal(total);
  }

  /** `n` more items finished. */
  add(n: number): void {
    this.done += n;
    this.bar?.update(this.done);
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
      this.bar.update(this.done);
      this.bar.stop();
    }
    const s = formatTime(this.elapsed());
    this.line(this.total !== undefined ? `Done ${this.done} out of ${this.total} | elapsed: ${s} finished` : `Done ${this.done} tasks | elapsed: ${s} finished`);
  }

  /** Stops the bar without a final line (the run failed). */
  abort(): void {
    if (this.finished) return;
    this.finished = true;
    this.bar?.stop();
  }

  private elapsed(): number {
    return (performance.now() - this.t0) / 1000;
  }

  private doneLine(): string {
    const el = this.elapsed();
    if (this.total === undefined) return `Done ${this.done} tasks | elapsed: ${formatTime(el)}`;
    const remaining = this.done > 0 ? (el / this.done) * (this.total - this.done) : 0;
    return `Done ${this.done} out of ${this.total} | elapsed: ${formatTime(el)} remaining: ${formatTime(remaining)}`;
  }
}
