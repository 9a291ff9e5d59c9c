/**
 * bench/outputs: what a named output (`{ publish }`) costs the client that publishes it. A map of
 * BENCH_N (default 20,000) trivial tasks on `ts-dask up --nprocs 2`, the client in this process,
 * with and without `publish` (alternating, order reversed every other round); medians of
 * BENCH_RUNS rounds (default 5) of wall time and of this process's CPU per task (the client
 * alone: the scheduler and executors are `ts-dask up`'s processes). No subscriber: nats-server
 * drops the output's messages, so this is the publisher's side only.
 */
import { Client } from "../index.ts";
import { median, report, runs, startUp } from "./lib.ts";

const N = Number(process.env.BENCH_N ?? 20_000);
const up = await startUp(["--nprocs", "2"]);
const client = await Client.connect(up.url, { cluster: up.cluster });
const xs = Array.from({ length: N }, (_, i) => i);
const f = (x: number) => ({ x, y: x * 2 });

async function once(publish: boolean) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await client.gather(client.map(f, xs, publish ? { publish: "bench-out" } : {}));
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { ms, cpuUsPerTask: (c.user + c.system) / N };
}

try {
  await once(false); // warm-up
  const res: Record<string, { ms: number[]; cpu: number[] }> = { plain: { ms: [], cpu: [] }, publish: { ms: [], cpu: [] } };
  for (let r = 0; r < runs(); r++) {
    for (const p of r % 2 ? [true, false] : [false, true]) {
      const o = await once(p);
      const k = p ? "publish" : "plain";
      res[k]!.ms.push(o.ms);
      res[k]!.cpu.push(o.cpuUsPerTask);
    }
  }
  const m = (k: string) => ({ wallMs: Math.round(median(res[k]!.ms)), clientCpuUsPerTask: +median(res[k]!.cpu).toFixed(1) });
  const plain = m("plain");
  const pub = m("publish");
  report({ bench: "outputs", tasks: N, rounds: runs(), plain, publish: pub, extraClientCpuUsPerRow: +(pub.clientCpuUsPerTask - plain.clientCpuUsPerTask).toFixed(1) });
} finally {
  await client.close();
  await up.stop();
}
