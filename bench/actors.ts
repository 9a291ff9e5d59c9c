/**
 * bench/actors: user actors (issue 14) on `ts-dask up --nprocs 2`, the client in this process:
 * - sequential call → answer latency (p50/p99 ms) of a trivial method, and the same through
 *   `submit` for comparison (a task round trip passes the scheduler, a call does not);
 * - throughput: 20,000 calls issued at once (batched per client per turn of the event loop).
 * Medians over BENCH_RUNS rounds (default 5).
 */
import { Client } from "../index.ts";
import { median, percentile, report, runs, startUp } from "./lib.ts";

const N = Number(process.env.BENCH_N ?? 1000);
const BURST = Number(process.env.BENCH_BURST ?? 20_000);

class Counter {
  n = 0;
  add(k: number) {
    return (this.n += k);
  }
}

const up = await startUp(["--nprocs", "2"]);
const client = await Client.connect(up.url, { cluster: up.cluster });
try {
  const c = await client.actor(Counter, []);
  const id = (x: number) => x;
  for (let i = 0; i < 200; i++) (await c.add(0), await client.submit(id, i).result()); // warm up
  const callP50: number[] = [];
  const callP99: number[] = [];
  const taskP50: number[] = [];
  const perSec: number[] = [];
  for (let r = 0; r < runs(); r++) {
    const calls: number[] = [];
    const tasks: number[] = [];
    for (let i = 0; i < N; i++) {
      let t0 = performance.now();
      await c.add(1);
      calls.push(performance.now() - t0);
      t0 = performance.now();
      await client.submit(id, i).result();
      tasks.push(performance.now() - t0);
    }
    callP50.push(percentile(calls, 50));
    callP99.push(percentile(calls, 99));
    taskP50.push(percentile(tasks, 50));
    const t0 = performance.now();
    const out = await Promise.all(Array.from({ length: BURST }, () => c.add(1)));
    perSec.push(BURST / ((performance.now() - t0) / 1000));
    if (out[BURST - 1]! - out[0]! !== BURST - 1) throw new Error("calls ran out of order");
  }
  report({
    bench: "actors",
    sequentialCalls: N,
    burst: BURST,
    runs: runs(),
    callP50Ms: +median(callP50).toFixed(3),
    callP99Ms: +median(callP99).toFixed(3),
    submitP50Ms: +median(taskP50).toFixed(3),
    callsPerSecond: Math.round(median(perSec)),
    allRuns: { callP50: callP50.map((x) => +x.toFixed(3)), callP99: callP99.map((x) => +x.toFixed(3)), submitP50: taskP50.map((x) => +x.toFixed(3)), callsPerSecond: perSec.map(Math.round) },
  });
} finally {
  await client.close();
  await up.stop();
}
