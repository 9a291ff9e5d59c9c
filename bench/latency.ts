/**
 * bench/latency: 1,000 sequential submit → result round trips of a trivial task on
 * `ts-dask up --nprocs 2` → p50/p99 in ms (median over BENCH_RUNS rounds), and the CPU each
 * process spent per round trip (µs; client, up's scheduler+supervisor, executors, nats-server).
 * Bar (issue #2): p50 ≤ 1 ms (Dask: 11 ms).
 */
import { loadavg } from "node:os";
import { Client } from "../index.ts";
import { median, percentile, report, runs, startUp, upRoles } from "./lib.ts";
import { delta, sample } from "./lib-workloads/proc-cpu.ts";

const N = Number(process.env.BENCH_N ?? 1000);
const up = await startUp(["--nprocs", "2"]);
const client = await Client.connect(up.url, { cluster: up.cluster });
try {
  const id = (x: number) => x;
  for (let i = 0; i < 200; i++) await client.submit(id, i).result(); // warm up
  const p50: number[] = [];
  const p99: number[] = [];
  const cpuUs: Record<string, number[]> = {};
  const roles = upRoles(up.proc.pid);
  const load = [loadavg()[0]!];
  for (let r = 0; r < runs(); r++) {
    const ts: number[] = [];
    const before = sample(roles);
    for (let i = 0; i < N; i++) {
      const t0 = performance.now();
      const v = await client.submit(id, i).result();
      ts.push(performance.now() - t0);
      if (v !== i) throw new Error("wrong result");
    }
    for (const [k, v] of Object.entries(delta(before, sample(roles)))) (cpuUs[k] ??= []).push((v / N) * 1e6);
    p50.push(percentile(ts, 50));
    p99.push(percentile(ts, 99));
  }
  load.push(loadavg()[0]!);
  report({
    bench: "latency",
    roundTrips: N,
    runs: runs(),
    p50Ms: +median(p50).toFixed(3),
    p99Ms: +median(p99).toFixed(3),
    cpuUsPerRoundTrip: Object.fromEntries(Object.entries(cpuUs).map(([k, v]) => [k, +median(v).toFixed(1)])),
    loadAverage: load.map((x) => +x.toFixed(1)),
    allRuns: { p50: p50.map((x) => +x.toFixed(3)), p99: p99.map((x) => +x.toFixed(3)) },
    bar: { p50Ms: 1 },
  });
} finally {
  await client.close();
  await up.stop();
}
