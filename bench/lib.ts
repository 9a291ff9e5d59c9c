/**
 * Shared by the benchmarks: a `ts-dask up` cluster in its own process, medians, JSON output.
 *
 * Processes a benchmark starts that would outlive it (`ts-dask up`, a scheduler, a worker) are
 * started with {@link spawnForBench}: tethered (runtime/platform.ts `spawnTethered`: a keeper stops
 * the child's process group when this process dies in any way, SIGKILL included), and stopped
 * by this process on its own way out: at exit (SIGKILL to each one's process group, synchronous),
 * and on SIGINT/SIGTERM/SIGHUP (a graceful stop, then exit). A killed benchmark used to leave
 * its `up` running for as long as nobody noticed. Forked children (plain loops, simulated clients)
 * go through {@link forkForBench}, and `ts-dask` commands started with test/helpers/cli.ts `cli()`
 * are tethered there: neither outlives a SIGKILLed benchmark (test/bench-cleanup.test.ts).
 */
import { fileURLToPath } from "node:url";
import type { Readable } from "node:stream";
import v8 from "node:v8";
import { runInNewContext } from "node:vm";
import { fork, type ChildProcess, type ForkOptions } from "node:child_process";
import { killTree, onShutdown, spawnTethered, tether, type Tethered, type TetherOptions } from "../runtime/platform.ts";
import { comm, descendants } from "./lib-workloads/proc-cpu.ts";

const BIN = fileURLToPath(new URL("../bin/ts-dask.mjs", import.meta.url));

/** Children of this benchmark still running (see the module comment). */
const children = new Set<Tethered>();
let hooked = false;

/**
 * Starts `cmd args` as a child that cannot outlive this benchmark (see the module comment). Stop
 * it with its `stop()`; whatever is still running when the benchmark ends is stopped then.
 */
export async function spawnForBench(cmd: string, args: readonly string[], opts: TetherOptions = {}): Promise<Tethered> {
  if (!hooked) {
    hooked = true;
    // Exit (normal, process.exit, an uncaught error): nothing async runs any more, so SIGKILL the groups.
    process.on("exit", () => {
      for (const c of children) if (!c.hasExited) killTree(c.pid, "SIGKILL", { group: true });
    });
    // Asked to stop: stop them as asked (their own shutdown: `up` stops its nats-server and workers), then exit.
    onShutdown(() => Promise.all([...children].map((c) => c.stop({ signal: "SIGTERM", timeoutMs: 5000 }))).then(() => {}), { timeoutMs: 8000 });
  }
  const child = await spawnTethered(cmd, args, { killSignal: "SIGTERM", killGraceMs: 5000, ...opts });
  children.add(child);
  void child.exited.then(() => children.delete(child));
  return child;
}

/** Children started with {@link forkForBench} still running. */
const forked = new Set<ChildProcess>();

/**
 * `fork(modulePath, args, opts)` (an IPC channel, as `fork` gives) for a child that cannot outlive
 * this benchmark: tethered (runtime/platform.ts `tether`: SIGTERM, then SIGKILL after `killGraceMs`,
 * when this process dies in any way, SIGKILL included) and SIGKILLed when this process exits. Plain
 * loops and simulated clients: a SIGKILLed benchmark used to leave them computing for minutes.
 */
export function forkForBench(modulePath: string, args: readonly string[] = [], opts: ForkOptions & { killGraceMs?: number } = {}): ChildProcess {
  const { killGraceMs = 2000, ...forkOpts } = opts;
  const child = fork(modulePath, [...args], forkOpts);
  tether(child, { killGraceMs });
  if (!forkHooked) {
    forkHooked = true;
    process.on("exit", () => {
      for (const c of forked) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    });
  }
  forked.add(child);
  child.once("exit", () => forked.delete(child));
  return child;
}
let forkHooked = false;

export interface UpCluster {
  url: string;
  cluster: string;
  /** The `ts-dask up` process (its PID leads its process group). */
  proc: { pid: number };
  /** What `ts-dask up` printed so far (e.g. its dashboard URL). */
  output(): string;
  stop(): Promise<void>;
}

/** Starts `ts-dask up` with the given flags and waits for its connect line. */
export async function startUp(args: string[]): Promise<UpCluster> {
  const proc = await spawnForBench(process.execPath, [BIN, "up", ...args], { stdout: "pipe", stderr: "inherit" });
  let out = "";
  const found = await new Promise<RegExpExecArray>((resolve, reject) => {
    (proc.stdout as Readable).on("data", (d: Buffer) => {
      out += d.toString();
      const m = /Client\.connect\("([^"]+)", \{ cluster: "([^"]+)" \}\)/.exec(out);
      if (m && out.includes("Ctrl-C")) resolve(m);
    });
    void proc.exited.then((e) => reject(new Error(`ts-dask up exited with ${e.code ?? e.signal}:\n${out}`)));
  });
  return {
    url: found[1]!,
    cluster: found[2]!,
    proc: { pid: proc.pid },
    output: () => out,
    async stop() {
      await proc.stop({ signal: "SIGINT", timeoutMs: 10_000 });
    },
  };
}

/**
 * The processes of a benchmark on `up` by role, for CPU per process (bench/lib-workloads/proc-cpu.ts):
 * this process (the client), the `up` process (scheduler + supervisor), its executors and its nats-server.
 */
export function upRoles(upPid: number): Record<string, number[]> {
  const rest = descendants(upPid);
  return { client: [process.pid], "scheduler+supervisor": [upPid], executors: rest.filter((p) => comm(p) === "node"), "nats-server": rest.filter((p) => comm(p) === "nats-server") };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** Prints one JSON document (the benchmark's result) on stdout. */
export function report(result: Record<string, unknown>): void {
  console.log(JSON.stringify(result, null, 2));
}

export const runs = () => Number(process.env.BENCH_RUNS ?? 5);

/**
 * A full garbage collection in this process, so one configuration does not pay for the garbage
 * the previous one left (the 10^6-result runs leave hundreds of MB). Enables `gc` on first use.
 */
export function collectGarbage(): void {
  const g = globalThis as { gc?: () => void };
  if (!g.gc) {
    v8.setFlagsFromString("--expose-gc");
    g.gc = runInNewContext("gc") as () => void;
  }
  g.gc!();
}
