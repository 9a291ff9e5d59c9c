/** Workloads: the pure parts (no processes): batching, packing, top-k, folds, scoring, checkpoints, progress lines. */
import { mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ArgPacker, AUTO_SCATTER_BYTES } from "../workloads/args.ts";
import { AutoBatcher, nextBatchSize } from "../workloads/batch-size.ts";
import type { Backend, PreparedFn } from "../workloads/backends/types.ts";
import { BitSet, Checkpoint } from "../workloads/best/checkpoint.ts";
import { TopK } from "../workloads/best/topk.ts";
import { delayed } from "../workloads/delayed.ts";
import { cvFitTask } from "../workloads/grid/cv-task.ts";
import { Engine, parsePreDispatch } from "../workloads/engine.ts";
import { kFold, stratifiedKFold } from "../workloads/grid/folds.ts";
import { expandGrid } from "../workloads/grid/param-grid.ts";
import { accuracy, f1Macro, f1Weighted, negMeanSquaredError, r2, resolveScoring } from "../workloads/grid/scoring.ts";
import { formatParams, formatTime, Progress, speedupText } from "../workloads/progress.ts";
import { runRows, type BatchOutput, type BatchPayload } from "../workloads/run-rows.ts";
import { estimateSize } from "../workloads/size.ts";

// --- an in-process backend (for the dispatcher's logic only; the real ones are tested with processes) ---
class InProcess implements Backend {
  readonly name = "in-process";
  scatteredValues: unknown[] = [];
  inFlight = 0;
  maxInFlight = 0;
  runs = 0;
  /** Batches wait here until released (to control completion order). */
  held: (() => void)[] = [];
  hold = false;
  constructor(private readonly n = 2) {}
  async workers() {
    return this.n;
  }
  async prepare(fn: Function): Promise<PreparedFn & { fn: Function }> {
    return { name: fn.name, fn };
  }
  async scatter(v: unknown) {
    this.scatteredValues.push(v);
    return this.scatteredValues.length - 1;
  }
  run(fn: PreparedFn, p: BatchPayload, refs: readonly unknown[]) {
    this.runs++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const values = refs.map((r) => this.scatteredValues[r as number]);
    let cancelled = false;
    const result = new Promise<BatchOutput>((resolve) => {
      const go = () => {
        this.inFlight--;
        resolve(runRows((fn as unknown as { fn: (...a: unknown[]) => unknown }).fn, p, values) as BatchOutput);
      };
      if (this.hold) this.held.push(go);
      else queueMicrotask(go);
    });
    return { result, cancel: () => void (cancelled = true) };
  }
  async close() {}
}

// --- batch size ---

test("AutoBatcher: starts at 1, converges to the target within a few batches, forgets a warm-up outlier", () => {
  const b = new AutoBatcher({ targetMs: 100 });
  assert.is(b.size, 1);
  b.observe(1, 5); // first call compiles: 5 ms
  b.observe(b.size, b.size * 0.2); // then 0.2 ms per call
  b.observe(b.size, b.size * 0.2);
  b.observe(b.size, b.size * 0.2);
  assert.ok(b.size >= 400 && b.size <= 500, `size ${b.size}`);
});

test("AutoBatcher: follows calls that get 10× slower, and grows at most ×16 per measurement", () => {
  const b = new AutoBatcher({ targetMs: 100 });
  b.observe(1, 0.001);
  assert.is(b.size, 16);
  for (let i = 0; i < 10; i++) b.observe(b.size, b.size * 0.2);
  assert.ok(Math.abs(b.size - 500) <= 5, `size ${b.size}`);
  for (let i = 0; i < 8; i++) b.observe(b.size, b.size * 2);
  assert.ok(b.size >= 45 && b.size <= 60, `size after slow-down ${b.size}`);
});

test("nextBatchSize: the tail of a known input is shared by all workers; payload caps apply", () => {
  assert.is(nextBatchSize(500, { remaining: 10_000, workers: 2 }), 500);
  assert.is(nextBatchSize(500, { remaining: 600, workers: 2 }), 300);
  assert.is(nextBatchSize(500, { remaining: 1, workers: 2 }), 1);
  assert.is(nextBatchSize(500, { workers: 2, maxItems: 40 }), 40);
});

test("parsePreDispatch: joblib expressions", () => {
  assert.is(parsePreDispatch(undefined, 4), 8);
  assert.is(parsePreDispatch("2*n_jobs", 4), 8);
  assert.is(parsePreDispatch("3 * n_jobs", 2), 6);
  assert.is(parsePreDispatch("n_jobs", 3), 3);
  assert.is(parsePreDispatch(5, 3), 5);
  assert.is(parsePreDispatch("7", 3), 7);
  assert.throws(() => parsePreDispatch("all", 2), /preDispatch/);
  assert.throws(() => parsePreDispatch(0, 2), /preDispatch/);
});

// --- sizes and packing ---

test("estimateSize: typed arrays by bytes, stops counting at the cap", () => {
  assert.ok(estimateSize(new Float64Array(1000)) >= 8000);
  assert.ok(estimateSize([1, 2, 3]) < 64);
  const big = Array.from({ length: 1_000_000 }, (_, i) => i);
  const t0 = performance.now();
  assert.ok(estimateSize(big, 1000) >= 1000);
  assert.ok(performance.now() - t0 < 20, "bounded");
  assert.ok(estimateSize({ a: "x".repeat(2000) }) > 2000);
});

test("ArgPacker: explicit scatter by identity, large shared args scattered once, small and unshared inline", async () => {
  const be = new InProcess();
  const ref = new Float64Array(10_000);
  const shared = Array.from({ length: 500 }, (_, i) => i); // ~4.5 kB, shared by calls
  const explicit = { big: "y".repeat(100) }; // small, but listed: scattered
  const p = new ArgPacker(be, { scatter: [explicit] });
  await p.start();
  assert.is(be.scatteredValues.length, 1);
  const lists = [0, 1, 2].map((i) => [i, ref, shared, explicit, [i, i]]);
  const packed = await p.pack(lists);
  assert.is(be.scatteredValues.length, 3, "ref and shared scattered once each");
  assert.equal(packed.payload.rows[1], [1, null, null, null, [1, 1]]);
  assert.is(packed.refs.length, 3);
  assert.is(packed.payload.holes!.length, 3 * 3 * 3);
  const again = await p.pack([[9, ref, shared, explicit, [9, 9]]]);
  assert.is(be.scatteredValues.length, 3, "no second scatter");
  assert.is(again.refs.length, 3);
  // runRows puts the values back
  const out = runRows((...a: unknown[]) => a.length, again.payload, again.refs.map((r) => be.scatteredValues[r as number])) as BatchOutput;
  assert.equal(out.v, [5]);
});

test("ArgPacker: a large argument used by one call travels with it unless above the inline limit", async () => {
  const be = new InProcess();
  const p = new ArgPacker(be);
  const mid = new Float64Array(AUTO_SCATTER_BYTES); // 8 kB, one call only
  const huge = new Float64Array(100_000); // 800 kB
  const packed = await p.pack([[mid], [huge]]);
  assert.is(be.scatteredValues.length, 1);
  assert.is(be.scatteredValues[0], huge);
  assert.is(packed.payload.rows[0]![0], mid);
  // seen again in a later batch: now shared → scattered
  await p.pack([[mid]]);
  assert.is(be.scatteredValues.length, 2);
  // autoScatter off
  const q = new ArgPacker(new InProcess(), { autoScatter: false });
  const r = await q.pack([[huge], [huge]]);
  assert.is(r.refs.length, 0);
});

// --- runRows ---

test("runRows: per-row errors, values kept for the others; async functions awaited in order", async () => {
  const out = runRows((x: unknown) => {
    if (x === 2) throw new TypeError("two");
    return (x as number) * 10;
  }, { rows: [[1], [2], [3]] }, []) as BatchOutput;
  assert.equal(out.v, [10, undefined, 30]);
  assert.is(out.e!.length, 1);
  assert.is(out.e![0]![0], 1);
  assert.is(out.e![0]![1], "TypeError");
  assert.is(out.e![0]![2], "two");
  const order: number[] = [];
  const asyncOut = await runRows(async (x: unknown) => {
    order.push(x as number);
    if (x === 1) throw new Error("one");
    return x;
  }, { rows: [[0], [1], [2]] }, []);
  assert.equal(order, [0, 1, 2]);
  assert.equal(asyncOut.v, [0, undefined, 2]);
  assert.is(asyncOut.e![0]![0], 1);
  const thrownString = runRows(() => {
    throw "plain";
  }, { rows: [[]] }, []) as BatchOutput;
  assert.match(thrownString.e![0]![2], /non-Error value was thrown: "plain"/);
});

// --- top-k ---

test("TopK: keeps the best k, ties by input index, NaN last, minimize", () => {
  const t = new TopK<string>(3, true);
  const items: [number, number][] = [[5, 4], [1, 0], [5, 2], [NaN, 1], [7, 9], [5, 3]];
  for (const [score, index] of items) t.offer({ candidate: `c${index}`, score, index });
  assert.equal(t.sorted().map((s) => s.index), [9, 2, 3]);
  const m = new TopK<string>(2, false);
  for (const [score, index] of items) m.offer({ candidate: "", score, index });
  assert.equal(m.sorted().map((s) => s.index), [0, 2]);
  const n = new TopK<string>(2, true);
  n.offer({ candidate: "", score: NaN, index: 0 });
  n.offer({ candidate: "", score: NaN, index: 1 });
  n.offer({ candidate: "", score: -Infinity, index: 5 });
  assert.equal(n.sorted().map((s) => s.index), [5, 0]);
});

// --- grid pieces ---

test("expandGrid: scikit-learn's order (sorted keys, last fastest), lists of grids", () => {
  assert.equal(expandGrid({ b: [1, 2], a: ["x", "y"] }), [
    { a: "x", b: 1 },
    { a: "x", b: 2 },
    { a: "y", b: 1 },
    { a: "y", b: 2 },
  ]);
  assert.equal(expandGrid([{ C: [1] }, { C: [10], k: [3, 4] }]), [{ C: 1 }, { C: 10, k: 3 }, { C: 10, k: 4 }]);
  assert.throws(() => expandGrid({ C: [] }), /non-empty/);
});

test("kFold / stratifiedKFold: partitions, balanced sizes and classes, seeded", () => {
  const f = kFold(10, 3, { seed: 1 });
  assert.equal(f.map((s) => s.test.length), [4, 3, 3]);
  const all = f.flatMap((s) => [...s.test]).sort((a, b) => a - b);
  assert.equal(all, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  for (const s of f) assert.is(s.train.length + s.test.length, 10);
  assert.equal(kFold(10, 3, { seed: 1 }), f, "same seed, same folds");
  assert.not.equal(kFold(10, 3, { seed: 2 }), f);
  assert.equal([...kFold(6, 3, { shuffle: false })[0]!.test], [0, 1]);
  const y = [...Array(30).fill(0), ...Array(15).fill(1), ...Array(6).fill(2)];
  const s = stratifiedKFold(y, 3, { seed: 0 });
  for (const fold of s) {
    const counts = [0, 1, 2].map((c) => [...fold.test].filter((i) => y[i] === c).length);
    assert.equal(counts, [10, 5, 2]);
  }
  assert.equal(s.map((x) => x.test.length), [17, 17, 17]);
  assert.throws(() => kFold(2, 3), /cannot make 3 folds/);
});

test("scoring: values as scikit-learn computes them", () => {
  const yt = [0, 1, 2, 0, 1, 2];
  const yp = [0, 2, 1, 0, 0, 1];
  // sklearn: accuracy 1/3; f1 per label [0.8, 0, 0]; weighted = macro = 0.2667
  assert.ok(Math.abs(accuracy(yt, yp) - 1 / 3) < 1e-12);
  assert.ok(Math.abs(f1Macro(yt, yp) - 0.26666666666666666) < 1e-12);
  assert.ok(Math.abs(f1Weighted(yt, yp) - 0.26666666666666666) < 1e-12);
  const a = [0, 0, 0, 0, 1, 1];
  const b = [0, 0, 1, 1, 1, 1];
  // sklearn f1_weighted([0,0,0,0,1,1],[0,0,1,1,1,1]) = 0.6666666666666666; f1_macro = 0.6666666666666666
  assert.ok(Math.abs(f1Weighted(a, b) - 0.6666666666666666) < 1e-12);
  assert.ok(Math.abs(f1Macro(a, b) - 0.6666666666666666) < 1e-12);
  assert.is(negMeanSquaredError([1, 2, 3], [1, 2, 5]), -4 / 3);
  // sklearn r2_score([3, -0.5, 2, 7], [2.5, 0.0, 2, 8]) = 0.9486081370449679
  assert.ok(Math.abs(r2([3, -0.5, 2, 7], [2.5, 0.0, 2, 8]) - 0.9486081370449679) < 1e-12);
  assert.is(resolveScoring("accuracy").classification, true);
  assert.is(resolveScoring("r2").classification, false);
  assert.throws(() => resolveScoring("auc" as never), /Option scoring = "auc" is not valid: expected one of accuracy, f1_weighted/);
});

// --- progress ---

test("progress: joblib-style lines, silent by default", () => {
  assert.is(formatTime(2.04), "2.0s");
  assert.is(formatTime(102), "1.7min");
  assert.is(formatParams({ C: 10 }), "{ C: 10 }");
  const lines: string[] = [];
  const p = new Progress({ verbose: true, log: (l) => lines.push(l) }, 15);
  p.start("ts-dask", 12);
  for (let i = 0; i < 15; i++) p.add(1);
  p.finish();
  assert.is(lines[0], "Using backend ts-dask with 12 concurrent workers.");
  assert.ok(lines.length >= 6 && lines.length <= 12, lines.join("\n"));
  assert.match(lines[3]!, /^Done \d+ out of 15 \| elapsed: \d+\.\ds remaining: \d+\.\ds$/);
  assert.match(lines.at(-1)!, /^Done 15 out of 15 \| elapsed: \d+\.\ds finished$/);
  const quiet: string[] = [];
  const q = new Progress({ log: (l) => quiet.push(l) }, 3);
  q.start("local", 2);
  q.add(3);
  q.finish();
  assert.equal(quiet, []);
  const unknown: string[] = [];
  const u = new Progress({ verbose: 1, log: (l) => unknown.push(l) });
  u.start("local", 2);
  for (let i = 0; i < 9; i++) u.add(1);
  u.finish();
  assert.equal(unknown.slice(1, 5), ["Done 1 tasks | elapsed: 0.0s", "Done 2 tasks | elapsed: 0.0s", "Done 4 tasks | elapsed: 0.0s", "Done 8 tasks | elapsed: 0.0s"]);
});

test("progress: no remaining time until a few batches finished, then the rate since the first completion", () => {
  let now = 0;
  const lines: string[] = [];
  const p = new Progress({ verbose: 10, log: (l) => lines.push(l) }, 25_000, () => now);
  p.start("ts-dask", 2);
  now = 700; // start-up (scatter, module load) and a first batch of one call: no estimate from that
  p.add(1);
  assert.is(lines.at(-1), "Done 1 out of 25000 | elapsed: 0.7s");
  now = 800;
  p.add(100);
  assert.is(lines.at(-1), "Done 101 out of 25000 | elapsed: 0.8s", "two batches: still no estimate");
  now = 900;
  p.add(100);
  // 200 calls in 0.2 s since the first completion: 1,000/s, 24,799 left
  assert.is(lines.at(-1), "Done 201 out of 25000 | elapsed: 0.9s remaining: 24.8s");
  for (let i = 0; i < 200; i++) {
    now += 100;
    p.add(100);
  }
  // 20.9 s in, the last 10 s at 1,000/s: 4,799 left
  assert.is(lines.at(-1), "Done 20201 out of 25000 | elapsed: 20.9s remaining: 4.8s");
  for (let i = 0; i < 40; i++) {
    now += 400;
    p.add(100); // slowed to 250/s: the window follows
  }
  assert.is(lines.at(-1), "Done 24201 out of 25000 | elapsed: 36.9s remaining: 3.2s");
});

test("progress: the closing line says how the run compares with a plain loop", () => {
  let now = 0;
  const lines: string[] = [];
  const p = new Progress({ verbose: true, log: (l) => lines.push(l), baseline: { seconds: 0.447, calls: 300, how: "estimated from 300 calls" } }, 10_000, () => now);
  p.start("ts-dask", 2);
  now = 9_400;
  p.add(10_000);
  p.finish();
  assert.is(lines.at(-1), "Done 10000 out of 10000 | elapsed: 9.4s finished | 1.59x a plain loop (14.9s, estimated from 300 calls)");
  assert.is(speedupText(20, 500, { seconds: 20, calls: 1000 }), "0.50x a plain loop (10.0s)", "scaled to the calls done");
});

// --- the dispatcher's windows ---

test("Engine: pre-dispatch bounds in-flight batches and read-ahead of a lazy input; results in order", async () => {
  const be = new InProcess(2);
  let pulled = 0;
  function* gen() {
    for (let i = 0; i < 1000; i++) {
      pulled++;
      yield delayed((x: number) => x + 1)(i);
    }
  }
  const e = new Engine(be, gen, { batchSize: 10, preDispatch: "2*n_jobs", ordered: true });
  let next = 0;
  let maxAhead = 0;
  for await (const b of e.run()) {
    for (const [k, i] of b.indices.entries()) {
      assert.is(i, next++);
      assert.is(b.out!.v[k], i + 1);
    }
    maxAhead = Math.max(maxAhead, pulled - next);
  }
  assert.is(next, 1000);
  assert.ok(be.maxInFlight <= 4, `in flight ${be.maxInFlight}`);
  assert.ok(maxAhead <= 10 * 8, `read ahead ${maxAhead}`);
  assert.is(e.stats.batches, 100);
});

test("Engine: input order with a bounded reorder window when an early batch is slow", async () => {
  const be = new InProcess(2);
  be.hold = true;
  const e = new Engine(be, Array.from({ length: 100 }, (_, i) => delayed((x: number) => x)(i)), { batchSize: 5, preDispatch: 4, ordered: true, reorderWindow: 6 });
  const it = e.run();
  const first = it.next();
  await new Promise((r) => setImmediate(r));
  assert.is(be.runs, 4, "pre-dispatch: 4 batches");
  // finish batches 1..3 but not 0: nothing may be handed out, and at most 6 batches may be dispatched
  const [b0, ...rest] = be.held.splice(0);
  for (const go of rest) go();
  await new Promise((r) => setImmediate(r));
  assert.ok(be.runs <= 6, `dispatched ${be.runs}`);
  b0!();
  be.hold = false;
  for (const go of be.held.splice(0)) go();
  const got: number[] = [...(await first).value!.indices];
  for await (const b of { [Symbol.asyncIterator]: () => it }) got.push(...b.indices);
  assert.equal(got, Array.from({ length: 100 }, (_, i) => i));
});

test("Engine: skip (checkpoints), mixed functions, and breaking out cancels", async () => {
  const be = new InProcess(2);
  const f = (x: number) => x;
  const g = (x: number) => -x;
  const calls = Array.from({ length: 20 }, (_, i) => delayed(i % 10 < 5 ? f : g)(i));
  const e = new Engine(be, calls, { batchSize: 4, skip: (i) => i % 2 === 0 });
  const seen = new Map<number, unknown>();
  for await (const b of e.run()) b.indices.forEach((i, k) => seen.set(i, b.out!.v[k]));
  assert.equal([...seen.keys()].sort((a, b) => a - b), [1, 3, 5, 7, 9, 11, 13, 15, 17, 19]);
  assert.is(seen.get(3), 3);
  assert.is(seen.get(7), -7);
  const lazy = new Engine(be, function* () {
    for (let i = 0; ; i++) yield delayed(f)(i);
  }, { batchSize: 3 });
  let n = 0;
  for await (const _ of lazy.run()) if (++n === 3) break; // an endless input: stops cleanly
  assert.is(n, 3);
});

// --- checkpoints ---

test("Checkpoint: records, replays, drops a torn tail, refuses another study", () => {
  const dir = mkdtempSync(join(tmpdir(), "ckpt-"));
  try {
    const header = { fn: "f", args: "a", k: 2, maximize: true };
    const c = Checkpoint.open<string>("s1", dir, header);
    assert.is(c.resumed, 0);
    c.record([0, 1, 2], [{ candidate: "zero", score: 1, index: 0 }, { candidate: "two", score: 3, index: 2 }]);
    c.record([5, 3], [{ candidate: "five", score: NaN, index: 5 }]);
    c.close();
    const file = join(dir, "s1.ckpt");
    const size = statSync(file).size;
    writeFileSync(file, Buffer.concat([readFileSync(file), Buffer.from([200, 0, 0, 0, 1, 2])])); // a torn frame
    const d = Checkpoint.open<string>("s1", dir, header);
    assert.is(d.resumed, 5);
    assert.ok(d.done.has(3) && d.done.has(5) && !d.done.has(4));
    assert.equal(d.admitted.map((s) => s.candidate), ["zero", "two", "five"]);
    assert.ok(Number.isNaN(d.admitted[2]!.score));
    d.record([4], []);
    d.close();
    assert.ok(statSync(file).size > size && statSync(file).size < size + 6 + 20, "torn tail replaced");
    assert.is(Checkpoint.open("s1", dir, header).resumed, 6);
    assert.throws(() => Checkpoint.open("s1", dir, { ...header, k: 3 }), /CheckpointMismatch|different run: k differ/);
    truncateSync(file, 2);
    assert.is(Checkpoint.open("s1", dir, header).resumed, 0, "a file torn inside its header starts afresh");
    assert.throws(() => Checkpoint.open("../x", dir, header), /checkpoint/);
    const bits = new BitSet();
    bits.add(1_000_000);
    bits.add(1_000_000);
    assert.is(bits.count, 1);
    assert.ok(bits.has(1_000_000) && !bits.has(999_999));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("delayed() of a non-function and an estimator without predict or score are refused under their table codes", async () => {
  try {
    delayed(42 as unknown as () => number);
    assert.unreachable("delayed(42) was accepted");
  } catch (e) {
    assert.is((e as { code?: string }).code, "BadOption");
    assert.match((e as Error).message, "delayed(fn)");
  }
  const req = { train: Uint32Array.of(0, 1), test: Uint32Array.of(2), mode: "auto" as const, trainScores: false };
  const fitOnly = () => ({ fit() {} });
  const e = await cvFitTask(fitOnly as never, {}, req, [[0], [1], [2]], [0, 1, 2]).catch((x: unknown) => x);
  assert.is((e as { code?: string }).code, "BadEstimator");
  assert.match((e as Error).message, "neither predict(X) nor score(X, y)");
});

test.run();
