/**
 * bench/scatter: 100 MB Float64Array scattered with broadcast and held by both executors of
 * `ts-dask up --nprocs 2` (time until a task on each executor has read it). A fresh array per run
 * (so nothing is cached). Bar (issue #3): ≤ 3 s.
 */
import { Client } from "../index.ts";
import { median, report, runs, startUp } from "./lib.ts";

const N = 12_500_000;
const up = await startUp(["--nprocs", "2"]);
const client = await Client.connect(up.url, { cluster: up.cluster });
try {
  const secs: number[] = [];
  for (let r = 0; r < runs(); r++) {
    const big = new Float64Array(N).fill(r + 0.5);
    const t0 = performance.now();
    const ref = await client.scatter(big, { broadcast: true });
    // Enough tasks that both executors run some; each must have the value to run.
    const seen = await client.gather(client.map(async (i: number, d: Float64Array) => {
      await new Promise((res) => setTimeout(res, 20));
      return [JSON.parse(process.env.TSDASK_EXECUTOR!).name, d[i]];
    }, [1, 2, 3, 4, 5, 6], { args: [ref] }));
    secs.push((performance.now() - t0) / 1000);
    if (new Set(seen.map((s) => s[0])).size < 2 || seen.some((s) => s[1] !== r + 0.5)) throw new Error("not held by both executors");
    client.release([ref]);
  }
  report({ bench: "scatter", bytes: N * 8, executors: 2, runs: runs(), medianSeconds: +median(secs).toFixed(3), allRuns: secs.map((s) => +s.toFixed(3)), bar: { seconds: 3 } });
} finally {
  await client.close();
  await up.stop();
}
