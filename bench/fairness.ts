/**
 * bench/fairness: two clients sharing one cluster (issue 15, item 4). Client A (the embedded
 * cluster's own client, 2 executors) queues BENCH_A_TASKS (20,000) tasks of ~2 ms of arithmetic;
 * 1 s later client B, connected to the same cluster, submits 5 tiny tasks. Reported: B's latency
 * (its submit → its last result), A's wall time for all its tasks, and how many of A's tasks were
 * done when B's were; medians of BENCH_RUNS (3). With strict FIFO across clients B waited for A's
 * whole queue (22.7 s measured before issue 15); with clients taking turns, about one executor
 * window (~1 s of A's work already queued there).
 */
import { Client } from "../index.ts";
import { median, report, runs } from "./lib.ts";
import { body, calibrate } from "./lib-workloads/overhead-modes.ts";

const A_TASKS = Number(process.env.BENCH_A_TASKS ?? 20_000);
const k2 = Math.round(calibrate() * 2); // ~2 ms of arithmetic per task
const a = await Client.connect(undefined, { local: { nprocs: 2 } });
const b = await Client.connect(a.address, { cluster: a.localCluster!.cluster });
const tiny = (x: number) => x + 1;
try {
  // Warm-up: both functions measured once on every executor.
  await a.gather(a.map(body, new Array(200).fill(k2)));
  await b.gather(b.map(tiny, [1, 2, 3, 4, 5]));
  const bMs: number[] = [];
  const aMs: number[] = [];
  const aDoneWhenB: number[] = [];
  for (let r = 0; r < runs(); r++) {
    const t0 = performance.now();
    const fa = a.map(body, new Array(A_TASKS).fill(k2));
    const allA = a.gather(fa).then(() => performance.now() - t0);
    await new Promise((res) => setTimeout(res, 1000));
    const t1 = performance.now();
    const out = await b.gather(b.map(tiny, [1, 2, 3, 4, 5]));
    bMs.push(performance.now() - t1);
    if (out.join() !== "2,3,4,5,6") throw new Error(`B's results are wrong: ${out}`);
    aDoneWhenB.push(fa.filter((f) => f.done()).length);
    aMs.push(await allA);
  }
  report({
    bench: "fairness",
    aTasks: A_TASKS,
    taskMs: 2,
    runs: runs(),
    bLatencyMs: { median: Math.round(median(bMs)), all: bMs.map(Math.round) },
    aWallMs: { median: Math.round(median(aMs)), all: aMs.map(Math.round) },
    aDoneWhenBDone: aDoneWhenB,
  });
} finally {
  await b.close();
  await a.close();
}
