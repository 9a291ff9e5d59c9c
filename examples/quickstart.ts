/**
 * Quick start: a private cluster on this machine (nats-server, scheduler, one executor per
 * core), a million small tasks, and one task that fails on purpose.
 *
 *   npx tsx examples/quickstart.ts            # or: npm run quickstart
 *   npx tsx examples/quickstart.ts nats://host:4222 --cluster default   # a running cluster
 */
import { Client } from "ts-dask";

const [address] = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const cluster = process.argv.includes("--cluster") ? process.argv[process.argv.indexOf("--cluster") + 1] : undefined;
const n = Number(process.env.N ?? 1_000_000);

const client = await Client.connect(address, { cluster });
try {
  const info = await client.info();
  const executors = info.workers.flatMap((w) => w.executors);
  console.log(`cluster '${info.cluster}': ${executors.length} executor(s) — ${executors.map((e) => e.name).join(", ")}`);

  // Self-contained functions travel by source.
  const zoo = (x: number) => x ** 2 + 2 * x + 1;
  const xs = Array.from({ length: n }, (_, i) => i);
  const t0 = performance.now();
  const ys = await client.gather(client.map(zoo, xs));
  const s = (performance.now() - t0) / 1000;
  console.log(`map(zoo) over ${n.toLocaleString("en")} numbers: ${s.toFixed(2)} s (${Math.round(n / s).toLocaleString("en")} tasks/s), last = ${ys[n - 1]}`);

  const f = client.submit((a: number, b: number) => a + b, 1, 2);
  console.log(`submit((a, b) => a + b, 1, 2) = ${await f.result()}`);

  // A failing task: its error carries the remote stack, the task key and the worker's name.
  const bad = client.submit(function parse(text: string) {
    return JSON.parse(text);
  }, "{not json");
  const err = await bad.exception();
  console.log(`a failing task: ${err?.message}`);
} finally {
  await client.close();
}
