/** The workloads suite on backend "local" (child processes of this machine, no NATS). */
import * as assert from "uvu/assert";
import { test } from "uvu";
import { delayed, LocalPool, parallel } from "../workloads/index.ts";
import { withTimeout } from "./helpers/cluster.ts";
import { workloadsSuite } from "./helpers/workloads-suite.ts";

workloadsSuite("local processes", async () => {
  const pool = await LocalPool.start({ nJobs: 2 });
  return { opts: { backend: pool }, close: () => pool.close() };
});

test('backend: "local" starts a pool for the call and stops it; a process that dies fails its batch and is replaced', async () => {
  const out = await withTimeout(parallel({ backend: "local", nJobs: 2 }, [1, 2, 3].map((x) => delayed((y: number) => y + 0.5)(x))), 60_000, "local call");
  assert.equal(out, [1.5, 2.5, 3.5]);
  const pool = await LocalPool.start({ nJobs: 1 });
  try {
    const res = await withTimeout(parallel({ backend: pool, batchSize: 1, errors: "return" }, [0, 1, 2].map((x) => delayed((y: number) => (y === 1 ? process.exit(3) : y))(x))), 60_000, "dying child");
    assert.is(res[0], 0);
    assert.match(String(res[1]), /KilledWorker|died while running a batch \(exit code 3\)/);
    assert.is(res[2], 2, "the replacement process ran the rest");
  } finally {
    await pool.close();
  }
});

test("a large value of one call only is released once its batch ran, not held to the end of the run", async () => {
  // 60 calls, each with its own 1 MB array (scattered for its size: too big to travel inside a
  // batch). Each call collects garbage in the child and returns the array memory still alive there.
  const N = 60;
  const MB = 1 << 20;
  const pool = await LocalPool.start({ nJobs: 1, execArgv: ["--expose-gc"] });
  try {
    const live = (c: number, big: Float64Array) => {
      (globalThis as unknown as { gc: () => void }).gc();
      return { c: c + big[0]!, arrayBuffers: process.memoryUsage().arrayBuffers };
    };
    const calls = function* () {
      for (let c = 0; c < N; c++) yield delayed(live)(c, new Float64Array(MB / 8));
    };
    const stats: { scattered?: number } = {};
    const out = await withTimeout(parallel({ backend: pool, batchSize: 1, stats }, calls()), 120_000, "60 calls with 1 MB each");
    assert.equal(out.map((o) => o.c), Array.from({ length: N }, (_, c) => c), "results unchanged");
    assert.is(stats.scattered, N, "each array was scattered (too big to travel inline)");
    const peak = Math.max(...out.map((o) => o.arrayBuffers));
    // Held to the end of the run, the child would hold them all by the last call (~60 MB).
    assert.ok(peak < 12 * MB, `the child held at most a few of them at once: peak ${(peak / MB).toFixed(1)} MB of array memory (all ${N}: ${N} MB)`);
  } finally {
    await pool.close();
  }
});

test("a large value every call shares is scattered once and kept, even when the first batch holds one call", async () => {
  const pool = await LocalPool.start({ nJobs: 2 });
  try {
    const ref = new Float64Array(1 << 17).fill(2); // 1 MB: scattered for its size by the first call
    const stats: { scattered?: number } = {};
    const out = await withTimeout(parallel({ backend: pool, batchSize: 1, stats }, Array.from({ length: 20 }, (_, c) => delayed((x: number, r: Float64Array) => x * r[0]! + r.length)(c, ref))), 60_000, "20 calls sharing 1 MB");
    assert.equal(out, Array.from({ length: 20 }, (_, c) => 2 * c + (1 << 17)));
    assert.is(stats.scattered, 1, "scattered once, not released and scattered again");
  } finally {
    await pool.close();
  }
});

test.run();
