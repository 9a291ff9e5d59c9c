/**
 * bench/embedded (issue 13 item 5, measurement only): a cold client process's first 100,000-task
 * map (tasks/s) and its first 300 sequential submits (p50/p99 ms), on
 *   embedded  `Client.connect()`: scheduler and supervisor in the client's own event loop;
 *   up        `ts-dask up --nprocs 2` in its own process, the client connecting to it.
 * Both use the compiled package (dist/) and 2 executors; configurations alternate within each
 * round; medians of BENCH_RUNS rounds (default 5). CPU seconds of the client process (for
 * embedded: client + scheduler + supervisor) and, for up, of the up process, beside the times.
 * Goal (issue 13, cold first run of embedded): ≥ 500k tasks/s and p50 ≤ 0.7 ms.
 *
 * `upWarm` (the reference the issue compares against: a warmed `up`): a fresh `up` cluster and one
 * client process that maps and submits $BENCH_WARM_REPEATS times (default 3); the last time counts.
 * Per round and phase, CPU seconds per process from /proc (`cpuMapS`, `cpuSubmitsS`: the client or
 * up process, both executors, nats-server, and their main threads apart: the rest is V8's compiler
 * and GC threads). $BENCH_CLIENT_FLAGS: Node/V8 flags for the client process (e.g. "--trace-opt").
 * With `--trace-opt` and/or `--trace-deopt` among them, each mode also reports `v8`: per phase of
 * the client process (connect: import and connect; map; submits), the median TurboFan compiles
 * and their ms, deopts, and the functions that bailed out 50 times or more in one phase of a run
 * (a deopt loop: V8 re-entering code that keeps bailing out), with the runs they did it in.
 * $BENCH_NO_HOPS=1 skips the hop timeline run.
 *
 * Also, in the same rounds: `embeddedNoLink` (the embedded cluster with `local: { link: false }`:
 * the client reaches its scheduler through nats-server on a connection of its own, as before the
 * in-process link, runtime/link.ts) and, with $BENCH_EMBEDDED_BASELINE=<another built checkout>,
 * `baseline` (that checkout's embedded cluster: before/after a change). $BENCH_EMBEDDED_ONLY
 * (comma-separated: embedded, embeddedNoLink, up, upWarm, baseline) measures only those. Per phase: the
 * client process's CPU for the map and for the submits apart, and (`hops`, one more embedded run
 * with $TSDASK_HOP_TRACE) the median time from `submit()` to each message of a lone submit's trip.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { readdirSync } from "node:fs";
import { median, report, runs, startUp } from "./lib.ts";
import { tether } from "../runtime/platform.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DIST = path.join(ROOT, "dist", "index.js");
if (!existsSync(DIST)) throw new Error("bench/embedded: dist/ is missing; run `npm run build` first");
const BASELINE = process.env.BENCH_EMBEDDED_BASELINE ? path.resolve(process.env.BENCH_EMBEDDED_BASELINE, "dist", "index.js") : undefined;
if (BASELINE && !existsSync(BASELINE)) throw new Error(`bench/embedded: ${BASELINE} is missing; build that checkout first`);
type Mode = "embedded" | "embeddedNoLink" | "up" | "upWarm" | "baseline";
const ONLY = process.env.BENCH_EMBEDDED_ONLY ? new Set(process.env.BENCH_EMBEDDED_ONLY.split(",").map((x) => x.trim())) : undefined;
const MODES = (["embedded", "embeddedNoLink", "up", "upWarm", ...(BASELINE ? ["baseline"] : [])] as Mode[]).filter((m) => !ONLY || ONLY.has(m));
const N = Number(process.env.BENCH_N ?? 100_000);
const SUBMITS = 300;
const WARM_REPEATS = Number(process.env.BENCH_WARM_REPEATS ?? 3);

const SCRIPT = `const [dist, url, cluster, rootPid, repeatArg] = process.argv.slice(2);
const { Client } = await import(dist);
const { writeFileSync, readFileSync, readdirSync, writeSync } = await import("node:fs");
// Phase marks on stdout, in order with V8's traces (written synchronously to the same fd).
const phase = (name) => writeSync(1, "PHASE " + name + "\\n");
const client = url === "nolink" ? await Client.connect(undefined, { local: { nprocs: 2, link: false } }) : url ? await Client.connect(url, { cluster }) : await Client.connect(undefined, { local: { nprocs: 2 } });
// CPU seconds of the processes under root (this process when embedded, the up process for up), by
// kind, and of their main threads apart (the rest is V8's compiler and GC threads, and libuv's).
const root = Number(rootPid) || process.pid;
const stat = (file) => {
  const s = readFileSync(file, "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return { comm: s.slice(s.indexOf("(") + 1, s.lastIndexOf(")")), ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) / 100 };
};
function tree() {
  const st = new Map();
  for (const d of readdirSync("/proc")) {
    if (!/^[0-9]+$/.test(d)) continue;
    try { st.set(Number(d), stat("/proc/" + d + "/stat")); } catch {}
  }
  const under = (pid) => { for (let p = st.get(pid)?.ppid; p; p = st.get(p)?.ppid) if (p === root) return true; return false; };
  const out = new Map();
  for (const [pid, p] of st) {
    const kind = pid === root ? "root" : pid === process.pid || !under(pid) ? "" : p.comm.startsWith("nats-server") ? "nats" : p.comm === "node" ? "executors" : "";
    if (!kind) continue;
    let main = p.cpu;
    try { main = stat("/proc/" + pid + "/task/" + pid + "/stat").cpu; } catch {}
    out.set(pid, { kind, cpu: p.cpu, main });
  }
  return out;
}
// Per kind, over the processes alive at both snapshots (a standby started meanwhile is not counted).
function diff(a, b) {
  const r = { root: 0, rootMain: 0, executors: 0, executorsMain: 0, nats: 0 };
  for (const [pid, x] of a) {
    const y = b.get(pid);
    if (!y) continue;
    r[x.kind] += y.cpu - x.cpu;
    if (x.kind !== "nats") r[x.kind + "Main"] += y.main - x.main;
  }
  for (const k in r) r[k] = +r[k].toFixed(3);
  return r;
}
const inc = (x) => x + 1;
const id = (x) => x;
const reps = [];
// The spare standby executor boots 3 s after a start (actors/supervisor/standby.ts): a warmed
// cluster's last run waits until it has (3 executor processes, the newest idle for 300 ms; 10 s at most).
async function standbyBooted() {
  const t0 = performance.now();
  let last = -1;
  while (performance.now() - t0 < 10000) {
    const ex = [...tree()].filter(([, x]) => x.kind === "executors").sort((a, b) => b[0] - a[0]);
    if (ex.length >= 3 && ex[0][1].cpu === last) return;
    last = ex.length >= 3 ? ex[0][1].cpu : -1;
    await new Promise((r) => setTimeout(r, 300));
  }
}
const repeats = Number(repeatArg) || 1;
for (let rep = 0; rep < repeats; rep++) {
if (repeats > 1 && rep === repeats - 1) await standbyBooted();
const xs = Array.from({ length: ${N} }, (_, i) => i);
const p0 = tree();
const c0 = process.cpuUsage();
phase("map");
let t0 = performance.now();
const out = await client.gather(client.map(inc, xs));
const mapS = (performance.now() - t0) / 1000;
if (out[${N} - 1] !== ${N}) throw new Error("wrong results");
const cMap = process.cpuUsage(c0);
const p1 = tree();
phase("submits");
const ts = [];
const marks = [];
for (let i = 0; i < ${SUBMITS}; i++) {
  t0 = performance.now();
  await client.submit(id, i).result();
  const t1 = performance.now();
  ts.push(t1 - t0);
  marks.push([performance.timeOrigin + t0, performance.timeOrigin + t1]);
}
if (process.env.TSDASK_HOP_TRACE) writeFileSync(process.env.TSDASK_HOP_TRACE + "/marks.json", JSON.stringify(marks));
ts.sort((a, b) => a - b);
const c1 = process.cpuUsage(c0);
const cpu = (c) => (c.user + c.system) / 1e6;
const p2 = tree();
reps.push({ tasksPerS: ${N} / mapS, p50Ms: ts[${SUBMITS} >> 1], p99Ms: ts[Math.floor(${SUBMITS} * 0.99)], clientCpuS: cpu(c1), mapCpuS: cpu(cMap), submitsCpuS: cpu(c1) - cpu(cMap), mapTree: diff(p0, p1), submitsTree: diff(p1, p2) });
}
console.log("RESULT " + JSON.stringify(reps[reps.length - 1]));
await client.close();
`;

interface Tree {
  root: number;
  rootMain: number;
  executors: number;
  executorsMain: number;
  nats: number;
}

interface Round {
  tasksPerS: number;
  p50Ms: number;
  p99Ms: number;
  clientCpuS: number;
  mapCpuS: number;
  submitsCpuS: number;
  upCpuS?: number;
  /**
   * CPU seconds during the map / the submits: `root` (the up process, or the client itself when
   * embedded), its executor processes, nats-server; `…Main`: their main threads alone.
   */
  mapTree: Tree;
  submitsTree: Tree;
  /** With V8 trace flags in $BENCH_CLIENT_FLAGS: what compiled and bailed out, per phase. */
  v8?: Record<string, V8Phase>;
}

interface V8Phase {
  compiles: number;
  compileMs: number;
  deopts: number;
  /** Deopts by function name. */
  byFn: Record<string, number>;
}

/** Sums `--trace-opt` / `--trace-deopt` lines of a client's stdout by phase (the script's PHASE marks; a repeated phase starts over). */
function v8Phases(out: string): Record<string, V8Phase> {
  const phases: Record<string, V8Phase> = {};
  let cur: V8Phase = (phases.connect = { compiles: 0, compileMs: 0, deopts: 0, byFn: {} });
  for (const line of out.split("\n")) {
    if (line.startsWith("PHASE ")) cur = phases[line.slice(6)] = { compiles: 0, compileMs: 0, deopts: 0, byFn: {} };
    const c = /^\[completed compiling .*took [0-9.]+, ([0-9.]+), [0-9.]+ ms\]/.exec(line);
    if (c) (cur.compiles++, (cur.compileMs += Number(c[1])));
    const d = /^\[bailout \(kind: .*deoptimizing [^<]*<JSFunction ([^ >]*)/.exec(line);
    if (d) (cur.deopts++, (cur.byFn[d[1] || "(anonymous)"] = (cur.byFn[d[1] || "(anonymous)"] ?? 0) + 1));
  }
  return phases;
}

/** Medians per phase over the rounds, and the deopt loops seen (function → rounds it looped in, per phase). */
function v8Summary(rs: Round[]) {
  const names = [...new Set(rs.flatMap((r) => Object.keys(r.v8 ?? {})))];
  return Object.fromEntries(
    names.map((n) => {
      const ps = rs.map((r) => r.v8?.[n]).filter((p): p is V8Phase => !!p);
      const loops: Record<string, number> = {};
      for (const p of ps) for (const [fn, k] of Object.entries(p.byFn)) if (k >= 50) loops[fn] = (loops[fn] ?? 0) + 1;
      return [n, { compiles: median(ps.map((p) => p.compiles)), compileMs: Math.round(median(ps.map((p) => p.compileMs))), deopts: median(ps.map((p) => p.deopts)), deoptLoops: loops }];
    }),
  );
}

async function client(script: string, args: string[], cwd: string, extraEnv: Record<string, string> = {}): Promise<Round> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extraEnv };
  delete env.NODE_OPTIONS;
  delete env.TSDASK_FROM_SOURCE;
  // $BENCH_CLIENT_FLAGS: Node/V8 flags for the client process (e.g. "--trace-opt"), space-separated.
  const flags = (process.env.BENCH_CLIENT_FLAGS ?? "").split(" ").filter(Boolean);
  const child = spawn(process.execPath, [...flags, script, ...args], { cwd, env, stdio: ["ignore", "pipe", "inherit"] });
  tether(child); // a killed benchmark takes its client (and so the client's embedded cluster) with it
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d));
  const [code] = await once(child, "exit");
  const m = /^RESULT (.*)$/m.exec(out);
  if (code !== 0 || !m) throw new Error(`bench client exited with ${code}:\n${out.slice(-4000)}`);
  const r = JSON.parse(m[1]!) as Round;
  return flags.some((f) => f === "--trace-opt" || f === "--trace-deopt") ? { ...r, v8: v8Phases(out) } : r;
}

async function round(mode: Mode, script: string, tmp: string): Promise<Round> {
  if (mode === "embedded") return client(script, [DIST], tmp);
  if (mode === "embeddedNoLink") return client(script, [DIST, "nolink"], tmp);
  if (mode === "baseline") return client(script, [BASELINE!], tmp);
  const up = await startUp(["--nprocs", "2", "--dashboard-address", "none"]);
  try {
    // upWarm: the same client process maps and submits WARM_REPEATS times; the last time counts (a warmed `up`).
    const r = await client(script, [DIST, up.url, up.cluster, String(up.proc.pid), mode === "upWarm" ? String(WARM_REPEATS) : "1"], tmp);
    return { ...r, upCpuS: r.mapTree.root + r.submitsTree.root };
  } finally {
    await up.stop();
  }
}

const tmp = mkdtempSync(path.join(tmpdir(), "ts-dask-bench-embedded-"));
try {
  const script = path.join(tmp, "client.mjs");
  writeFileSync(script, SCRIPT);
  const results = Object.fromEntries(MODES.map((m) => [m, [] as Round[]])) as Record<Mode, Round[]>;
  for (let i = 0; i < runs(); i++) {
    // Alternated: each round starts one configuration later than the last.
    const order = MODES.map((_, k) => MODES[(k + i) % MODES.length]!);
    for (const mode of order) results[mode].push(await round(mode, script, tmp));
    console.error(`embedded: round ${i + 1}/${runs()} done`);
  }
  const hops = MODES.includes("embedded") && !process.env.BENCH_NO_HOPS ? await hopTimeline(script, tmp) : undefined;
  const perProcess = (ts: Tree[]) => Object.fromEntries((Object.keys(ts[0] ?? {}) as (keyof Tree)[]).map((k) => [k, +median(ts.map((t) => t[k])).toFixed(3)]));
  const sum = (rs: Round[]) => ({
    firstMapTasksPerS: Math.round(median(rs.map((r) => r.tasksPerS))),
    firstSubmitsP50Ms: +median(rs.map((r) => r.p50Ms)).toFixed(3),
    firstSubmitsP99Ms: +median(rs.map((r) => r.p99Ms)).toFixed(3),
    clientProcessCpuS: +median(rs.map((r) => r.clientCpuS)).toFixed(2),
    clientCpuMapS: +median(rs.map((r) => r.mapCpuS)).toFixed(2),
    clientCpuSubmitsS: +median(rs.map((r) => r.submitsCpuS)).toFixed(3),
    ...(rs[0]?.upCpuS !== undefined ? { upProcessCpuS: +median(rs.map((r) => r.upCpuS!)).toFixed(2) } : {}),
    // per process, map then submits: root = the up process (embedded: the client itself), both executors, nats-server; …Main: main threads only
    cpuMapS: perProcess(rs.map((r) => r.mapTree)),
    cpuSubmitsS: perProcess(rs.map((r) => r.submitsTree)),
    ...(rs.some((r) => r.v8) ? { v8: v8Summary(rs) } : {}),
  });
  report({
    bench: "embedded",
    tasks: N,
    submits: SUBMITS,
    runs: runs(),
    goal: { embeddedFirstMapTasksPerS: 500_000, embeddedFirstSubmitsP50Ms: 0.7 },
    ...Object.fromEntries(MODES.map((m) => [m, sum(results[m])])),
    ...(BASELINE ? { baselineCheckout: path.dirname(path.dirname(BASELINE)) } : {}),
    ...(hops ? { hops } : {}),
    note: "cold: each round is a fresh client process and a fresh cluster; CPU is from the map start to the last submit; hops: median ms from submit() to each message of a lone submit (C client+scheduler process, E executor; via link or nats)",
  });
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

/**
 * One more embedded run with $TSDASK_HOP_TRACE: for each of the 300 submits, when (ms after its
 * `submit()`) each process sent or received each message of its trip; medians per event.
 */
async function hopTimeline(script: string, tmp: string): Promise<Record<string, number>> {
  const dir = mkdtempSync(path.join(tmp, "hops-"));
  await client(script, [DIST], tmp, { TSDASK_HOP_TRACE: dir });
  const marks = JSON.parse(readFileSync(path.join(dir, "marks.json"), "utf8")) as [number, number][];
  const files = readdirSync(dir).filter((f) => f.endsWith(".hops.json")).map((f) => JSON.parse(readFileSync(path.join(dir, f), "utf8")) as { pid: number; rows: [number, string, string, number, string][] });
  const clientPid = files.find((p) => p.rows.some((r) => r[1] === "pub" && r[2].endsWith(".sched.submit")))?.pid;
  const events = files.flatMap((p) => p.rows.map((r) => ({ t: r[0], who: p.pid === clientPid ? "C" : "E", what: `${r[1]} ${shortSubject(r[2])} (${r[4] || "mark"})` }))).sort((a, b) => a.t - b.t);
  const at = new Map<string, number[]>();
  let i = 0;
  for (const [a, b] of marks) {
    while (i < events.length && events[i]!.t < a) i++;
    const seen = new Set<string>();
    for (let j = i; j < events.length && events[j]!.t <= b; j++) {
      const k = `${events[j]!.who} ${events[j]!.what}`;
      if (seen.has(k)) continue; // the first of each kind in this submit's window
      seen.add(k);
      at.set(k, [...(at.get(k) ?? []), events[j]!.t - a]);
    }
    at.set("end (result in hand)", [...(at.get("end (result in hand)") ?? []), b - a]);
  }
  // Events of most submits only (not a heartbeat that happened to fall in a window), by time.
  return Object.fromEntries(
    [...at]
      .filter(([, ts]) => ts.length >= marks.length / 2)
      .map(([k, ts]) => [k, +median(ts).toFixed(3)] as const)
      .sort((x, y) => x[1] - y[1]),
  );
}

function shortSubject(s: string): string {
  return s.replace(/^tsdask\.[^.]+\./, "").replace(/^exec\.[^.]+\./, "exec.<id>.").replace(/^results\..*/, "results.<client>").replace(/.*_INBOX.*/, "<reply inbox>");
}
