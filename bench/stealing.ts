/**
 * bench/stealing: replays ../shared/bench/w6_durations.json (200 log-normal durations, sleep-based,
 * the ones Dask ran) on `ts-dask up --nprocs 2 --nthreads 1` (async tasks count against nthreads)
 * → makespan over the lower bound max(sum / 2, longest). Dask: 1.15×. Bar (issue #4): ≤ 1.05×.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Client } from "../index.ts";
import { median, report, runs, startUp } from "./lib.ts";

const file = process.env.W6 ?? fileURLToPath(new URL("../../shared/bench/w6_durations.json", import.meta.url));
const durations = (JSON.parse(readFileSync(file, "utf8")) as { durations_ms: number[] }).durations_ms;
const sum = durations.reduce((a, b) => a + b, 0);
const lowerBound = Math.max(sum / 2, Math.max(...durations)) / 1000;

const up = await startUp(["--nprocs", "2", "--nthreads", "1"]);
const client = await Client.connect(up.url, { cluster: up.cluster });
try {
  const sleep = (ms: number) => new Promise<number>((r) => setTimeout(() => r(ms), ms));
  await client.gather(client.map(sleep, [1, 1, 1, 1])); // ship the function
  const ratios: number[] = [];
  const makespans: number[] = [];
  for (let r = 0; r < runs(); r++) {
    const t0 = performance.now();
    await client.gather(client.map(sleep, durations));
    const s = (performance.now() - t0) / 1000;
    makespans.push(s);
    ratios.push(s / lowerBound);
  }
  const info = await client.info();
  report({
    bench: "stealing",
    tasks: durations.length,
    executors: 2,
    lowerBoundSeconds: +lowerBound.toFixed(3),
    medianMakespanSeconds: +median(makespans).toFixed(3),
    medianRatio: +median(ratios).toFixed(3),
    allRatios: ratios.map((x) => +x.toFixed(3)),
    tasksDone: info.tasks.done,
    tasksStolen: info.tasks.stolen,
    allMakespans: makespans.map((x) => +x.toFixed(3)),
    bar: { ratio: 1.05 },
    dask: { ratio: 1.15 },
  });
} finally {
  await client.close();
  await up.stop();
}
