/**
 * Start-up times (issue 13 goals on 2 cores: up ≤ 1.0 s, embedded first result ≤ 1.0 s, executor
 * replacement ≤ 250 ms), for the compiled package (dist/, as installed) against the same code run
 * from its TypeScript sources through tsx (how every process started before the build existed).
 * The two configurations alternate within each round; medians over BENCH_RUNS rounds (default 5).
 *
 *   up            `ts-dask up --nprocs 2` spawned → its "Ctrl-C stops everything" line (executors ready)
 *   replace       an executor of a 2-process cluster killed with SIGKILL → its replacement joined
 *                 and answering (`client.runOn([name])`); the worker's standby process is waiting
 *   worker        `ts-dask worker <url> --nprocs 2` spawned → both executors joined and answering
 *   embedded      a fresh `node` process: import ts-dask, `Client.connect()` (private cluster),
 *                 first `submit` result (wall from spawn, and in-process since Node started)
 *   dask          the anchor, when Python with `distributed` is found (Debian: python3-distributed;
 *                 $BENCH_DASK_PYTHON names another interpreter): a fresh `python3` process,
 *                 `LocalCluster(n_workers=2, threads_per_worker=1)` started, and a `Client`'s
 *                 first `submit` result; run in the same rounds, alternated with the others
 *
 * CPU seconds per process kind (from /proc, Linux) are read at the moment each start is complete.
 * Phases: the processes run with $TSDASK_STARTUP_TRACE (runtime/startup-trace.ts); for `up`, the
 * new worker and the embedded start, the median of each phase mark in ms since the spawn (per
 * process kind: the first executor to reach a phase, and the last).
 *
 * $BENCH_STARTUP_BASELINE=<another checkout, built> adds a third configuration in the same rounds:
 * that checkout's compiled package (before/after comparisons of a change). $BENCH_STARTUP_ONLY
 * (comma-separated: compiled, source, baseline, dask) measures only those.
 *
 *   npm run bench startup          (BENCH_RUNS=7 npm run bench startup)
 */
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Writable } from "node:stream";
import { connect } from "nats";
import { Client } from "../index.ts";
import { decode } from "../runtime/codec.ts";
import { subjects, type ClusterEvent } from "../runtime/protocol.ts";
import { median, report, runs, spawnForBench } from "./lib.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BIN = path.join(ROOT, "bin", "ts-dask.mjs");
const TSX = import.meta.resolve("tsx");
if (!existsSync(path.join(ROOT, "dist", "cli", "main.js"))) throw new Error("bench/startup: dist/ is missing; run `npm run build` first");

type Mode = "compiled" | "source" | "baseline";
const BASELINE = process.env.BENCH_STARTUP_BASELINE ? path.resolve(process.env.BENCH_STARTUP_BASELINE) : undefined;
if (BASELINE && !existsSync(path.join(BASELINE, "dist", "cli", "main.js"))) throw new Error(`bench/startup: ${BASELINE}/dist is missing; build that checkout first`);
/** $BENCH_STARTUP_ONLY=compiled,baseline,… measures only those configurations (of compiled, source, baseline, dask). */
const ONLY = process.env.BENCH_STARTUP_ONLY ? new Set(process.env.BENCH_STARTUP_ONLY.split(",").map((s) => s.trim())) : undefined;
const MODES: Mode[] = (["compiled", "source", ...(BASELINE ? (["baseline"] as const) : [])] as Mode[]).filter((m) => !ONLY || ONLY.has(m));
/** The checkout a mode runs: this one, or the baseline. */
const rootOf = (mode: Mode) => (mode === "baseline" ? BASELINE! : ROOT);
/** Environment of a process started in `mode` (bin/ts-dask.mjs reads TSDASK_FROM_SOURCE), tracing start-up phases. */
const envOf = (mode: Mode): NodeJS.ProcessEnv => {
  const { TSDASK_FROM_SOURCE: _s, NODE_OPTIONS: _n, ...rest } = process.env;
  const traced = { ...rest, TSDASK_STARTUP_TRACE: "1" };
  return mode === "source" ? { ...traced, TSDASK_FROM_SOURCE: "1" } : traced;
};

/** Phase marks in `out` (runtime/startup-trace.ts) as ms since `t0` (epoch ms): `<kind> <phase>` → ms, first and last of a kind. */
function phasesOf(out: string, t0: number): Record<string, number> {
  const at: Record<string, number[]> = {};
  for (const m of out.matchAll(/^ts-dask-startup (\S+) \d+ (\S+) ([\d.]+)$/gm)) (at[`${m[1]} ${m[2]}`] ??= []).push(Number(m[3]) - t0);
  const r: Record<string, number> = {};
  for (const [k, v] of Object.entries(at)) {
    if (v.length === 1) r[k] = v[0]!;
    else ((r[`${k} (first)`] = Math.min(...v)), (r[`${k} (last)`] = Math.max(...v)));
  }
  return r;
}
const epochNow = () => performance.timeOrigin + performance.now();

// --- CPU seconds of a process tree (Linux /proc) -----------------------------------------------------

interface ProcStat {
  pid: number;
  ppid: number;
  kind: string;
  cpuS: number;
}

function readProcs(): ProcStat[] {
  if (!existsSync("/proc/self/stat")) return [];
  const out: ProcStat[] = [];
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const st = readFileSync(`/proc/${p}/stat`, "utf8");
      const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
      const cmd = readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0").join(" ");
      out.push({ pid: Number(p), ppid: Number(f[1]), kind: kindOf(cmd), cpuS: (Number(f[11]) + Number(f[12])) / 100 });
    } catch {
      // ended between listing and reading
    }
  }
  return out;
}

function kindOf(cmd: string): string {
  if (cmd.includes("nats-server")) return "nats-server";
  if (cmd.includes("executor/main")) return "executor";
  if (cmd.includes("tether")) return "tether";
  if (cmd.includes(" up ")) return "up (scheduler+supervisor)";
  if (cmd.includes(" worker ")) return "worker (supervisor)";
  return "client";
}

/** CPU seconds by process kind over `pid` and its descendants, now. */
function treeCpu(pid: number): Record<string, number> {
  const all = readProcs();
  const inTree = new Set([pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of all) if (!inTree.has(p.pid) && inTree.has(p.ppid)) (inTree.add(p.pid), (grew = true));
  }
  const by: Record<string, number> = {};
  for (const p of all) if (inTree.has(p.pid)) by[p.kind] = (by[p.kind] ?? 0) + p.cpuS;
  return by;
}

// --- processes ------------------------------------------------------------------------------------

interface Proc {
  pid: number;
  /** Settles when the process has exited. */
  exited: Promise<unknown>;
  /** Its stdin (a pipe), for processes started with `stdin: true`. */
  stdin: Writable | null;
  output(): string;
  /** Resolves with the first match of `re` in the output, and when it was seen (performance.now()). */
  waitFor(re: RegExp): Promise<{ m: RegExpExecArray; at: number }>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts a process of a round. `ts-dask up` and `worker` are tethered to this benchmark
 * (bench/lib.ts spawnForBench: gone with it, even when it is SIGKILLed); a process that reads its
 * stdin (`stdin: true`, the embedded script: it closes its client when stdin ends) notices our
 * end by that pipe instead.
 */
async function start(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd = ROOT, opts: { stdin?: boolean } = {}): Promise<Proc> {
  let out = "";
  const waiters = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d;
    for (const w of waiters) w();
  };
  let pid: number;
  let exited: Promise<unknown>;
  let stdin: Writable | null = null;
  let kill: (signal: NodeJS.Signals) => Promise<unknown>;
  if (opts.stdin) {
    const child = spawn(cmd, args, { env, cwd, stdio: ["pipe", "pipe", "pipe"] });
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    (pid = child.pid!), (stdin = child.stdin), (exited = once(child, "exit"));
    kill = (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    };
  } else {
    const child = await spawnForBench(cmd, args, { env, cwd, stdout: "pipe", stderr: "pipe" });
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    (pid = child.pid), (exited = child.exited);
    kill = (signal) => child.stop({ signal, timeoutMs: 10_000 });
  }
  return {
    pid,
    exited,
    stdin,
    output: () => out,
    waitFor: (re) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const m = re.exec(out);
          if (m) (waiters.delete(check), resolve({ m, at: performance.now() }));
        };
        waiters.add(check);
        void exited.then(() => waiters.has(check) && reject(new Error(`${cmd} ${args.join(" ")} exited before printing ${re}:\n${out}`)));
        check();
      }),
    async stop(signal = "SIGINT") {
      await kill(signal);
    },
  };
}

/** Cluster events (executor-joined …) on `url`, to wait on without polling. */
async function watchEvents(url: string, cluster: string) {
  const nc = await connect({ servers: url });
  const events: { e: ClusterEvent; at: number }[] = [];
  const waiters = new Set<() => void>();
  nc.subscribe(subjects(cluster).events, {
    callback: (_err, msg) => {
      events.push({ e: decode<ClusterEvent>(msg.data), at: performance.now() });
      for (const w of waiters) w();
    },
  });
  await nc.flush();
  return {
    /** The first event after index `from` matching `pred`. */
    until(pred: (e: ClusterEvent) => boolean, from: number): Promise<{ e: ClusterEvent; at: number }> {
      return new Promise((resolve) => {
        const check = () => {
          const hit = events.slice(from).find((x) => pred(x.e));
          if (hit) (waiters.delete(check), resolve(hit));
        };
        waiters.add(check);
        check();
      });
    },
    get count() {
      return events.length;
    },
    close: () => nc.close(),
  };
}

// --- the anchor: Dask's LocalCluster ---------------------------------------------------------------

const DASK = `import time
t0 = time.time()
from dask.distributed import Client, LocalCluster
if __name__ == "__main__":
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    print("ready %.1f" % ((time.time() - t0) * 1000), flush=True)
    client = Client(cluster)
    client.submit(lambda x: x + 1, 1).result()
    print("first", flush=True)
    client.close()
    cluster.close()
`;

/** A Python interpreter that can import dask.distributed, or undefined (the anchor is then skipped). */
function daskPython(): string | undefined {
  for (const py of [process.env.BENCH_DASK_PYTHON, "/usr/bin/python3", "python3"]) {
    if (!py) continue;
    const r = spawnSync(py, ["-c", "import distributed; print(distributed.__version__)"], { encoding: "utf8" });
    if (r.status === 0) return py;
  }
  return undefined;
}

interface DaskRound {
  readyMs: number;
  firstResultMs: number;
  cpuS: number;
}

/** `LocalCluster(n_workers=2)` in a fresh Python process: spawn → cluster ready, → first result. */
async function daskRound(py: string, script: string): Promise<DaskRound> {
  const t0 = performance.now();
  const p = await start(py, [script], { ...process.env, PYTHONWARNINGS: "ignore" }, path.dirname(script));
  const ready = await p.waitFor(/^ready /m);
  const first = await p.waitFor(/^first$/m);
  const cpu = Object.values(treeCpu(p.pid)).reduce((a, b) => a + b, 0);
  await p.exited;
  return { readyMs: ready.at - t0, firstResultMs: first.at - t0, cpuS: cpu };
}

const joined = (name: string) => (e: ClusterEvent) => e.type === "executor-joined" && e.name === name;

// --- one round of one configuration ---------------------------------------------------------------

interface Round {
  upPhases: Record<string, number>;
  workerPhases: Record<string, number>;
  embeddedPhases: Record<string, number>;
  upMs: number;
  upCpuS: Record<string, number>;
  replaceMs: number;
  replaceJoinedMs: number;
  workerMs: number;
  workerCpuS: Record<string, number>;
  embeddedWallMs: number;
  embeddedSinceNodeStartMs: number;
  embeddedCpuS: Record<string, number>;
}

async function round(mode: Mode, tmp: string, i: number): Promise<Round> {
  const env = envOf(mode);
  const bin = path.join(rootOf(mode), "bin", "ts-dask.mjs");
  // up --nprocs 2
  const t0 = performance.now();
  const up0 = epochNow();
  const up = await start(process.execPath, [bin, "up", "--nprocs", "2", "--name", "up", "--dashboard-address", "none", "--local-directory", path.join(tmp, `up-${mode}-${i}`)], env);
  const ready = await up.waitFor(/Client\.connect\("([^"]+)", \{ cluster: "([^"]+)" \}\)[\s\S]*Ctrl-C stops everything/);
  const upMs = ready.at - t0;
  const upCpuS = treeCpu(up.pid);
  const upPhases = phasesOf(up.output(), up0);
  const [url, cluster] = [ready.m[1]!, ready.m[2]!];
  const events = await watchEvents(url, cluster);
  const client = await Client.connect(url, { cluster });
  let workerMs = 0;
  let workerCpuS: Record<string, number> = {};
  let workerPhases: Record<string, number> = {};
  try {
    // a new worker --nprocs 2
    const wname = `w${i}${mode[0]}`;
    const from2 = events.count;
    const w0 = performance.now();
    const wEpoch = epochNow();
    const worker = await start(process.execPath, [bin, "worker", url, "--cluster", cluster, "--nprocs", "2", "--name", wname, "--local-directory", path.join(tmp, `w-${mode}-${i}`)], env);
    await Promise.all([events.until(joined(`${wname}-0`), from2), events.until(joined(`${wname}-1`), from2)]);
    await client.runOn([`${wname}-0`, `${wname}-1`], () => process.pid);
    workerMs = performance.now() - w0;
    workerCpuS = treeCpu(worker.pid);
    workerPhases = phasesOf(worker.output(), wEpoch);
    await worker.stop("SIGTERM");
  } finally {
    await client.close();
    await events.close();
    await up.stop("SIGINT");
  }
  const { replaceMs, replaceJoinedMs } = await replacement(mode, tmp, i);
  // embedded Client.connect(), cold, to its first result
  const script = path.join(tmp, mode === "source" ? "embedded-src.mts" : mode === "baseline" ? "embedded-baseline.mjs" : "embedded.mjs");
  const e0 = performance.now();
  const eEpoch = epochNow();
  const emb = await start(process.execPath, mode === "source" ? ["--import", TSX, `--conditions=ts-dask-source`, script] : [script], env, tmp, { stdin: true });
  const first = await emb.waitFor(/^first (\S+)$/m);
  const embeddedWallMs = first.at - e0;
  const embeddedCpuS = treeCpu(emb.pid);
  const embeddedPhases = phasesOf(emb.output(), eEpoch);
  emb.stdin!.end(); // the script closes its client when stdin ends
  await emb.exited;
  return { upPhases, workerPhases, embeddedPhases, upMs, upCpuS, replaceMs, replaceJoinedMs, workerMs, workerCpuS, embeddedWallMs, embeddedSinceNodeStartMs: Number(first.m[1]), embeddedCpuS };
}

/**
 * An executor killed with SIGKILL → its replacement joined and answering `runOn`. On a cluster in
 * this process (as `ts-dask up` runs it), so the bench can wait until the worker's standby process
 * is started and waiting, as it is in a cluster that has run for more than a second.
 */
async function replacement(mode: Mode, tmp: string, i: number): Promise<{ replaceMs: number; replaceJoinedMs: number }> {
  const mod = (mode === "source" ? await import("../index.ts") : await import(path.join(rootOf(mode), "dist", "index.js"))) as typeof import("../index.ts");
  const lc = await mod.LocalCluster.start({ nprocs: 2, name: "rp", quiet: true, localDirectory: path.join(tmp, `rp-${mode}-${i}`) });
  const events = await watchEvents(lc.url, lc.cluster);
  const client = await mod.Client.connect(lc.url, { cluster: lc.cluster });
  try {
    const pids = await client.run(() => process.pid);
    await lc.worker.standbyReady();
    const from = events.count;
    const k0 = performance.now();
    process.kill(pids["rp-1"]!, "SIGKILL");
    const j = await events.until(joined("rp-1"), from);
    await client.runOn(["rp-1"], () => process.pid);
    return { replaceMs: performance.now() - k0, replaceJoinedMs: j.at - k0 };
  } finally {
    await client.close();
    await events.close();
    await lc.stop();
  }
}

const EMBEDDED = (from: string) => `import { Client } from ${JSON.stringify(from)};
const mark = (phase) => process.stderr.write("ts-dask-startup script " + process.pid + " " + phase + " " + (performance.timeOrigin + performance.now()).toFixed(1) + "\\n");
mark("ts-dask-imported");
const client = await Client.connect();
await client.submit((x) => x + 1, 1).result();
mark("first-result");
console.log("first " + performance.now().toFixed(1));
process.stdin.resume();
process.stdin.on("end", async () => { await client.close(); process.exit(0); });
`;

function summary(rs: Round[]) {
  const cpu = (pick: (r: Round) => Record<string, number>) => {
    const kinds = [...new Set(rs.flatMap((r) => Object.keys(pick(r))))].sort();
    return Object.fromEntries(kinds.map((k) => [k, +median(rs.map((r) => pick(r)[k] ?? 0)).toFixed(2)]));
  };
  const ms = (f: (r: Round) => number) => Math.round(median(rs.map(f)));
  const phases = (pick: (r: Round) => Record<string, number>) => {
    const keys = [...new Set(rs.flatMap((r) => Object.keys(pick(r))))];
    const med = keys.map((k) => [k, Math.round(median(rs.map((r) => pick(r)[k]).filter((v): v is number => v !== undefined)))] as const);
    return Object.fromEntries(med.sort((a, b) => a[1] - b[1]));
  };
  return {
    upToReadyMs: ms((r) => r.upMs),
    upCpuSecondsAtReady: cpu((r) => r.upCpuS),
    executorReplacementMs: ms((r) => r.replaceMs),
    executorReplacementJoinedMs: ms((r) => r.replaceJoinedMs),
    newWorkerNprocs2ToTasksMs: ms((r) => r.workerMs),
    newWorkerCpuSeconds: cpu((r) => r.workerCpuS),
    embeddedFirstResultWallMs: ms((r) => r.embeddedWallMs),
    embeddedFirstResultSinceNodeStartMs: ms((r) => r.embeddedSinceNodeStartMs),
    embeddedCpuSecondsAtFirstResult: cpu((r) => r.embeddedCpuS),
    phasesMsSinceSpawn: { up: phases((r) => r.upPhases), newWorker: phases((r) => r.workerPhases), embedded: phases((r) => r.embeddedPhases) },
  };
}

const tmp = mkdtempSync(path.join(tmpdir(), "ts-dask-bench-startup-"));
try {
  writeFileSync(path.join(tmp, "embedded.mjs"), EMBEDDED(path.join(ROOT, "dist", "index.js")));
  writeFileSync(path.join(tmp, "embedded-src.mts"), EMBEDDED(path.join(ROOT, "index.ts")));
  if (BASELINE) writeFileSync(path.join(tmp, "embedded-baseline.mjs"), EMBEDDED(path.join(BASELINE, "dist", "index.js")));
  writeFileSync(path.join(tmp, "dask_start.py"), DASK);
  const py = !ONLY || ONLY.has("dask") ? daskPython() : undefined;
  const results: Record<Mode, Round[]> = { compiled: [], source: [], baseline: [] };
  const dask: DaskRound[] = [];
  const n = runs();
  for (let i = 0; i < n; i++) {
    const order: (Mode | "dask")[] = [...MODES, ...(py ? (["dask"] as const) : [])];
    for (const mode of i % 2 ? order.reverse() : order) {
      if (mode === "dask") dask.push(await daskRound(py!, path.join(tmp, "dask_start.py")));
      else results[mode].push(await round(mode, tmp, i));
    }
    console.error(`startup: round ${i + 1}/${n} done`);
  }
  const daskVersion = py ? spawnSync(py, ["-c", "import distributed; print(distributed.__version__)"], { encoding: "utf8" }).stdout.trim() : undefined;
  report({
    bench: "startup",
    runs: n,
    goals: { upToReadyMs: 1000, embeddedFirstResultWallMs: 1000, executorReplacementMs: 250 },
    ...(results.compiled.length ? { compiled: summary(results.compiled) } : {}),
    ...(results.source.length ? { source: summary(results.source) } : {}),
    ...(BASELINE ? { baseline: { checkout: BASELINE, ...summary(results.baseline) } } : {}),
    dask: py
      ? {
          version: daskVersion,
          localClusterNWorkers2ReadyMs: Math.round(median(dask.map((d) => d.readyMs))),
          localClusterFirstResultMs: Math.round(median(dask.map((d) => d.firstResultMs))),
          cpuSecondsAtFirstResult: +median(dask.map((d) => d.cpuS)).toFixed(2),
        }
      : "not measured (no python3 with distributed; Debian: apt-get install python3-distributed)",
    note: "compiled = dist/ under plain node (the installed package); source = the same code from .ts through tsx; dask = Python's LocalCluster(n_workers=2, threads_per_worker=1, processes, no dashboard), spawn to cluster ready and to a Client's first result, in the same rounds. Wall ms are medians; CPU seconds (from /proc) are of the process tree when the start completed.",
  });
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
