/**
 * bench/shared-args: `map(fn, items, { args })` with a large shared argument (issue 10 item 2):
 * BENCH_N rows (default 100,000) of trivial work and one 675 KB plain array of numbers as `args`,
 * on the embedded cluster (`Client.connect()`, 2 executors). The shared argument travels in every
 * submit message and every dispatch batch (as the client's bytes since protocol 5: the scheduler
 * copies them, the executors decode them once per batch). Reports the map's wall time and the CPU
 * seconds of each process (this one: client + scheduler; the executors; nats-server), medians of
 * BENCH_RUNS rounds (default 5).
 */
import { loadavg } from "node:os";
import { Client } from "../index.ts";
import { median, report, runs } from "./lib.ts";
import { comm, delta, sample } from "./lib-workloads/proc-cpu.ts";

const N = Number(process.env.BENCH_N ?? 100_000);
// Doubles with a fraction: 9 bytes each in msgpack, 675 KB in all.
const SHARED = 75_000;
const shared = Array.from({ length: SHARED }, (_, i) => i + 0.5);
const client = await Client.connect();
try {
  const f = (x: number, ref: number[]) => x + ref.length;
  await client.gather(client.map(f, [1, 2, 3], { args: [shared] })); // ship the function, warm up
  const pids = client.localCluster!.pids();
  const roles = { "client+scheduler": [process.pid], executors: pids.filter((p) => comm(p) !== "nats-server"), nats: pids.filter((p) => comm(p) === "nats-server") };
  const xs = Array.from({ length: N }, (_, i) => i);
  const seconds: number[] = [];
  const cpu: Record<string, number>[] = [];
  for (let r = 0; r < runs(); r++) {
    const before = sample(roles);
    const t0 = performance.now();
    const out = await client.gather(client.map(f, xs, { args: [shared] }));
    seconds.push((performance.now() - t0) / 1000);
    cpu.push(delta(before, sample(roles)));
    if (out[N - 1] !== N - 1 + SHARED) throw new Error("wrong result");
    console.error(`round ${r + 1}: ${seconds.at(-1)!.toFixed(2)} s`);
  }
  report({
    bench: "shared-args",
    rows: N,
    sharedBytes: SHARED * 9,
    runs: runs(),
    load1: +loadavg()[0].toFixed(2),
    seconds: +median(seconds).toFixed(2),
    cpuSeconds: Object.fromEntries(Object.keys(cpu[0]!).map((k) => [k, +median(cpu.map((c) => c[k]!)).toFixed(2)])),
    allRuns: seconds.map((s) => +s.toFixed(2)),
  });
} finally {
  await client.close();
}
