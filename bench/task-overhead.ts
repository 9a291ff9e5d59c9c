/**
 * bench/task-overhead: what a task costs beyond its body, at every task size (issue 10).
 *
 * The same bodies (0, 0.1, 1 and 10 ms of integer arithmetic) run
 *   - as a plain loop in one process (the wall-clock reference: speedup = its wall / yours);
 *   - as two plain loops in two processes at once, half the tasks each: the bodies' CPU on two busy
 *     cores (2–4 % slower than on one here: shared caches, the VM). Reference for piscina's bodies,
 *     which cannot time themselves (below), and for `overheadVsTwoLoopsUs`;
 *   - on the embedded cluster (`Client.connect()`: scheduler and supervisor in the client's process),
 *     on `ts-dask up --nprocs 2` (scheduler + supervisor in `up`, the client apart), on backend
 *     "local" (`parallel()` over 2 processes), and on piscina (2 worker threads, one `pool.run`
 *     per task: the tool a Node user picks for one machine).
 * Each configuration lives in its own process (so one's idle heartbeats are not counted in
 * another's figures). Per configuration and duration: `speedup`, and `overheadUs` = (CPU seconds of
 * every process involved − the CPU seconds spent inside the bodies, as each body measured its own with
 * `process.cpuUsage()`) / tasks, from /proc (every thread, ns), also
 * per process role. Configurations alternate within each round (order reversed every other
 * round); medians of BENCH_RUNS rounds (default 5). Also printed: each configuration's CPU while
 * idle (ms per second, measured each round), and `overheadNetOfIdleUs`: the overhead less that
 * idle background over the run's wall time, i.e. what the tasks themselves cost. And the price of
 * one wake-up of an idle Node process on this machine (`nodeWakeupUs`, measured before and after the
 * rounds): the idle background is a few dozen wake-ups per second, so it scales with this price
 * (on the 2-core VM this project is measured on, ~150 µs; ~10–20 µs on bare metal). Linux only (/proc).
 *
 * Environment: BENCH_RUNS; BENCH_DURATIONS (ms, default "0,0.1,1,10"); BENCH_SECONDS (plain-loop
 * seconds per duration, default 3: sets the task count; trivial bodies: 200,000 tasks);
 * BENCH_ONLY (comma-separated: embedded, up, local, piscina).
 */
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { forkForBench, median, report, runs } from "./lib.ts";
import { cpuSeconds, nodeWakeupUs } from "./lib-workloads/proc-cpu.ts";
import { body, calibrate, timedBody, type ModeReply } from "./lib-workloads/overhead-modes.ts";

const DURATIONS = (process.env.BENCH_DURATIONS ?? "0,0.1,1,10").split(",").map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const MODES = (process.env.BENCH_ONLY ?? "embedded,up,local,piscina").split(",");
const countFor = (ms: number) => (ms === 0 ? 200_000 : Math.round((SECONDS * 1000) / ms));
const CHILD = fileURLToPath(new URL("./lib-workloads/overhead-modes.ts", import.meta.url));

/** A configuration in its own process, driven over IPC. */
class ModeProc {
  private constructor(readonly name: string, private readonly proc: ChildProcess) {}

  static async start(name: string): Promise<ModeProc> {
    const proc = forkForBench(CHILD, [name], { execArgv: ["--import", "tsx"], stdio: ["ignore", "ignore", "inherit", "ipc"] });
    const [m] = (await once(proc, "message")) as [ModeReply];
    if (m.error) throw new Error(`${name}: ${m.error}`);
    return new ModeProc(name, proc);
  }

  async ask(msg: object): Promise<ModeReply> {
    this.proc.send(msg);
    const [m] = (await once(this.proc, "message")) as [ModeReply];
    if (m.error) throw new Error(`${this.name}: ${m.error}`);
    return m;
  }

  async close() {
    this.proc.send({ op: "close" });
    await once(this.proc, "exit");
  }
}

const wakeupBefore = await nodeWakeupUs();
const perMs = calibrate();
const roundsFor = (ms: number) => Math.round(ms * perMs);
const isTimed = (ms: number) => ms > 0; // trivial bodies are not timed: two cpuUsage() calls would be most of them
const self = process.pid;

const serialLoop = (k: number, n: number, timed = false) => {
  const f = timed ? timedBody : body;
  let s = 0;
  for (let j = 0; j < n; j++) s += f(k);
  return s;
};

const procs: ModeProc[] = [];
for (const name of ["loop2", ...MODES]) procs.push(await ModeProc.start(name));
const [loop2, ...modes] = procs as [ModeProc, ...ModeProc[]];

/**
 * Per configuration and duration: wall seconds, CPU seconds of all its processes, and per role;
 * and the CPU seconds spent inside the bodies as they measured it (NaN where they could not).
 */
type Row = { wall: number[]; cpu: number[]; bodies: number[]; perRole: Record<string, number[]> };
const rows: Record<string, Row> = {};
const rowFor = (k: string) => (rows[k] ??= { wall: [], cpu: [], bodies: [], perRole: {} });
const idle: Record<string, Record<string, number>> = {};
/** Per configuration and role, the idle figure of each round (ms per second). */
const idleRounds: Record<string, Record<string, number[]>> = {};

try {
  // Warm-up: JIT, shipping; of both bodies (timedBody's first shipping would otherwise land in round 1).
  for (const m of procs) for (const timed of [false, true]) await m.ask({ op: "run", k: roundsFor(0.05), n: 2_000, timed });
  serialLoop(roundsFor(0.05), 2_000);
  serialLoop(roundsFor(0.05), 2_000, true);
  for (let r = 0; r < runs(); r++) {
    // Each round: every configuration's background (heartbeats, timers, GC) while idle, ms per second.
    for (const m of modes) {
      const perRole = (await m.ask({ op: "idle", ms: 2000 })).perRole!;
      for (const [role, v] of Object.entries(perRole)) ((idleRounds[m.name] ??= {})[role] ??= []).push(v);
    }
    for (const ms of DURATIONS) {
      const n = countFor(ms);
      const k = roundsFor(ms);
      const order: (ModeProc | "loop")[] = ["loop", loop2, ...modes];
      if (r % 2) order.reverse();
      for (const m of order) {
        if (m === "loop") {
          const c0 = cpuSeconds(self);
          const t0 = performance.now();
          const sum = serialLoop(k, n, isTimed(ms));
          if (!Number.isFinite(sum)) throw new Error("bad sum");
          const row = rowFor(`${ms} loop`);
          row.wall.push((performance.now() - t0) / 1000);
          row.cpu.push(cpuSeconds(self) - c0);
          row.bodies.push(isTimed(ms) ? sum / 1e6 : 0);
          continue;
        }
        const rep = await m.ask({ op: "run", k, n, timed: isTimed(ms) });
        const row = rowFor(`${ms} ${m.name}`);
        row.wall.push(rep.wall!);
        row.cpu.push(Object.values(rep.perRole!).reduce((a, b) => a + b, 0));
        row.bodies.push(rep.bodies ?? Number.NaN);
        for (const [role, s] of Object.entries(rep.perRole!)) (row.perRole[role] ??= []).push(s);
      }
    }
    console.error(`round ${r + 1}/${runs()} done`);
  }
} finally {
  for (const m of procs) await m.close();
}

for (const [name, roles] of Object.entries(idleRounds)) idle[name] = Object.fromEntries(Object.entries(roles).map(([role, v]) => [role, +median(v).toFixed(2)]));
const idleTotal = (name: string) => Object.values(idle[name] ?? {}).reduce((a, b) => a + b, 0) / 1000; // CPU-s per second

/** Roles in which the bodies run: their figures are net of the bodies. */
const BODY_ROLES = new Set(["executors", "pool", "client+threads"]);
const out: Record<string, unknown> = {};
for (const ms of DURATIONS) {
  const n = countFor(ms);
  const loop = median(rows[`${ms} loop`]!.wall);
  const two = rows[`${ms} loop2`]!;
  const twoLoopsCpu = median(two.cpu);
  const us = (s: number) => +((s / n) * 1e6).toFixed(1);
  const per: Record<string, unknown> = {
    tasks: n,
    loopSeconds: +loop.toFixed(3),
    // CPU of the plain loops' processes, and (inside) of their bodies as the bodies measured it.
    bodiesCpuSeconds: {
      oneCore: +median(rows[`${ms} loop`]!.cpu).toFixed(3),
      twoCores: +twoLoopsCpu.toFixed(3),
      insideOneCore: +median(rows[`${ms} loop`]!.bodies).toFixed(3),
      insideTwoCores: +median(two.bodies).toFixed(3),
    },
  };
  for (const m of modes) {
    const row = rows[`${ms} ${m.name}`]!;
    // Round i's bodies: as they measured themselves; where they could not (piscina's threads), the
    // two plain loops' of the same round.
    const bodiesOf = (i: number) => (Number.isFinite(row.bodies[i]) ? row.bodies[i]! : two.bodies[i]!);
    per[m.name] = {
      wallSeconds: +median(row.wall).toFixed(3),
      speedup: +(loop / median(row.wall)).toFixed(2),
      // Issue 10's figure: (CPU of every process − CPU spent inside the bodies) / tasks.
      overheadUs: us(median(row.cpu.map((c, i) => c - bodiesOf(i)))),
      // The same with the bodies' CPU reckoned as the two plain loops' processes' (the figure of
      // sessions 9–14): it also counts any difference of the bodies' own speed between the plain
      // loops and this configuration (2–4 % between runs at 1 and 10 ms on this VM).
      overheadVsTwoLoopsUs: us(median(row.cpu.map((c) => c - twoLoopsCpu))),
      // The bodies' CPU here against the same bodies in the two plain loops (1 = as fast; null where
      // the bodies did not time themselves: piscina's would be 1 by construction).
      bodiesVsTwoLoops: isTimed(ms) && row.bodies.every(Number.isFinite) ? +median(row.bodies.map((b, i) => b / two.bodies[i]!)).toFixed(3) : null,
      // What the tasks cost beyond the cluster's background: the idle CPU per second (heartbeats,
      // timers, GC; idleCpuMsPerSecond) times the run's wall time comes off. At 1 and 10 ms that
      // background is most of overheadUs: a per-second cost, not a per-task one.
      overheadNetOfIdleUs: us(median(row.cpu.map((c, i) => c - bodiesOf(i) - idleTotal(m.name) * row.wall[i]!))),
      overheadUsByProcess: Object.fromEntries(Object.entries(row.perRole).map(([k, v]) => [k, us(median(v.map((c, i) => (BODY_ROLES.has(k) ? c - bodiesOf(i) : c))))])),
    };
  }
  out[`${ms} ms`] = per;
}
const wakeupAfter = await nodeWakeupUs();
report({ bench: "task-overhead", runs: runs(), load1: +loadavg()[0].toFixed(2), nodeWakeupUs: [wakeupBefore, wakeupAfter], idleCpuMsPerSecond: idle, results: out });
