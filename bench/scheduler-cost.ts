/**
 * bench/scheduler-cost: the scheduler's CPU per task as executors are added (issue 10, item 4).
 *
 * One `ts-dask scheduler` process (dashboard off) on a private nats-server; workers are added in
 * steps so the cluster has 2, 8 and then 32 executors (several `ts-dask worker` processes on this
 * machine); at each step the client (this process) maps BENCH_TASKS tasks of ~1 ms of arithmetic,
 * BENCH_RUNS times. Reported per step: the scheduler process's CPU µs per task (from /proc: its
 * threads only; executors, supervisors, nats-server and the client are apart), the same for the
 * supervisors and nats-server, and wall seconds. With 32 executors on 2 cores the executors
 * time-share the cores: what matters is that the scheduler's figure stays flat.
 *
 * The scheduler also spends CPU per second, whatever the tasks: executors' and supervisors' beats,
 * its own ticks. That background grows with the executors, so it is measured apart: after each step
 * the cluster settles (executors beat faster for their first 5 s), then the scheduler's idle CPU is
 * read over BENCH_IDLE_S seconds (default 3). `netUsPerTask` is the scheduler's CPU per task minus
 * that idle rate over the run's wall time: the part that is the tasks' own.
 *
 * Steps cannot alternate (executors are only ever added), so each step's figure is the median of
 * its runs. Linux only (/proc).
 */
import { loadavg } from "node:os";
import { Client } from "../index.ts";
import { startNatsServer } from "../runtime/nats-server.ts";
import { cli, stopAllCli } from "../test/helpers/cli.ts";
import { median, report, runs } from "./lib.ts";
import { body, calibrate } from "./lib-workloads/overhead-modes.ts";
import { cpuSeconds, descendants } from "./lib-workloads/proc-cpu.ts";

const TASKS = Number(process.env.BENCH_TASKS ?? 4000);
const STEPS = (process.env.BENCH_STEPS ?? "2,8,32").split(",").map(Number);
const k = Math.round(calibrate());
const IDLE_S = Number(process.env.BENCH_IDLE_S ?? 3);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const nats = await startNatsServer({});
const cluster = "cost";
const sched = cli(["scheduler", "--nats", nats.url, "--cluster", cluster, "--dashboard-address", "none"]);
const workers: ReturnType<typeof cli>[] = [];
const out: Record<string, unknown> = {};
let client: Client | undefined;
try {
  await sched.waitFor(/scheduler for cluster/);
  client = await Client.connect(nats.url, { cluster });
  let have = 0;
  for (const step of STEPS) {
    const add = step - have;
    const w = cli(["worker", nats.url, "--cluster", cluster, "--nprocs", String(add), "--name", `w${step}`]);
    workers.push(w);
    for (;;) {
      const info = await client.info();
      const n = info.workers.reduce((a, x) => a + x.executors.filter((e) => e.state === "running").length, 0);
      if (n >= step) break;
      await sleep(200);
    }
    have = step;
    await client.gather(client.map(body, new Array(step * 20).fill(k))); // ship the function everywhere
    await sleep(6000); // past the executors' first 5 s of faster beats
    const i0 = cpuSeconds(sched.proc.pid!);
    const it0 = performance.now();
    await sleep(IDLE_S * 1000);
    const idlePerS = (cpuSeconds(sched.proc.pid!) - i0) / ((performance.now() - it0) / 1000);
    const sup = () => workers.map((x) => x.proc.pid!);
    const wall: number[] = [];
    const per: Record<string, number[]> = { scheduler: [], supervisors: [], "nats-server": [] };
    const net: number[] = [];
    for (let r = 0; r < runs(); r++) {
      const pids = { scheduler: [sched.proc.pid!], supervisors: sup(), "nats-server": [nats.pid] };
      const c0 = Object.fromEntries(Object.entries(pids).map(([n, ps]) => [n, ps.reduce((a, p) => a + cpuSeconds(p), 0)]));
      const t0 = performance.now();
      const res = await client.gather(client.map(body, new Array(TASKS).fill(k)));
      wall.push((performance.now() - t0) / 1000);
      if (res.length !== TASKS) throw new Error("wrong result count");
      for (const [n, ps] of Object.entries(pids)) per[n]!.push(((ps.reduce((a, p) => a + cpuSeconds(p), 0) - c0[n]!) / TASKS) * 1e6);
      net.push(per.scheduler!.at(-1)! - (idlePerS * wall.at(-1)! * 1e6) / TASKS);
    }
    out[`${step} executors`] = {
      wallSeconds: +median(wall).toFixed(2),
      cpuUsPerTask: Object.fromEntries(Object.entries(per).map(([n, xs]) => [n, +median(xs).toFixed(1)])),
      schedulerIdleMsPerS: +(idlePerS * 1000).toFixed(1),
      netUsPerTask: +median(net).toFixed(1),
      executorProcesses: workers.reduce((a, x) => a + descendants(x.proc.pid!).length, 0),
    };
    console.error(`${step} executors done`);
  }
} finally {
  await client?.close();
  await stopAllCli();
  await nats.stop();
}
report({ bench: "scheduler-cost", tasks: TASKS, taskMs: 1, runs: runs(), load1: +loadavg()[0].toFixed(2), results: out });
