/**
 * bench/deep-queue: 10^6 and 10^7 queued tasks from several clients (issue 15 item 3). A
 * `ts-dask scheduler` (with --expose-gc) and no worker, so every task stays queued; BENCH_CLIENTS
 * client processes (default 4) each map their share of one-number tasks at once. Reported per
 * size: the scheduler's bytes per queued task (heap + external after a full GC, before vs after,
 * over the tasks), its RSS, the submit rate (all tasks over the wall time until the last client's
 * submits are acknowledged), and each client's own memory per task (heap after GC beyond its
 * input array) and RSS. Goal (issue 15): ≤ 150 B per queued task at 10^7; Dask ~1 kB.
 * Env: BENCH_SIZES (default "1000000,10000000"), BENCH_CLIENTS, BENCH_RUNS (per size; 10^7 once),
 * BENCH_PROF=<dir> (the scheduler writes a CPU profile there).
 */
import { fork, spawn } from "node:child_process";
import { once } from "node:events";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { Client } from "../index.ts";
import { startNatsServer } from "../runtime/nats-server.ts";
import { median, report, runs } from "./lib.ts";

const SIZES = (process.env.BENCH_SIZES ?? "1000000,10000000").split(",").map(Number);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 4);
const BIN = fileURLToPath(new URL("../bin/ts-dask.mjs", import.meta.url));
const CHILD = fileURLToPath(new URL("./lib-workloads/deep-client.ts", import.meta.url));

interface ClientFigures { n: number; submitSeconds: number; tasksPerSecond: number; clientBytesPerTask: number; clientRssMB: number }

const nats = await startNatsServer({});
const out: Record<string, unknown> = {};
try {
  for (const size of SIZES) {
    const rows: { bytesPerTask: number; schedulerRssMB: number; tasksPerSecond: number; clients: ClientFigures[] }[] = [];
    for (let r = 0; r < (size >= 5_000_000 ? 1 : Math.max(1, Math.floor(runs() / 2))); r++) {
      const cluster = `deep${r}`;
      const sched = spawn(process.execPath, ["--expose-gc", ...(process.env.BENCH_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROF}`] : []), BIN, "scheduler", "--nats", nats.url, "--cluster", cluster, "--dashboard-address", "none"], { stdio: ["ignore", "pipe", "inherit"] });
      await new Promise<void>((res) => sched.stdout!.on("data", (d: Buffer) => d.toString().includes("scheduler for cluster") && res()));
      const probe = await Client.connect(nats.url, { cluster });
      try {
        const before = (await probe.info({ gc: true })).scheduler.heapUsed;
        const t0 = performance.now();
        const kids = Array.from({ length: CLIENTS }, () => fork(CHILD, [nats.url, cluster, String(Math.floor(size / CLIENTS))], { execArgv: ["--expose-gc", "--max-old-space-size=8192", "--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] }));
        const figures = await Promise.all(kids.map(async (k) => (await once(k, "message"))[0] as ClientFigures));
        const wall = (performance.now() - t0) / 1000;
        const info = await probe.info({ gc: true });
        const n = figures.reduce((a, f) => a + f.n, 0);
        if (info.tasks.queued !== n) throw new Error(`expected ${n} queued, got ${info.tasks.queued}`);
        rows.push({ bytesPerTask: Math.round((info.scheduler.heapUsed - before) / n), schedulerRssMB: Math.round(info.scheduler.rss / 1e6), tasksPerSecond: Math.round(n / wall), clients: figures });
        console.error(`${size}: ${JSON.stringify(rows[rows.length - 1])}`);
        for (const k of kids) k.send("close");
        await Promise.all(kids.map((k) => (k.exitCode === null ? once(k, "exit") : undefined)));
      } finally {
        await probe.close();
        sched.kill("SIGTERM");
        await once(sched, "exit");
      }
    }
    out[String(size)] = {
      schedulerBytesPerQueuedTask: median(rows.map((x) => x.bytesPerTask)),
      schedulerRssMB: median(rows.map((x) => x.schedulerRssMB)),
      submitTasksPerSecond: median(rows.map((x) => x.tasksPerSecond)),
      clientBytesPerTask: median(rows.flatMap((x) => x.clients.map((c) => c.clientBytesPerTask))),
      clientRssMB: median(rows.flatMap((x) => x.clients.map((c) => c.clientRssMB))),
      runs: rows,
    };
  }
} finally {
  await nats.stop();
}
report({ bench: "deep-queue", clients: CLIENTS, goal: { bytesPerQueuedTaskAt1e7: 150 }, reference: { daskBytesPerTask: 1000 }, load1: +loadavg()[0].toFixed(2), results: out });
