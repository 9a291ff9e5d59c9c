/**
 * `progress(futures)`, as Dask's: shows how many of the futures are done while they run, then
 * resolves. On a TTY (stdout by default), a live bar (cli-progress) with errors, rate and ETA; when the stream is not
 * a TTY (a log file, CI), a plain line every `intervalMs`; nothing at all with `silent`.
 *
 * Counting costs nothing per task when the futures are whole jobs (all of a `map` or `submit`
 * call): the job's own counters are read on a timer. A subset of a job is counted by a listener.
 *
 * @example
 * const futures = client.map(score, candidates);
 * await progress(futures);                       // [████████░░░░] 61% 61,000/100,000 · 12 errors · 8.1k/s · ETA 5s
 * const values = await client.gather(futures);
 */
import type { Writable } from "node:stream";
import type cliProgress from "cli-progress";
import { lazyRequire } from "../runtime/lazy.ts";

const progressBars = lazyRequire<typeof cliProgress>("cli-progress");
import type { Future } from "./future.ts";
import type { Job } from "./jobs.ts";

export interface ProgressOptions {
  /** Show nothing (default false). */
  silent?: boolean;
  /** Where to write (default process.stdout). */
  stream?: Writable;
  /** Text before the bar (default: the function's name). */
  label?: string;
  /** Force the live bar (true) or plain lines (false); default: a bar only on a TTY. */
  tty?: boolean;
  /** Period of plain lines when not on a TTY (default 2000 ms). */
  intervalMs?: number;
}

export interface ProgressSummary {
  total: number;
  done: number;
  errors: number;
  seconds: number;
}

interface Part {
  job: Job;
  /** Rows of the job among the futures; undefined when the futures cover the whole job. */
  rows?: Set<number>;
  done: number;
  errors: number;
  unlisten?: () => void;
}

/** Shows the progress of `futures` until all are done (finished, failed or cancelled). */
export async function progress(futures: Future<unknown> | readonly Future<unknown>[], opts: ProgressOptions = {}): Promise<ProgressSummary> {
  const list = Array.isArray(futures) ? (futures as readonly Future<unknown>[]) : [futures as Future<unknown>];
  const t0 = performance.now();
  const byJob = new Map<Job, number[]>();
  for (const f of list) {
    let l = byJob.get(f.job);
    if (!l) byJob.set(f.job, (l = []));
    l.push(f.index);
  }
  const parts: Part[] = [];
  const waits: Promise<void>[] = [];
  for (const [job, idx] of byJob) {
    const rows = new Set(idx);
    if (rows.size === job.size) {
      parts.push({ job, done: 0, errors: 0 });
      waits.push(job.done());
      continue;
    }
    // A subset: count its rows as they settle.
    const p: Part = { job, rows, done: 0, errors: 0 };
    for (const r of rows) if (job.status[r] !== 0) (p.done++, job.errors.has(r) && p.errors++);
    waits.push(
      new Promise<void>((resolve) => {
        if (p.done === rows.size) return resolve();
        p.unlisten = job.listen((j, i) => {
          if (!rows.has(i)) return;
          p.done++;
          if (j.errors.has(i)) p.errors++;
          if (p.done === rows.size) resolve();
        });
      }),
    );
    parts.push(p);
  }
  const total = parts.reduce((n, p) => n + (p.rows ? p.rows.size : p.job.size), 0);
  const count = () => {
    let done = 0;
    let errors = 0;
    for (const p of parts) {
      if (p.rows) (done += p.done), (errors += p.errors);
      else (done += p.job.size - p.job.remaining), (errors += p.job.errors.size);
    }
    return { done, errors };
  };
  const label = opts.label ?? ([...byJob.keys()][0]?.name || "tasks");
  const allDone = Promise.all(waits).then(() => {});
  const summary = (): ProgressSummary => ({ total, ...count(), seconds: (performance.now() - t0) / 1000 });

  if (opts.silent) {
    await allDone;
    for (const p of parts) p.unlisten?.();
    return summary();
  }
  const stream = opts.stream ?? process.stdout;
  const tty = opts.tty ?? (stream as { isTTY?: boolean }).isTTY === true;
  const rate = new Rate();
  try {
    if (tty) await showBar(stream, label, total, count, rate, allDone);
    else await showLines(stream, label, total, count, rate, allDone, opts.intervalMs ?? 2000, t0);
  } finally {
    for (const p of parts) p.unlisten?.();
  }
  return summary();
}

/** Tasks per second over the last few seconds. */
class Rate {
  private readonly samples: [number, number][] = [];
  update(done: number): number {
    const now = performance.now();
    this.samples.push([now, done]);
    while (this.samples.length > 2 && now - this.samples[0]![0] > 5000) this.samples.shift();
    const [t, d] = this.samples[0]!;
    return now - t > 0 ? ((done - d) * 1000) / (now - t) : 0;
  }
}

async function showBar(stream: Writable, label: string, total: number, count: () => { done: number; errors: number }, rate: Rate, allDone: Promise<void>) {
  const bar = new (progressBars().SingleBar)(
    {
      stream: stream as NodeJS.WritableStream,
      format: `${label} [{bar}] {percentage}% {value}/{total} · {errors} errors · {rate}/s · ETA {eta_formatted}`,
      hideCursor: true,
      clearOnComplete: false,
      barsize: 30,
      fps: 10,
      etaBuffer: 50,
      formatValue: (v: number, _o: unknown, type: string) => (type === "value" || type === "total" ? v.toLocaleString("en-US") : String(v)),
    },
    progressBars().Presets.shades_classic,
  );
  bar.start(total, 0, { errors: 0, rate: "0" });
  const tick = () => {
    const c = count();
    bar.update(c.done, { errors: c.errors, rate: short(rate.update(c.done)) });
  };
  const timer = setInterval(tick, 100);
  try {
    await allDone;
  } finally {
    clearInterval(timer);
    tick();
    bar.stop();
  }
}

async function showLines(stream: Writable, label: string, total: number, count: () => { done: number; errors: number }, rate: Rate, allDone: Promise<void>, intervalMs: number, t0: number) {
  const line = (final: boolean) => {
    const c = count();
    const r = rate.update(c.done);
    const pct = total ? Math.floor((c.done / total) * 100) : 100;
    const tail = final ? `in ${secs((performance.now() - t0) / 1000)}` : `${short(r)}/s · ETA ${r > 0 ? secs((total - c.done) / r) : "?"}`;
    stream.write(`${label}: ${c.done.toLocaleString("en-US")}/${total.toLocaleString("en-US")} (${pct}%) · ${c.errors} errors · ${tail}\n`);
  };
  line(false);
  const timer = setInterval(() => line(false), intervalMs);
  try {
    await allDone;
  } finally {
    clearInterval(timer);
    line(true);
  }
}

function short(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n));
}

function secs(s: number): string {
  if (!Number.isFinite(s)) return "?";
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)}s`;
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s`;
}
