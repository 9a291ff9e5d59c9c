/**
 * The story's brute force: score every candidate (a lazy input of 10^5–10^6 is fine), keep the
 * best k. Streaming: memory holds the batches in flight and the top k, never the input.
 */
import { sha256Hex } from "../../runtime/shipping/hash.ts";
import { toFnDef } from "../../runtime/shipping/index.ts";
import { effectiveOptions, openBackend, type BackendOptions } from "../backends/resolve.ts";
import { delayed, type Delayed } from "../delayed.ts";
import { Engine, knownLength, type CallSource, type DispatchOptions, type EngineStats } from "../engine.ts";
import { Errors } from "../../runtime/errors.ts";
import { outcomes } from "../parallel.ts";
import { Checkpoint, defaultCheckpointDir, hashValues } from "./checkpoint.ts";
import { TopK, type Scored } from "./topk.ts";

export type { Scored } from "./topk.ts";

/** Counters of a {@link best} run. */
export interface BestStats extends Partial<EngineStats> {
  /** Candidates finished by earlier runs (read from the checkpoint) and skipped. */
  resumed?: number;
  /** Candidates scored by this run. */
  scored?: number;
  /** Candidates whose scoring failed (with `errors: "skip"`). */
  failed?: number;
}

/** Options of {@link best}. */
export interface BestOptions<A extends readonly unknown[] = unknown[]> extends BackendOptions, DispatchOptions {
  /** Arguments passed after the candidate to every call (large ones are scattered once). */
  args?: A;
  /** How many to keep (default 1). */
  k?: number;
  /** Highest score wins (default true); false: lowest wins. */
  maximize?: boolean;
  /**
   * Keep finished results under this name (a file in `$TSDASK_CHECKPOINT_DIR`, default
   * `.tsdask/checkpoints/`), so that a rerun after a crash skips them. The input must come in the
   * same order each run (positions identify candidates).
   */
  checkpoint?: string | { name: string; dir?: string };
  /** `"raise"` (default): a failing candidate stops the run; `"skip"`: it is left out. */
  errors?: "raise" | "skip";
  /** Filled in with the run's counters. */
  stats?: BestStats;
}

/**
 * Scores every candidate with `scoreFn(candidate, ...args)` and returns the best `k` as
 * `{ candidate, score, index }`, best first; equal scores are ordered by input position.
 *
 * @example
 * const top = await best(candidates(), procs.score, { args: [refData], k: 10, checkpoint: "study-1", client });
 * @throws the first failing candidate's ItemError (unless `errors: "skip"`); `CheckpointMismatch`
 *   when the named checkpoint belongs to another study.
 */
export async function best<C, A extends readonly unknown[] = unknown[]>(
  candidates: CallSource<C>,
  scoreFn: (candidate: C, ...args: A) => number | Promise<number>,
  opts: BestOptions<A> = {},
): Promise<Scored<C>[]> {
  const o = effectiveOptions(opts);
  const k = o.k ?? 1;
  if (!Number.isInteger(k) || k < 1) throw Errors.BadOption("k", k, "an integer ≥ 1");
  const maximize = o.maximize ?? true;
  const args = (o.args ?? []) as unknown as A;
  const top = new TopK<C>(k, maximize);
  let ckpt: Checkpoint<C> | undefined;
  if (o.checkpoint) {
    const { name, dir } = typeof o.checkpoint === "string" ? { name: o.checkpoint, dir: undefined } : o.checkpoint;
    const def = toFnDef(scoreFn).fn;
    const fnId = def.kind === "src" ? sha256Hex(def.name, def.source) : def.hash;
    ckpt = Checkpoint.open<C>(name, dir ?? defaultCheckpointDir(), { fn: fnId, args: hashValues(args), k, maximize });
    for (const s of ckpt.admitted) top.offer(s);
  }
  const stats: BestStats = { resumed: ckpt?.resumed ?? 0, scored: 0, failed: 0 };
  const call = delayed(scoreFn as unknown as (c: C, ...a: unknown[]) => number);
  const source = mapSource(candidates, (c) => call(c, ...args));
  const length = knownLength(candidates);
  const { backend, release } = await openBackend(o);
  const engine = new Engine(backend, source, {
    ...o,
    total: o.total !== undefined || length !== undefined ? (o.total ?? length!) - (ckpt?.resumed ?? 0) : undefined,
    skip: ckpt ? (i) => ckpt.done.has(i) : undefined,
  });
  if (ckpt?.resumed) engine.progress.line(`Resuming checkpoint '${ckpt.file}': ${ckpt.resumed} candidates already scored`);
  try {
    for await (const b of engine.run()) {
      const admitted: Scored<C>[] = [];
      let pos = -1;
      for (const [index, value, error] of outcomes(b)) {
        pos++;
        let err: Error | undefined = error;
        if (!err && typeof value !== "number") err = Errors.NotAScore(value);
        if (err) {
          if (o.errors !== "skip") throw err;
          stats.failed!++;
          continue;
        }
        stats.scored!++;
        const s = value as number;
        if (top.admits(s, index)) {
          const item = { candidate: b.calls[pos]!.args[0] as C, score: s, index };
          top.offer(item);
          admitted.push(item);
        }
      }
      ckpt?.record(b.indices, admitted);
    }
    return top.sorted();
  } finally {
    ckpt?.close();
    if (opts.stats) Object.assign(opts.stats, engine.stats, stats);
    await release();
  }
}

/** Maps a (lazy, possibly async) source item by item, keeping it lazy. */
function mapSource<C>(src: CallSource<C>, f: (c: C) => Delayed): CallSource<Delayed> {
  const s = typeof src === "function" ? src() : src;
  if (typeof (s as AsyncIterable<C>)[Symbol.asyncIterator] === "function") {
    return (async function* () {
      for await (const c of s as AsyncIterable<C>) yield f(c);
    })();
  }
  return (function* () {
    for (const c of s as Iterable<C>) yield f(c);
  })();
}
