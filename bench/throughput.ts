/**
 * bench/throughput: client.map of 10^5 and 10^6 trivial tasks on `ts-dask up --nprocs 2`,
 * gathered in order → tasks/s. Sizes alternate within each round; medians of BENCH_RUNS rounds.
 * Cluster start-up is excluded. Also the CPU each process spent per task (µs; median). Bar (issue #2): ≥ 100,000 tasks/s (Dask: ~430 tasks/s here).
 */
import { loadavg } from "node:os";
import { Client } from "../index.ts";
import { median, report, runs, startUp, upRoles } from "./lib.ts";
import { delta, sample } from "./lib-workloads/proc-cpu.ts";

const sizes = (process.env.BENCH_SIZES ?? "100000,1000000").split(",").map(Number);
const up = await startUp(["--nprocs", "2"]);
const client = await Client.connect(up.url, { cluster: up.cluster });
try {
  const inc = (x: number) => x + 1;
  await client.gather(client.map(inc, [1, 2, 3])); // ship the function once, warm up
  const rates: Record<number, number[]> = Object.fromEntries(sizes.map((n) => [n, []]));
  const cpuUs: Record<number, Record<string, number[]>> = Object.fromEntries(sizes.map((n) => [n, {}]));
  const roles = upRoles(up.proc.pid);
  const load = [loadavg()[0]!];
  for (let r = 0; r < runs(); r++) {
    for (const n of r % 2 ? [...sizes].reverse() : sizes) {
      const xs = Array.from({ length: n }, (_, i) => i);
      const before = sample(roles);
      const t0 = performance.now();
      const out = await client.gather(client.map(inc, xs));
      const s = (performance.now() - t0) / 1000;
      if (out.length !== n || out[n - 1] !== n) throw new Error("wrong results");
      rates[n]!.push(n / s);
      for (const [k, v] of Object.entries(delta(before, sample(roles)))) (cpuUs[n]![k] ??= []).push((v / n) * 1e6);
    }
  }
  load.push(loadavg()[0]!);
  const info = await client.info();
  report({
    bench: "throughput",
    executors: 2,
    runs: runs(),
    tasksPerSecond: Object.fromEntries(sizes.map((n) => [n, Math.round(median(rates[n]!))])),
    allRuns: Object.fromEntries(sizes.map((n) => [n, rates[n]!.map(Math.round)])),
    cpuUsPerTask: Object.fromEntries(sizes.map((n) => [n, Object.fromEntries(Object.entries(cpuUs[n]!).map(([k, v]) => [k, +median(v).toFixed(2)]))])),
    loadAverage: load.map((x) => +x.toFixed(1)),
    schedulerBytesPerQueuedTask: info.tasks.bytesPerTask,
    bar: { tasksPerSecond: 100_000 },
  });
} finally {
  await client.close();
  await up.stop();
}
