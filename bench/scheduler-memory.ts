/**
 * bench/scheduler-memory: bytes the scheduler holds per queued task. A `ts-dask scheduler`
 * (with --expose-gc) and no worker, so every task stays queued; a client maps 10^6 tasks and
 * waits until all reached the scheduler; heap after a full GC, before vs after, / 10^6.
 * Reference (Dask distributed's own figure): Dask needs ~1 kB of scheduler memory per task.
 */
import { fileURLToPath } from "node:url";
import { Client } from "../index.ts";
import { startNatsServer } from "../runtime/nats-server.ts";
import { median, report, runs, spawnForBench } from "./lib.ts";

const N = Number(process.env.BENCH_N ?? 1_000_000);
const BIN = fileURLToPath(new URL("../bin/ts-dask.mjs", import.meta.url));
const nats = await startNatsServer();
const perTask: Record<string, number[]> = { "one number": [], "three numbers": [], "small object": [] };
try {
  for (let r = 0; r < Math.max(1, Math.floor(runs() / 2)); r++) {
    for (const kind of Object.keys(perTask)) {
      const cluster = `mem${r}${kind.length}`;
      const sched = await spawnForBench(process.execPath, ["--expose-gc", BIN, "scheduler", "--nats", nats.url, "--cluster", cluster], { stdout: "pipe", stderr: "inherit" });
      await new Promise<void>((res) => sched.stdout!.on("data", (d: Buffer) => d.toString().includes("scheduler for cluster") && res()));
      const client = await Client.connect(nats.url, { cluster });
      const before = (await client.info({ gc: true })).scheduler.heapUsed;
      const xs = Array.from({ length: N }, (_, i) => i + 0.5);
      const fn = (...a: unknown[]) => a.length;
      if (kind === "one number") client.map(fn, xs);
      else if (kind === "three numbers") client.map(fn, xs, xs, xs);
      else client.map(fn, xs.map((x) => ({ id: x, name: "c" + (x | 0) })));
      await client.flush();
      const info = await client.info({ gc: true });
      if (info.tasks.queued !== N) throw new Error(`expected ${N} queued, got ${info.tasks.queued}`);
      perTask[kind]!.push((info.scheduler.heapUsed - before) / N);
      await client.close();
      await sched.stop({ signal: "SIGTERM", timeoutMs: 30_000 });
    }
  }
  report({
    bench: "scheduler-memory",
    queuedTasks: N,
    bytesPerQueuedTask: Object.fromEntries(Object.entries(perTask).map(([k, v]) => [k, Math.round(median(v))])),
    allRuns: Object.fromEntries(Object.entries(perTask).map(([k, v]) => [k, v.map(Math.round)])),
    reference: { daskBytesPerTask: 1000 },
  });
} finally {
  await nats.stop();
}
