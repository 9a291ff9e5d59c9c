/**
 * bench/batching: the story's pattern — 20,000 candidates, ~0.2 ms of numeric work each against a
 * 10 MB Float64Array — as a plain loop in this process, on backend "local" (2 processes), and on
 * the cluster (`ts-dask up --nprocs 2`) with batchSize 1, "auto" and fixed sizes (the best of which
 * is reported), the same loop in a fresh process of its own ("plain loop (own process)", as a user's
 * script runs it; `autoSpeedupOverOwnProcessLoop`), and as "2 loops": two plain-loop processes, each on half the candidates, at once, the
 * ceiling of any two-process split on this machine at this load (`ofTwoLoops` compares against it). Configurations alternate within each round (order reversed every other round);
 * medians of BENCH_RUNS rounds (default 5). Cluster and pool start-up are excluded; scatter is
 * included (each run scatters a fresh 10 MB array, whose bytes differ per run).
 *
 * CPU seconds of every process of each configuration (from /proc: this process, which runs the plain
 * loop and the client; the pool's children; `up`'s scheduler+supervisor process, its executors and
 * its nats-server) are reported too, medians per role: unlike wall time, another job on the machine
 * cannot fake them.
 *
 * Bars (issue 5): cluster "auto" ≥ 1.7× the plain loop; "auto" ≤ 1.1× the best fixed size;
 * batchSize 1 ≤ 3× "auto" (Dask: 15×).
 *
 * Environment: BENCH_RUNS, BENCH_N (candidates, default 20,000), BENCH_FIXED (fixed sizes, default
 * "50,200,500,1000,2500").
 */
import { once } from "node:events";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { Client } from "../index.ts";
import { delayed, importModule, LocalPool, parallel, type EngineStats } from "../workloads/index.ts";
import { makeRef, myProc } from "./lib-workloads/work.ts";
import { forkForBench, median, report, runs, startUp } from "./lib.ts";
import { comm, delta, descendants, sample, type ProcessRoles } from "./lib-workloads/proc-cpu.ts";

const N = Number(process.env.BENCH_N ?? 20_000);
const FIXED = (process.env.BENCH_FIXED ?? "50,200,500,1000,2500").split(",").map(Number);

const up = await startUp(["--nprocs", "2"]);
const client = await Client.connect(up.url, { cluster: up.cluster });
const pool = await LocalPool.start({ nJobs: 2 });
const forkHalf = async () => {
  const p = forkForBench(fileURLToPath(new URL("./lib-workloads/batching-loop.ts", import.meta.url)), [], { execArgv: ["--import", "tsx"] });
  await once(p, "message");
  return p;
};
const halves = [await forkHalf(), await forkHalf()];
const work = await importModule<typeof import("./lib-workloads/work.ts")>("./lib-workloads/work.ts", { from: import.meta.url });

let salt = 1;
const calls = (ref: Float64Array) =>
  function* () {
    for (let c = 0; c < N; c++) yield delayed(work.myProc)(c, ref);
  };

type Config = { name: string; run: () => Promise<Partial<EngineStats> | undefined> };
const upTree = () => new Set([up.proc.pid!, ...descendants(up.proc.pid!)]);
/** The processes each configuration uses (this process: the plain loop, or the client). */
const rolesOf = (name: string): ProcessRoles => {
  if (name === "plain loop") return { "this process": [process.pid] };
  if (name === "2 loops") return { loops: halves.map((p) => p.pid!) };
  if (name === "plain loop (own process)") return { loop: [halves[0]!.pid!] };
  const tree = upTree();
  if (name.startsWith("backend")) return { "this process": [process.pid], pool: descendants(process.pid).filter((p) => !tree.has(p) && !halves.some((h) => h.pid === p) && comm(p) === "node") };
  const rest = [...tree].filter((p) => p !== up.proc.pid);
  return { "this process": [process.pid], "scheduler+supervisor": [up.proc.pid!], executors: rest.filter((p) => comm(p) !== "nats-server"), nats: rest.filter((p) => comm(p) === "nats-server") };
};
const cluster = (batchSize: "auto" | number): Config => ({
  name: `cluster batchSize ${batchSize}`,
  run: async () => {
    const ref = makeRef(salt++);
    const stats: Partial<EngineStats> = {};
    const out = await parallel({ client, batchSize, scatter: [ref], stats }, calls(ref));
    if (out.length !== N) throw new Error("wrong result count");
    // The run's scatter is released when it ends (workloads/backends/cluster.ts).
    return stats;
  },
});
const allConfigs: Config[] = [
  {
    name: "plain loop",
    run: async () => {
      const ref = makeRef(salt++);
      let s = 0;
      for (let c = 0; c < N; c++) s += myProc(c, ref);
      if (!Number.isFinite(s)) throw new Error("bad sum");
      return undefined;
    },
  },
  {
    // The same loop in a fresh process of its own, as a user's script runs it: this process also
    // holds the client, the pool and their heaps, and its loop measured slower than fresh ones.
    name: "plain loop (own process)",
    run: async () => {
      const p = halves[0]!;
      p.send({ n: N, part: 0, parts: 1, salt: salt++ });
      const [m] = (await once(p, "message")) as [{ sum: number }];
      if (!Number.isFinite(m.sum)) throw new Error("bad sum");
      return undefined;
    },
  },
  {
    name: "2 loops",
    run: async () => {
      const s = salt++;
      const sums = await Promise.all(
        halves.map(async (p, part) => {
          p.send({ n: N, part, parts: 2, salt: s });
          const [m] = (await once(p, "message")) as [{ sum: number }];
          return m.sum;
        }),
      );
      if (!sums.every(Number.isFinite)) throw new Error("bad sum");
      return undefined;
    },
  },
  {
    name: 'backend "local" (2 processes) auto',
    run: async () => {
      const ref = makeRef(salt++);
      const stats: Partial<EngineStats> = {};
      await parallel({ backend: pool, scatter: [ref], stats }, calls(ref));
      return stats;
    },
  },
  cluster(1),
  cluster("auto"),
  ...FIXED.map((n) => cluster(n)),
];
// BENCH_ONLY=substring,substring: a subset (for development; the bars need every configuration)
const only = process.env.BENCH_ONLY?.split(",");
const configs = only ? allConfigs.filter((c) => c.name.startsWith("plain loop") || c.name === "2 loops" || only.some((o) => c.name.includes(o))) : allConfigs;

try {
  // warm-up: ship the functions, JIT the loop. One reference array shared by every call, as in the
  // runs (a fresh 10 MB array per call made 400 scatters of 10 MB: ~100 s, 2 GB in each local child).
  const ref0 = makeRef(0);
  await parallel({ client, batchSize: 100 }, Array.from({ length: 400 }, (_, c) => delayed(work.myProc)(c, ref0)));
  for (const p of halves) {
    p.send({ n: 400, part: 0, parts: 1, salt: 0 });
    await once(p, "message");
  }
  await parallel({ backend: pool, batchSize: 100 }, Array.from({ length: 400 }, (_, c) => delayed(work.myProc)(c, ref0)));
  const times: Record<string, number[]> = Object.fromEntries(configs.map((c) => [c.name, []]));
  const batches: Record<string, number[]> = {};
  const cpu: Record<string, Record<string, number>[]> = Object.fromEntries(configs.map((c) => [c.name, []]));
  for (let r = 0; r < runs(); r++) {
    for (const c of r % 2 ? [...configs].reverse() : configs) {
      const roles = rolesOf(c.name);
      const c0 = sample(roles);
      const t0 = performance.now();
      const stats = await c.run();
      times[c.name]!.push((performance.now() - t0) / 1000);
      cpu[c.name]!.push(delta(c0, sample(roles)));
      if (stats?.batches) (batches[c.name] ??= []).push(stats.batches);
      console.error(`round ${r + 1}: ${c.name}: ${times[c.name]!.at(-1)!.toFixed(2)} s${stats?.batches ? ` (${stats.batches} tasks, max batch ${stats.maxBatch})` : ""}`);
    }
  }
  const med = Object.fromEntries(configs.map((c) => [c.name, median(times[c.name]!)]));
  const fixedNames = FIXED.map((n) => `cluster batchSize ${n}`).filter((n) => med[n] !== undefined);
  // With BENCH_ONLY, some configurations (and their ratios) may be missing: they come out null.
  const bestFixed = fixedNames.length ? fixedNames.reduce((a, b) => (med[b]! < med[a]! ? b : a)) : "none run";
  const loop = med["plain loop"]!;
  const auto = med["cluster batchSize auto"]!;
  const one = med["cluster batchSize 1"]!;
  report({
    bench: "batching",
    candidates: N,
    executors: 2,
    runs: runs(),
    secondsMedian: Object.fromEntries(Object.entries(med).map(([k, v]) => [k, Number(v.toFixed(3))])),
    cpuSecondsMedian: Object.fromEntries(
      Object.entries(cpu).map(([k, rs]) => [k, Object.fromEntries(Object.keys(rs[0] ?? {}).map((role) => [role, Number(median(rs.map((r) => r[role]!)).toFixed(3))]))]),
    ),
    load1: Number(loadavg()[0].toFixed(2)),
    tasksMedian: Object.fromEntries(Object.entries(batches).map(([k, v]) => [k, median(v)])),
    bestFixed,
    ratios: {
      autoSpeedupOverLoop: Number((loop / auto).toFixed(2)),
      autoSpeedupOverOwnProcessLoop: Number((med["plain loop (own process)"]! / auto).toFixed(2)),
      twoLoopsSpeedupOverLoop: Number((loop / med["2 loops"]!).toFixed(2)),
      localSpeedupOverLoop: Number((loop / med['backend "local" (2 processes) auto']!).toFixed(2)),
      autoOverBestFixed: Number((auto / med[bestFixed]!).toFixed(2)),
      batch1OverAuto: Number((one / auto).toFixed(2)),
    },
    // The cluster against the same round's two plain loops (1.0 = the machine's ceiling for two processes).
    ofTwoLoops: Object.fromEntries(
      ["cluster batchSize auto", 'backend "local" (2 processes) auto'].filter((k) => times[k]).map((k) => [k, Number(median(times[k]!.map((t, r) => times["2 loops"]![r]! / t)).toFixed(3))]),
    ),
    bars: { autoSpeedupOverLoop: ">= 1.7", autoOverBestFixed: "<= 1.1", batch1OverAuto: "<= 3" },
    pass: {
      autoSpeedupOverLoop: loop / auto >= 1.7,
      autoOverBestFixed: auto / med[bestFixed]! <= 1.1,
      batch1OverAuto: one / auto <= 3,
    },
    allRuns: Object.fromEntries(Object.entries(times).map(([k, v]) => [k, v.map((x) => Number(x.toFixed(3)))])),
  });
} finally {
  for (const p of halves) p.kill();
  await pool.close();
  await client.close();
  await up.stop();
}
