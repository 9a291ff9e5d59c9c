/**
 * bench/scheduler-scale: what the scheduler pays as workers are added (issue 15 item 2).
 *
 * One `ts-dask scheduler` process (dashboard off) on a private nats-server, and simulated workers
 * (bench/lib-workloads/sim-workers.ts: light supervisors + executors speaking the real protocol,
 * up to 250 per process, one executor each by default) — 2, 10, 100 and 1,000 of them, a fresh
 * scheduler per step. The client is this process (a real `Client`, tickets checked). Per step:
 *   - heartbeats: the scheduler's CPU while idle (ms per second) and heartbeat messages per second;
 *   - CPU per task: the scheduler process's CPU (from /proc, its threads only) per task of a map
 *     of no-op tasks (100 per executor, at least 20,000) and of fixed-duration tasks (BENCH_TASK_MS,
 *     default 10 ms of simulated time, 100 per executor), medians of BENCH_RUNS runs;
 *   - dispatch latency: 200 lone `submit`s in a row, submit → result, p50 and p99;
 *   - detection: one worker goes silent (no bye, as a machine cut off); time until the scheduler
 *     publishes its executor's departure (`executor-left` on `events`).
 * Env: BENCH_STEPS (default "2,10,100,1000"), BENCH_PER_WORKER (executors per worker, default 1).
 * Linux only (/proc).
 */
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { Client } from "../index.ts";
import { decode } from "../runtime/codec.ts";
import { startNatsServer } from "../runtime/nats-server.ts";
import { subjects, type ClusterEvent } from "../runtime/protocol.ts";
import { Transport } from "../runtime/transport.ts";
import { BIN, cli, stopAllCli } from "../test/helpers/cli.ts";
import { forkForBench, median, percentile, report, runs } from "./lib.ts";
import { cpuSeconds } from "./lib-workloads/proc-cpu.ts";

const STEPS = (process.env.BENCH_STEPS ?? "2,10,100,1000").split(",").map(Number);
const PER_WORKER = Number(process.env.BENCH_PER_WORKER ?? 1);
const TASK_MS = Number(process.env.BENCH_TASK_MS ?? 10);
const SIM = fileURLToPath(new URL("./lib-workloads/sim-workers.ts", import.meta.url));
const PER_PROCESS = 250;

const nats = await startNatsServer({});
const out: Record<string, unknown> = {};
/** The task the simulated executors "run": its argument is its duration in ms (the sims read it). */
const sleepMs = (ms: number) => ms;

try {
  for (const nWorkers of STEPS) {
    const cluster = `scale${nWorkers}`;
    const s = subjects(cluster);
    // BENCH_PROF=<dir>: the scheduler writes a CPU profile there (node --cpu-prof).
    const args = ["scheduler", "--nats", nats.url, "--cluster", cluster, "--dashboard-address", "none"];
    const prof = process.env.BENCH_PROF;
    const sched = prof ? cli(["--cpu-prof", `--cpu-prof-dir=${prof}`, BIN, ...args], {}, { command: process.execPath }) : cli(args);
    const sims: ChildProcess[] = [];
    const tx = await Transport.connect({ servers: nats.url, inboxPrefix: s.inbox });
    let client: Client | undefined;
    try {
      await sched.waitFor(/scheduler for cluster/);
      console.error(`step ${nWorkers}: scheduler up`);
      const pid = sched.proc.pid!;
      const t0 = performance.now();
      let left = nWorkers;
      for (let p = 0; left > 0; p++) {
        const n = Math.min(PER_PROCESS, left);
        left -= n;
        sims.push(forkForBench(SIM, [nats.url, cluster, String(n), String(PER_WORKER), `p${p}`], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] }));
      }
      await Promise.all(sims.map((c) => new Promise<void>((res, rej) => {
        c.on("message", (m: { ready?: number }) => m.ready !== undefined && res());
        c.once("exit", (code) => rej(new Error(`simulated workers exited with ${code}`)));
      })));
      console.error(`step ${nWorkers}: workers registered`);
      const executors = nWorkers * PER_WORKER;
      const registerSeconds = (performance.now() - t0) / 1000;
      client = await Client.connect(nats.url, { cluster });
      const info = await client.info();
      const seen = info.workers.reduce((a, w) => a + w.executors.length, 0);
      if (seen !== executors) throw new Error(`scheduler sees ${seen} executors, expected ${executors}`);

      // Heartbeats while idle: the scheduler's CPU and the messages it handled.
      let beats = 0;
      const hbSub = tx.subscribe(s.heartbeat, () => void beats++);
      await new Promise((r) => setTimeout(r, 1000));
      beats = 0;
      const c0 = cpuSeconds(pid);
      const h0 = performance.now();
      await new Promise((r) => setTimeout(r, 5000));
      const idleSec = (performance.now() - h0) / 1000;
      const idleCpu = cpuSeconds(pid) - c0;
      hbSub.unsubscribe();
      const heartbeats = { perSecond: Math.round(beats / idleSec), schedulerCpuMsPerSecond: +((idleCpu * 1000) / idleSec).toFixed(1), usPerHeartbeat: +((idleCpu * 1e6) / Math.max(1, beats)).toFixed(1) };

      // CPU per task: no-op and fixed-duration maps.
      const perTask = async (ms: number, n: number) => {
        await client!.gather(client!.map(sleepMs, new Array(Math.min(n, executors * 4)).fill(ms))); // warm: every executor has the function
        const cpu: number[] = [];
        const wall: number[] = [];
        for (let r = 0; r < runs(); r++) {
          const a = cpuSeconds(pid);
          const w = performance.now();
          const res = await client!.gather(client!.map(sleepMs, new Array(n).fill(ms)));
          wall.push((performance.now() - w) / 1000);
          cpu.push(((cpuSeconds(pid) - a) / n) * 1e6);
          if (res.length !== n) throw new Error("wrong result count");
        }
        // Net of the heartbeats' cost over the same wall time (measured idle above).
        const net = cpu.map((c, i) => c - (heartbeats.schedulerCpuMsPerSecond * 1000 * wall[i]!) / n);
        return { tasks: n, schedulerCpuUsPerTask: +median(cpu).toFixed(2), netOfHeartbeatsUsPerTask: +median(net).toFixed(2), allRuns: cpu.map((x) => +x.toFixed(2)), wallSeconds: +median(wall).toFixed(2), tasksPerSecond: Math.round(n / median(wall)) };
      };
      const noop = await perTask(0, Math.max(20_000, 100 * executors));
      const fixed = await perTask(TASK_MS, 100 * executors);

      // Dispatch latency of lone submits.
      const lat: number[] = [];
      for (let i = 0; i < 200; i++) {
        const w = performance.now();
        await client.submit(sleepMs, 0).result();
        lat.push(performance.now() - w);
      }

      // Detection of one silent worker.
      const sim = sims[0]!;
      const gone = new Map<string, number>();
      const evSub = tx.subscribe(s.events, (d) => {
        const e = decode<ClusterEvent>(d);
        if (e.type === "executor-left") gone.set(e.id, Date.now());
      });
      await tx.flush();
      sim.send({ vanish: 0 });
      const [v] = (await once(sim, "message")) as [{ vanished: string; at: number; executors: string[] }];
      while (!v.executors.every((id) => gone.has(id))) await new Promise((r) => setTimeout(r, 20));
      const detectMs = Math.max(...v.executors.map((id) => gone.get(id)! - v.at));
      evSub.unsubscribe();

      out[`${nWorkers} workers`] = {
        executors,
        registerSeconds: +registerSeconds.toFixed(1),
        heartbeats,
        noop,
        [`fixed ${TASK_MS} ms`]: fixed,
        dispatchLatencyMs: { p50: +percentile(lat, 50).toFixed(2), p99: +percentile(lat, 99).toFixed(2) },
        detectSilentWorkerMs: detectMs,
      };
      console.error(`${nWorkers} workers: ${JSON.stringify(out[`${nWorkers} workers`])}`);
    } finally {
      await client?.close();
      for (const c of sims) c.disconnect();
      await Promise.all(sims.map((c) => (c.exitCode === null ? once(c, "exit") : undefined)));
      await tx.close();
      await sched.stop();
    }
  }
} finally {
  await stopAllCli();
  await nats.stop();
}
report({ bench: "scheduler-scale", perWorker: PER_WORKER, taskMs: TASK_MS, runs: runs(), load1: +loadavg()[0].toFixed(2), results: out });
