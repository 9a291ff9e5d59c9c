/**
 * One client of bench/deep-queue: connects, maps `n` one-number tasks (no worker runs them, so
 * they stay queued on the scheduler), waits until every submit is acknowledged, and reports its
 * submit rate, its CPU and its own memory (heap after a full GC, beyond its input array, and RSS).
 * argv: <nats url> <cluster> <n>. Needs --expose-gc. IPC in: "resync" (re-submit every pending
 * row as after a reconnect, report the time it took; the client's own private method, reached
 * by a cast: the bench measures the scheduler's lookup of held rows at scale) or "close".
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
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const client = await Client.connect(url!, { cluster });
const xs = Array.from({ length: n }, (_, i) => i + 0.5);
const before = heap();
const c0 = cpu();
const t0 = performance.now();
const futures = client.map((x: number) => x, xs);
await client.flush();
const seconds = (performance.now() - t0) / 1000;
const cpuSeconds = cpu() - c0;
const after = heap();
process.send!({ n, submitSeconds: seconds, tasksPerSecond: Math.round(n / seconds), cpuSeconds: +cpuSeconds.toFixed(2), clientBytesPerTask: Math.round((after - before) / n), clientRssMB: Math.round(process.memoryUsage.rss() / 1e6), inputBytesPerTask: 8 });
process.on("message", (m) => {
  void futures.length;
  if (m === "resync") {
    const r0 = performance.now();
    const rc = cpu();
    (client as unknown as { resubmitPending(why: string): void }).resubmitPending("bench");
    void client.flush().then(() => process.send!({ resyncSeconds: (performance.now() - r0) / 1000, cpuSeconds: +(cpu() - rc).toFixed(2), resubmitted: client.resubmitted }));
    return;
  }
  const c = performance.now();
  void client.close().then(() => {
    process.send!({ closeSeconds: (performance.now() - c) / 1000 });
    process.exit(0);
  });
});
