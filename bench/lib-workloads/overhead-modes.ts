/**
 * The configurations of bench/task-overhead, one per process (forked with the configuration's
 * name as argument), driven over IPC: `{ op: "run", k, n }` runs n bodies of k rounds and answers
 * with the wall time and the CPU seconds of every process of the configuration, by role;
 * `{ op: "idle", ms }` answers with the CPU milliseconds per second each role burns doing nothing;
 * `{ op: "close" }` stops it.
 */
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { Piscina } from "piscina";
import { Client } from "../../index.ts";
import { delayed, LocalPool, parallel } from "../../workloads/index.ts";
import { forkForBench, startUp } from "../lib.ts";
import { comm, delta, descendants, sample, type ProcessRoles } from "./proc-cpu.ts";

export interface ModeReply {
  error?: string;
  wall?: number;
  /** CPU seconds spent inside the bodies, as they measured it ({@link timedBody}; run only; 0 for
   * trivial bodies; null where they could not time themselves). */
  bodies?: number | null;
  /** CPU seconds per role (run), or CPU ms per second (idle). */
  perRole?: Record<string, number>;
}

/** The body, shipped by source (self-contained): `k` rounds of integer arithmetic (as spin.mjs). */
export const body = (k: number) => {
  let x = 1;
  for (let i = 0; i < k; i++) x = (x * 1103515245 + 12345) >>> 0;
  return x;
};

/**
 * {@link body} that answers with its own CPU time instead: microseconds of process CPU (user +
 * system, `process.cpuUsage()`) from its first line to its last, i.e. "the CPU spent inside task
 * bodies" of issue 10's definition of overhead, measured where it is spent instead of estimated from
 * plain loops (whose speed differs from run to run by more than the overhead at 1 and 10 ms). The
 * timing is split: roughly one `cpuUsage()` call's worth (~0.5 µs here) falls inside the window and
 * counts as body, the rest outside and counts as overhead (a bare loop of these bodies leaves
 * ~0.5–1 µs per body outside at 0.1–1 ms, ~3–4 µs at 10 ms, on the 2-vCPU VM); trivial bodies (0 ms)
 * use {@link body}. `process.cpuUsage()` counts every thread of the process: a GC helper thread busy
 * during a body counts as body too. Self-contained (shipped by source). The sum of `x`'s low bit
 * keeps the loop live at a cost of at most 1e-6 µs.
 */
export const timedBody = (k: number) => {
  const c0 = process.cpuUsage();
  let x = 1;
  for (let i = 0; i < k; i++) x = (x * 1103515245 + 12345) >>> 0;
  const c = process.cpuUsage(c0);
  return c.user + c.system + (x & 1) * 1e-6;
};

/**
 * Rounds of {@link body} per millisecond of CPU on this machine (median of a few timings). CPU
 * time, not wall time: on a busy machine a wall-clock calibration would make every body shorter.
 */
export function calibrate(): number {
  const k = 2_000_000;
  const t: number[] = [];
  for (let i = 0; i < 7; i++) {
    const c0 = process.cpuUsage();
    body(k);
    const c = process.cpuUsage(c0);
    t.push((c.user + c.system) / 1000);
  }
  t.sort((a, b) => a - b);
  return k / t[3]!;
}

interface Mode {
  roles(): ProcessRoles;
  /**
   * Runs n bodies of k rounds (timed ones when `timed`); answers with the sum of their results:
   * the bodies' CPU microseconds when timed (NaN where they could not time themselves).
   */
  run(k: number, n: number, timed: boolean): Promise<number>;
  close(): Promise<void>;
}

const self = process.pid;
const check = (out: number[], n: number) => {
  if (out.length !== n) throw new Error(`expected ${n} results, got ${out.length}`);
  return out.reduce((a, b) => a + b, 0);
};
const natsAndRest = (pids: number[], rest: string): ProcessRoles => ({
  "nats-server": pids.filter((p) => comm(p) === "nats-server"),
  [rest]: pids.filter((p) => comm(p) !== "nats-server"),
});

const modes: Record<string, () => Promise<Mode>> = {
  /** Two plain loops in two processes at once (the bodies' CPU on two busy cores). */
  async loop2() {
    const me = fileURLToPath(import.meta.url);
    const kids = [0, 1].map(() => forkForBench(me, ["loop"], { execArgv: ["--import", "tsx"], stdio: ["ignore", "ignore", "inherit", "ipc"] }));
    await Promise.all(kids.map((c) => once(c, "message")));
    return {
      roles: () => ({ loops: kids.map((c) => c.pid!) }),
      run: async (k, n, timed) => {
        const done = kids.map((c) => once(c, "message") as Promise<[{ s: number }]>);
        kids.forEach((c, i) => c.send({ k, n: i === 0 ? Math.ceil(n / 2) : Math.floor(n / 2), timed }));
        return (await Promise.all(done)).reduce((a, [m]) => a + m.s, 0);
      },
      close: async () => {
        for (const c of kids) c.kill();
      },
    };
  },
  async embedded() {
    const client = await Client.connect(undefined, { local: { nprocs: 2 } });
    return {
      roles: () => ({ "client+scheduler+supervisor": [self], ...natsAndRest(client.localCluster!.pids(), "executors") }),
      run: async (k, n, timed) => check(await client.gather(client.map(timed ? timedBody : body, new Array(n).fill(k))), n),
      close: () => client.close(),
    };
  },
  async up() {
    const up = await startUp(["--nprocs", "2"]);
    const client = await Client.connect(up.url, { cluster: up.cluster });
    const upPid = up.proc.pid!;
    return {
      roles: () => ({ client: [self], "scheduler+supervisor": [upPid], ...natsAndRest(descendants(upPid), "executors") }),
      run: async (k, n, timed) => check(await client.gather(client.map(timed ? timedBody : body, new Array(n).fill(k))), n),
      close: async () => {
        await client.close();
        await up.stop();
      },
    };
  },
  async local() {
    const pool = await LocalPool.start({ nJobs: 2 });
    return {
      roles: () => ({ client: [self], pool: descendants(self) }),
      run: async (k, n, timed) => {
        const f = timed ? timedBody : body;
        const calls = function* () {
          for (let i = 0; i < n; i++) yield delayed(f)(k);
        };
        return check(await parallel({ backend: pool }, calls()), n);
      },
      close: () => pool.close(),
    };
  },
  async piscina() {
    const pool = new Piscina({ filename: new URL("./spin.mjs", import.meta.url).href, minThreads: 2, maxThreads: 2 });
    return {
      roles: () => ({ "client+threads": [self] }),
      run: async (k, n, timed) => {
        const ps: Promise<number>[] = new Array(n);
        // Untimed even when asked: process.cpuUsage() in a worker thread counts every thread of the
        // process, the other thread's bodies too. bench/task-overhead reckons piscina's bodies from
        // the plain loops' instead (answering NaN here says so; it crosses IPC as null).
        for (let i = 0; i < n; i++) ps[i] = pool.run(k);
        check(await Promise.all(ps), n);
        return timed ? Number.NaN : 0;
      },
      close: () => pool.destroy(),
    };
  },
};

async function serve(name: string) {
  // The benchmark is gone (killed, even by SIGKILL: the OS closes our channel): so are we, and the
  // `up` we started goes with us (bench/lib.ts stops it at exit; its keeper if we die harder).
  process.on("disconnect", () => process.exit(1));
  const send = (m: ModeReply) => process.send!(m);
  let mode: Mode;
  try {
    const make = modes[name];
    if (!make) throw new Error(`unknown configuration '${name}'`);
    mode = await make();
  } catch (e) {
    return send({ error: (e as Error).stack ?? String(e) });
  }
  send({});
  process.on("message", async (m: { op: string; k?: number; n?: number; ms?: number; timed?: boolean }) => {
    try {
      if (m.op === "close") {
        await mode.close();
        process.exit(0);
      }
      const roles = mode.roles();
      const before = sample(roles);
      const t0 = performance.now();
      let sum = 0;
      if (m.op === "idle") await new Promise((r) => setTimeout(r, m.ms));
      else sum = await mode.run(m.k!, m.n!, !!m.timed);
      const wall = (performance.now() - t0) / 1000;
      const used = delta(before, sample(roles));
      send(m.op === "idle" ? { perRole: Object.fromEntries(Object.entries(used).map(([k, v]) => [k, +((v / wall) * 1000).toFixed(2)])) } : { wall, perRole: used, bodies: m.timed ? sum / 1e6 : 0 });
    } catch (e) {
      send({ error: (e as Error).stack ?? String(e) });
    }
  });
}

/** A plain loop process of `loop2`: runs n bodies of k rounds per message, answers when done. */
function loopChild() {
  process.on("disconnect", () => process.exit(1));
  process.on("message", (m: { k: number; n: number; timed: boolean }) => {
    const f = m.timed ? timedBody : body;
    let s = 0;
    for (let i = 0; i < m.n; i++) s += f(m.k);
    process.send!({ s });
  });
  process.send!({});
}

const role = process.argv[2];
if (process.send && role === "loop") loopChild();
else if (process.send && role) void serve(role);
