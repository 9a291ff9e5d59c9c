/**
 * bench/deep-queue: 10^6 and 10^7 queued tasks from several clients (issue 15 item 3). A
 * `ts-dask scheduler` (with --expose-gc) and no worker, so every task stays queued; BENCH_CLIENTS
 * client processes (default 4) each map their share of one-number tasks at once. Reported per
 * size: the scheduler's bytes per queued task (heap + external after a full GC, before vs after,
 * over the tasks), its RSS, the submit rate (all tasks over the wall time until the last client's
 * submits are acknowledged), each client's own memory per task (heap after GC beyond its input
 * array) and RSS, CPU seconds per process, and the scheduler's longest event-loop stall per phase
 * (a preloaded monitor, lib-workloads/loop-delay.mjs; its forced GCs are left out). Then, with
 * BENCH_RESYNC=1 (default), every client re-submits all its rows as after a reconnect (each row
 * must be found held, none added); finally the clients close and the scheduler drops their tasks.
 * Goal (issue 15): ≤ 150 B per queued task at 10^7, no stall near a client's lease (5 s); Dask ~1 kB.
 * Env: BENCH_SIZES (default "1000000,10000000"), BENCH_CLIENTS, BENCH_RUNS (per size; 10^7 once),
 * BENCH_RESYNC (0 to skip), BENCH_PROF=<dir> (the scheduler writes a CPU profile there).
 */
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { Client } from "../index.ts";
import { startNatsServer } from "../runtime/nats-server.ts";
import { forkForBench, median, report, runs, spawnForBench } from "./lib.ts";
import { cpuSeconds } from "./lib-workloads/proc-cpu.ts";

const SIZES = (process.env.BENCH_SIZES ?? "1000000,10000000").split(",").map(Number);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 4);
const RESYNC = process.env.BENCH_RESYNC !== "0";
const BIN = fileURLToPath(new URL("../bin/ts-dask.mjs", import.meta.url));
const CHILD = fileURLToPath(new URL("./lib-workloads/deep-client.ts", import.meta.url));
const LOOP_DELAY = new URL("./lib-workloads/loop-delay.mjs", import.meta.url).href;

interface ClientFigures { n: number; submitSeconds: number; tasksPerSecond: number; cpuSeconds: number; clientBytesPerTask: number; clientRssMB: number }

/** The next message of a child. */
const next = <T>(k: ChildProcess) => once(k, "message").then((m) => m[0] as T);

const nats = await startNatsServer({});
const out: Record<string, unknown> = {};
try {
  for (const size of SIZES) {
    const rows: Record<string, unknown>[] = [];
    for (let r = 0; r < (size >= 5_000_000 ? 1 : Math.max(1, Math.floor(runs() / 2))); r++) {
      const cluster = `deep${r}`;
      const sched = await spawnForBench(process.execPath, ["--expose-gc", "--import", LOOP_DELAY, ...(process.env.BENCH_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROF}`] : []), BIN, "scheduler", "--nats", nats.url, "--cluster", cluster, "--dashboard-address", "none"], { stdout: "pipe", stderr: "inherit" });
      // The scheduler's longest event-loop delay of each second, in the phase it fell in.
      let phase = "start";
      const stalls: Record<string, number> = {};
      let delays = 0;
      const delayWaiters: (() => void)[] = [];
      let buf = "";
      await new Promise<void>((res) =>
        sched.stdout!.on("data", (d: Buffer) => {
          buf += d.toString();
          const lines = buf.split("\n");
          buf = lines.pop()!;
          for (const line of lines) {
            const m = /^LOOPDELAY (\d+)/.exec(line);
            if (m) {
              stalls[phase] = Math.max(stalls[phase] ?? 0, Number(m[1]));
              delays++;
              for (const w of delayWaiters.splice(0)) w();
            } else if (line.includes("scheduler for cluster")) res();
          }
        }),
      );
      /** Waits for the monitor's next line (at most a second): what happened so far is in the phase. */
      const nextDelay = () => new Promise<void>((res) => delayWaiters.push(res));
      const cpu = () => +cpuSeconds(sched.pid).toFixed(2);
      const probe = await Client.connect(nats.url, { cluster });
      try {
        const before = (await probe.info({ gc: true })).scheduler.heapUsed;
        await nextDelay();
        phase = "submit";
        const cpu0 = cpu();
        const t0 = performance.now();
        const kids = Array.from({ length: CLIENTS }, () => forkForBench(CHILD, [nats.url, cluster, String(Math.floor(size / CLIENTS))], { execArgv: ["--expose-gc", "--max-old-space-size=8192", "--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] }));
        const figures = await Promise.all(kids.map((k) => next<ClientFigures>(k)));
        const wall = (performance.now() - t0) / 1000;
        const submitCpu = +(cpu() - cpu0).toFixed(2);
        await nextDelay();
        phase = "gc"; // the forced GC below is not a stall
        const info = await probe.info({ gc: true });
        const n = figures.reduce((a, f) => a + f.n, 0);
        if (info.tasks.queued !== n) throw new Error(`expected ${n} queued, got ${info.tasks.queued}`);
        await nextDelay();
        const row: Record<string, unknown> = { bytesPerTask: Math.round((info.scheduler.heapUsed - before) / n), schedulerRssMB: Math.round(info.scheduler.rss / 1e6), tasksPerSecond: Math.round(n / wall), submitSeconds: +wall.toFixed(1), schedulerSubmitCpuSeconds: submitCpu, clients: figures };
        if (RESYNC) {
          phase = "resync";
          const c1 = cpu();
          const r0 = performance.now();
          for (const k of kids) k.send("resync");
          const rs = await Promise.all(kids.map((k) => next<{ resyncSeconds: number; cpuSeconds: number; resubmitted: number }>(k)));
          const rwall = (performance.now() - r0) / 1000;
          const queued = (await probe.info()).tasks.queued;
          if (queued !== n) throw new Error(`after the re-submission: expected ${n} queued, got ${queued} (rows added twice or lost)`);
          Object.assign(row, { resyncSeconds: +rwall.toFixed(1), resyncRowsPerSecond: Math.round(n / rwall), schedulerResyncCpuSeconds: +(cpu() - c1).toFixed(2), resyncClients: rs });
          await nextDelay();
        }
        phase = "drop";
        const c2 = cpu();
        const d0 = performance.now();
        for (const k of kids) k.send("close");
        const closes = await Promise.all(kids.map((k) => next<{ closeSeconds: number }>(k)));
        await Promise.all(kids.map((k) => (k.exitCode === null ? once(k, "exit") : undefined)));
        for (;;) {
          const i = await probe.info();
          if (i.tasks.queued === 0 && i.clients === 1) break;
          await new Promise((res) => setTimeout(res, 100));
        }
        Object.assign(row, { dropSeconds: +((performance.now() - d0) / 1000).toFixed(1), schedulerDropCpuSeconds: +(cpu() - c2).toFixed(2), clientCloseSeconds: closes.map((c) => +c.closeSeconds.toFixed(1)) });
        await nextDelay();
        row.longestStallMs = { submit: stalls.submit, ...(RESYNC ? { resync: stalls.resync } : {}), drop: stalls.drop };
        row.schedulerStallMsByBeat = (await probe.info()).scheduler.stallMs;
        rows.push(row);
        console.error(`${size}: ${JSON.stringify(row)}`);
      } finally {
        await probe.close();
        await sched.stop({ signal: "SIGTERM", timeoutMs: 30_000 });
      }
    }
    const med = (k: string) => median(rows.map((x) => x[k] as number));
    const all = (k: keyof ClientFigures) => median(rows.flatMap((x) => (x.clients as ClientFigures[]).map((c) => c[k])));
    out[String(size)] = {
      schedulerBytesPerQueuedTask: med("bytesPerTask"),
      schedulerRssMB: med("schedulerRssMB"),
      submitTasksPerSecond: med("tasksPerSecond"),
      clientBytesPerTask: all("clientBytesPerTask"),
      clientRssMB: all("clientRssMB"),
      clientSubmitCpuSeconds: all("cpuSeconds"),
      runs: rows,
    };
  }
} finally {
  await nats.stop();
}
report({ bench: "deep-queue", clients: CLIENTS, goal: { bytesPerQueuedTaskAt1e7: 150 }, reference: { daskBytesPerTask: 1000 }, load1: +loadavg()[0].toFixed(2), results: out });
