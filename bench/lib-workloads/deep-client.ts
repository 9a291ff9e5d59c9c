/**
 * One client of bench/deep-queue: connects, maps `n` one-number tasks (no worker runs them, so
 * they stay queued on the scheduler), waits until every submit is acknowledged, and reports its
 * submit rate and its own memory (heap after a full GC, beyond its input array, and RSS).
 * argv: <nats url> <cluster> <n>. Needs --expose-gc. IPC out: the figures; IPC in: "close".
 */
import { Client } from "../../index.ts";

const [url, cluster, nArg] = process.argv.slice(2);
const n = Number(nArg);
const gc = (globalThis as { gc?: () => void }).gc!;
const heap = () => {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external + m.arrayBuffers;
};
const client = await Client.connect(url!, { cluster });
const xs = Array.from({ length: n }, (_, i) => i + 0.5);
const before = heap();
const t0 = performance.now();
const futures = client.map((x: number) => x, xs);
await client.flush();
const seconds = (performance.now() - t0) / 1000;
const after = heap();
process.send!({ n, submitSeconds: seconds, tasksPerSecond: Math.round(n / seconds), clientBytesPerTask: Math.round((after - before) / n), clientRssMB: Math.round(process.memoryUsage.rss() / 1e6), inputBytesPerTask: 8 });
process.on("message", () => {
  void futures.length;
  void client.close().then(() => process.exit(0));
});
