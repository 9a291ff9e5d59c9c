/**
 * The workloads test suite, run against each backend (test/workloads-local.test.ts,
 * test/workloads-cluster.test.ts): the same code must behave the same on local processes and on
 * the cluster.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Client } from "../../client/client.ts";
import { best, delayed, gridSearchCV, importModule, ItemError, parallel, parallelStream, withBackend, type BackendOptions, type BestStats, type EngineStats } from "../../workloads/index.ts";
import { withTimeout } from "./cluster.ts";

type Procs = typeof import("../fixtures/workloads/procs.ts");
type Models = typeof import("../fixtures/workloads/models.ts");

export interface WorkloadsCtx {
  opts: BackendOptions;
  client?: Client;
  procs: Procs;
  models: Models;
  close(): Promise<void>;
}

const T = 120_000;

/** Registers and runs the suite `name` on the backend `open()` makes. */
export function workloadsSuite(name: string, open: () => Promise<Pick<WorkloadsCtx, "opts" | "client" | "close">>): void {
  const s = suite<WorkloadsCtx>(`workloads on ${name}`);
  s.before(async (ctx) => {
    Object.assign(ctx, await withTimeout(open(), 60_000, `${name} backend to start`));
    ctx.procs = await importModule<Procs>("../fixtures/workloads/procs.ts", { from: import.meta.url });
    ctx.models = await importModule<Models>("../fixtures/workloads/models.ts", { from: import.meta.url });
  });
  s.after(async (ctx) => {
    await ctx.close?.();
  });

  s("parallel: an array of calls → results in input order, many calls per task", async ({ opts }) => {
    const stats: Partial<EngineStats> = {};
    const f = (x: number, k: number) => x * 2 + k;
    const out = await withTimeout(parallel({ ...opts, stats }, Array.from({ length: 5000 }, (_, i) => delayed(f)(i, 1))), T, "parallel 5000");
    assert.is(out.length, 5000);
    for (let i = 0; i < 5000; i++) if (out[i] !== i * 2 + 1) assert.unreachable(`out[${i}] = ${out[i]}`);
    assert.is(stats.calls, 5000);
    assert.ok(stats.batches! < 200, `auto batching: ${stats.batches} batches for 5000 trivial calls`);
    assert.ok(stats.maxBatch! > 50, `largest batch ${stats.maxBatch}`);
  });

  s("parallel: generator functions, generators and async generators; module exports by reference", async ({ opts, procs }) => {
    const n = 300;
    const want = Array.from({ length: n }, (_, i) => i * i + 1);
    const fromGenFn = await withTimeout(parallel(opts, function* () {
      for (let i = 0; i < n; i++) if (i !== 13) yield delayed(procs.square)(i, 1);
    }), T, "generator function");
    assert.equal(fromGenFn, want.filter((_, i) => i !== 13));
    const fromAsync = await withTimeout(parallel(opts, (async function* () {
      for (let i = 0; i < n; i++) {
        if (i % 50 === 0) await Promise.resolve();
        if (i !== 13) yield delayed(procs.square)(i, 1);
      }
    })()), T, "async generator");
    assert.equal(fromAsync, fromGenFn);
    const mixed = await withTimeout(parallel(opts, [delayed(procs.square)(3), delayed((s: string) => s.toUpperCase())("x"), delayed(procs.square)(4, 2)]), T, "mixed functions");
    assert.equal(mixed, [9, "X", 18]);
  });

  s("parallel: an item's error is that item's (errors: 'return'); 'raise' throws the first failing item's ItemError", async ({ opts, procs }) => {
    const calls = () => Array.from({ length: 40 }, (_, i) => delayed(procs.square)(i));
    const out = await withTimeout(parallel({ ...opts, batchSize: 8, errors: "return" }, calls()), T, "errors: return");
    for (let i = 0; i < 40; i++) {
      if (i === 13) {
        const e = out[i] as ItemError;
        assert.instance(e, ItemError);
        assert.is(e.index, 13);
        assert.is(e.remoteName, "RangeError");
        assert.match(e.message, /Item 13 \(square\) failed on \S+: RangeError: unlucky 13/);
        assert.match(e.remoteStack, /unlucky 13/);
      } else assert.is(out[i], i * i);
    }
    try {
      await withTimeout(parallel({ ...opts, batchSize: 8 }, calls()), T, "errors: raise");
      assert.unreachable("should throw");
    } catch (e) {
      assert.instance(e, ItemError);
      assert.is((e as ItemError).index, 13);
    }
  });

  s("parallel: batchSize and preDispatch bound how far a lazy input is read ahead", async ({ opts }) => {
    let pulled = 0;
    let consumed = 0;
    let maxAhead = 0;
    const stats: Partial<EngineStats> = {};
    const gen = function* () {
      for (let i = 0; i < 2000; i++) {
        pulled++;
        yield delayed((x: number) => x)(i);
      }
    };
    for await (const v of parallelStream({ ...opts, batchSize: 10, preDispatch: "2*n_jobs", nJobs: 2, stats }, gen)) {
      assert.is(v, consumed++);
      maxAhead = Math.max(maxAhead, pulled - consumed);
    }
    assert.is(consumed, 2000);
    assert.is(stats.preDispatch, 4);
    assert.is(stats.batches, 200);
    // at most: pre-dispatch (4) batches in flight + the reorder window (8) of batches not yet handed out
    assert.ok(maxAhead <= 10 * 12, `read ahead ${maxAhead} items`);
  });

  s("parallel: scatter by identity (a Float64Array arrives as one), large shared arguments scattered automatically", async ({ opts, procs, client }) => {
    const data = Float64Array.from({ length: 200_000 }, (_, i) => i / 2);
    const stats: Partial<EngineStats> = {};
    const out = await withTimeout(parallel({ ...opts, scatter: [data], stats }, Array.from({ length: 500 }, (_, i) => delayed(procs.probe)(i * 7, data))), T, "scatter");
    for (let i = 0; i < 500; i++) assert.equal(out[i], ["[object Float64Array]", 200_000, ((i * 7) % 200_000) / 2]);
    assert.is(stats.scattered, 1);
    const shared = Array.from({ length: 300 }, (_, i) => i); // ~2.7 kB, shared by every call
    const auto: Partial<EngineStats> = {};
    const sums = await withTimeout(parallel({ ...opts, stats: auto }, Array.from({ length: 200 }, (_, i) => delayed((k: number, xs: number[]) => xs[k]! + xs.length)(i, shared))), T, "auto scatter");
    assert.equal(sums, Array.from({ length: 200 }, (_, i) => i + 300));
    assert.is(auto.scattered, 1);
    const small: Partial<EngineStats> = {};
    await withTimeout(parallel({ ...opts, stats: small }, Array.from({ length: 50 }, (_, i) => delayed((k: number, xs: number[]) => xs[k])(i % 3, [1, 2, 3]))), T, "small args");
    assert.is(small.scattered, 0);
    if (client) {
      // fetched once per executor, not once per task
      const info = await client.info();
      for (const e of info.workers.flatMap((w) => w.executors)) assert.ok(e.dataFetches <= 3, `${e.name} fetched ${e.dataFetches} values`);
    }
  });

  s("parallelStream: input order with uneven async calls; breaking out stops the run", async ({ opts, procs }) => {
    const got: number[] = [];
    for await (const v of parallelStream({ ...opts, batchSize: 3 }, Array.from({ length: 120 }, (_, i) => delayed(procs.slowEcho)(i)))) got.push(v);
    assert.equal(got, Array.from({ length: 120 }, (_, i) => i));
    let n = 0;
    for await (const _ of parallelStream(opts, function* () {
      for (let i = 0; ; i++) yield delayed((x: number) => x)(i);
    })) if (++n === 1000) break;
    assert.is(n, 1000);
  });

  s("withBackend: the same code moves with one switch; functions that cannot travel are refused up front", async ({ opts }) => {
    const out = await withTimeout(withBackend(opts, () => parallel({}, [1, 2, 3].map((x) => delayed((y: number) => -y)(x)))), T, "withBackend");
    assert.equal(out, [-1, -2, -3]);
    const factor = 3;
    try {
      await parallel(opts, [delayed((x: number) => x * factor)(1)]);
      assert.unreachable("should refuse a closure");
    } catch (e) {
      assert.match((e as Error).message, /uses 'factor' from its surrounding scope/);
    }
  });

  s("best: streaming top-k, ties broken by input index, maximize and minimize, errors skipped on request", async ({ opts, procs }) => {
    const stats: BestStats = {};
    const top = await withTimeout(best(function* () {
      for (let i = 0; i < 3000; i++) yield i;
    }, procs.tieScore, { ...opts, k: 4, stats }), T, "best ties");
    assert.equal(top.map((t) => t.index), [9, 19, 29, 39]);
    assert.equal(top.map((t) => t.candidate), [9, 19, 29, 39]);
    assert.ok(top.every((t) => t.score === 9));
    assert.is(stats.scored, 3000);
    const target = Float64Array.from([1, 2, 3]);
    const cands = Array.from({ length: 500 }, (_, i) => [i % 5, (i * 3) % 7, (i * 11) % 13]);
    const near = await withTimeout(best(cands, procs.distance, { ...opts, args: [target], k: 2, maximize: false }), T, "best minimize");
    const local = cands.map((c, index) => ({ index, score: Math.hypot(c[0]! - 1, c[1]! - 2, c[2]! - 3) })).sort((a, b) => a.score - b.score || a.index - b.index);
    assert.equal(near.map((t) => t.index), local.slice(0, 2).map((t) => t.index));
    const skipStats: BestStats = {};
    const skipping = await withTimeout(best([10, 13, 12], (c: number) => {
      if (c === 13) throw new Error("bad candidate");
      return c;
    }, { ...opts, errors: "skip", stats: skipStats }), T, "best skip");
    assert.equal(skipping.map((t) => t.candidate), [12]);
    assert.is(skipStats.failed, 1);
    try {
      await best([1, 2], (c: number) => (c === 2 ? ("two" as unknown as number) : c), opts);
      assert.unreachable("a non-number score");
    } catch (e) {
      assert.match((e as Error).message, /returned "two", not a number/);
    }
  });

  s("gridSearchCV: every candidate × fold fitted, cvResults, ranking, refit; estimator.score; errorScore", async ({ opts, models }) => {
    // two well-separated classes in 2-D
    const X: number[][] = [];
    const y: number[] = [];
    for (let i = 0; i < 60; i++) {
      const c = i % 2;
      X.push([c * 4 + Math.sin(i) * 0.8, c * 4 + Math.cos(i * 1.3) * 0.8]);
      y.push(c);
    }
    const lines: string[] = [];
    const stats: Partial<EngineStats> = {};
    const cv = await withTimeout(gridSearchCV(models.makeCentroid, { shrink: [1, 0.5, 0] }, X, y, {
      ...opts,
      cv: 3,
      scoring: "f1_weighted",
      returnTrainScore: true,
      verbose: true,
      log: (l) => lines.push(l),
      stats,
    }), T, "grid search");
    assert.is(stats.batches, 9, "one task per fit");
    assert.is(cv.nSplits, 3);
    assert.equal(cv.cvResults.params, [{ shrink: 1 }, { shrink: 0.5 }, { shrink: 0 }]);
    assert.is(cv.cvResults.splitTestScores[2]!.length, 3);
    assert.ok(cv.cvResults.meanTestScore[2]! > 0.95);
    assert.ok(cv.cvResults.meanTestScore[0]! < 0.5, "shrink 1: every centroid is the mean");
    assert.equal(cv.cvResults.rankTestScore.slice(0, 1), [3]);
    assert.equal(cv.bestParams, { shrink: 0.5 }, "ties rank by position: 0.5 comes before 0");
    assert.ok(cv.cvResults.meanTrainScore!.length === 3);
    assert.is(lines[0], "Fitting 3 folds for each of 3 candidates, totalling 9 fits");
    assert.match(lines[1]!, /^Using backend (ts-dask|local) with \d+ concurrent workers\.$/);
    assert.match(lines.join("\n"), /Done \d+ out of 9 \| elapsed: \d+\.\ds remaining: \d+\.\ds/);
    assert.is(lines.at(-2), "Best params: { shrink: 0.5 }");
    assert.match(lines.at(-1)!, /^Best score: 0\.9\d*|^Best score: 1$/);
    assert.equal(Array.from(await cv.bestEstimator!.predict!([[0, 0], [4, 4]])), [0, 1], "refitted on all data, here");
    const reg = await withTimeout(gridSearchCV(models.makeMeanRegressor, { offset: [2, 0, -1] }, X, X.map((r) => r[0]!), { ...opts, cv: 4, refit: false }), T, "estimator.score");
    assert.is(reg.scorer, "estimator.score");
    assert.equal(reg.bestParams, { offset: 0 });
    assert.is(reg.bestEstimator, undefined);
    const fragile = await withTimeout(gridSearchCV(models.makeFragile, { bad: [true, false] }, X, y, { ...opts, cv: 2, errorScore: NaN, scoring: "accuracy" }), T, "errorScore");
    assert.ok(Number.isNaN(fragile.cvResults.meanTestScore[0]!));
    assert.equal(fragile.bestParams, { bad: false });
    try {
      await gridSearchCV(models.makeFragile, { bad: [true] }, X, y, { ...opts, cv: 2 });
      assert.unreachable("errorScore raise");
    } catch (e) {
      assert.match((e as Error).message, /Fitting the estimator with \{ bad: true \} on fold \d failed: .*cannot fit this one/);
    }
  });

  s.run();
}
