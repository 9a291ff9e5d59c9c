/**
 * bench/throughput: client.map of 10^5 and 10^6 trivial tasks on `ts-dask up --nprocs 2`,
 * gathered in order → tasks/s. Sizes alternate within each round; medians of BENCH_RUNS rounds.
 * Cluster start-up is excluded. Bar (issue #2): ≥ 100,000 tasks/s (Dask: ~430 tasks/s here).
 */
import { Client } from "../index.ts";
import { median, report, runs, startUp } from "./lib.ts";

const sizes = (process.env.BENCH_SIZES ?? "100000,1000000").split(",").map(Number);
const up = await startUp(["--nprocs", "2"]);
const client = await Client.connect(up.url, { cluster: up.cluster });
try {
  const inc = (x: number) => x + 1;
  await client.gather(client.map(inc, [1, 2, 3])); // ship the function once, warm up
  const rates: Record<number, number[]> = Object.fromEntries(sizes.map((n) => [n, []]));
  for (let r = 0; r < runs(); r++) {
    for (const n of r % 2 ? [...sizes].reverse() : sizes) {
      const xs = Array.from({ length: n }, (_, i) => i);
      const t0 = performance.now();
      const out = await client.gather(client.map(inc, xs));
      const s = (performance.now() - t0) / 1000;
      if (out.length !== n || out[n - 1] !== n) throw new Error("wrong results");
      rates[n]!.push(n / s);
    }
  }
  const info = await client.info();
  report({
    bench: "throughput",
    executors: 2,
    runs: runs(),
    tasksPerSecond: Object.fromEntries(sizes.map((n) => [n, Math.round(median(rates[n]!))])),
    allRuns: Object.fromEntries(sizes.map((n) => [n, rates[n]!.map(Math.round)])),
    schedulerBytesPerQueuedTask: info.tasks.bytesPerTask,
    bar: { tasksPerSecond: 100_000 },
  });
} finally {
  await client.close();
  await up.stop();
}
