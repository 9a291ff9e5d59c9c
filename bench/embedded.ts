/**
 * bench/embedded (issue 13 item 5, measurement only): a cold client process's first 100,000-task
 * map (tasks/s) and its first 300 sequential submits (p50/p99 ms), on
 *   embedded  `Client.connect()`: scheduler and supervisor in the client's own event loop;
 *   up        `ts-dask up --nprocs 2` in its own process, the client connecting to it.
 * Both use the compiled package (dist/) and 2 executors; configurations alternate within each
 * round; medians of BENCH_RUNS rounds (default 5). CPU seconds of the client process (for
 * embedded: client + scheduler + supervisor) and, for up, of the up process, beside the times.
 * Goal (issue 13, cold first run of embedded): ≥ 500k tasks/s and p50 ≤ 0.7 ms.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { median, report, runs, startUp } from "./lib.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DIST = path.join(ROOT, "dist", "index.js");
if (!existsSync(DIST)) throw new Error("bench/embedded: dist/ is missing; run `npm run build` first");
const N = Number(process.env.BENCH_N ?? 100_000);
const SUBMITS = 300;

const SCRIPT = `import { Client } from ${JSON.stringify(DIST)};
const [url, cluster] = process.argv.slice(2);
const client = url ? await Client.connect(url, { cluster }) : await Client.connect(undefined, { local: { nprocs: 2 } });
const inc = (x) => x + 1;
const xs = Array.from({ length: ${N} }, (_, i) => i);
const c0 = process.cpuUsage();
let t0 = performance.now();
const out = await client.gather(client.map(inc, xs));
const mapS = (performance.now() - t0) / 1000;
if (out[${N} - 1] !== ${N}) throw new Error("wrong results");
const id = (x) => x;
const ts = [];
for (let i = 0; i < ${SUBMITS}; i++) {
  t0 = performance.now();
  await client.submit(id, i).result();
  ts.push(performance.now() - t0);
}
ts.sort((a, b) => a - b);
const c1 = process.cpuUsage(c0);
console.log("RESULT " + JSON.stringify({ tasksPerS: ${N} / mapS, p50Ms: ts[${SUBMITS} >> 1], p99Ms: ts[Math.floor(${SUBMITS} * 0.99)], clientCpuS: (c1.user + c1.system) / 1e6 }));
await client.close();
`;

interface Round {
  tasksPerS: number;
  p50Ms: number;
  p99Ms: number;
  clientCpuS: number;
  upCpuS?: number;
}

function cpuOfPid(pid: number): number {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

async function client(script: string, args: string[], cwd: string): Promise<Round> {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.TSDASK_FROM_SOURCE;
  const child = spawn(process.execPath, [script, ...args], { cwd, env, stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d));
  const [code] = await once(child, "exit");
  const m = /^RESULT (.*)$/m.exec(out);
  if (code !== 0 || !m) throw new Error(`bench client exited with ${code}:\n${out}`);
  return JSON.parse(m[1]!) as Round;
}

async function round(mode: "embedded" | "up", script: string, tmp: string): Promise<Round> {
  if (mode === "embedded") return client(script, [], tmp);
  const up = await startUp(["--nprocs", "2", "--dashboard-address", "none"]);
  try {
    const before = cpuOfPid(up.proc.pid!);
    const r = await client(script, [up.url, up.cluster], tmp);
    return { ...r, upCpuS: cpuOfPid(up.proc.pid!) - before };
  } finally {
    await up.stop();
  }
}

const tmp = mkdtempSync(path.join(tmpdir(), "ts-dask-bench-embedded-"));
try {
  const script = path.join(tmp, "client.mjs");
  writeFileSync(script, SCRIPT);
  const results = { embedded: [] as Round[], up: [] as Round[] };
  for (let i = 0; i < runs(); i++) {
    for (const mode of i % 2 ? (["up", "embedded"] as const) : (["embedded", "up"] as const)) results[mode].push(await round(mode, script, tmp));
    console.error(`embedded: round ${i + 1}/${runs()} done`);
  }
  const sum = (rs: Round[]) => ({
    firstMapTasksPerS: Math.round(median(rs.map((r) => r.tasksPerS))),
    firstSubmitsP50Ms: +median(rs.map((r) => r.p50Ms)).toFixed(3),
    firstSubmitsP99Ms: +median(rs.map((r) => r.p99Ms)).toFixed(3),
    clientProcessCpuS: +median(rs.map((r) => r.clientCpuS)).toFixed(2),
    ...(rs[0]?.upCpuS !== undefined ? { upProcessCpuS: +median(rs.map((r) => r.upCpuS!)).toFixed(2) } : {}),
  });
  report({
    bench: "embedded",
    tasks: N,
    submits: SUBMITS,
    runs: runs(),
    goal: { embeddedFirstMapTasksPerS: 500_000, embeddedFirstSubmitsP50Ms: 0.7 },
    embedded: sum(results.embedded),
    up: sum(results.up),
    note: "cold: each round is a fresh client process and a fresh cluster; CPU is from the map start to the last submit",
  });
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
