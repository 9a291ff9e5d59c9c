#!/usr/bin/env node
// ts-dask test runner (plain Node ESM; only the test files need tsx).
//
//   node test/run.mjs [filter…]      # filters: substrings of the path, e.g. `nats` or `test/platform`
//
// Runs every test/**/*.test.ts and every lifecycle machine's test beside its machine
// (`<name>.machine.test.ts` under runtime/, actors/, client/; sorted; node_modules and fixtures
// directories skipped) in its own
// process, `node --import tsx <file>`, with FORCE_COLOR=0 NO_COLOR=1, because uvu runs all files of
// one process in sequence with shared globals and has no per-test timeout (measured: a never-settling test hangs it, a leaked handle keeps it alive).
//
// Environment:
//   TEST_TIMEOUT_S     per-file timeout, default 180. On timeout the file's whole process tree is
//                      killed and the file counts as failed. A file whose work is long by nature
//                      (the tarball installs) may raise its own with a line `// test-timeout-s: N`.
//   TEST_JOBS          files run at once, default 2. Parallel is safe: every file starts its own
//                      nats-server(s) on OS-chosen free loopback ports (never a fixed port), keeps its
//                      files in mkdtemp directories, and shares nothing else with other files; CI
//                      machines have ≥ 2 cores. Timing-sensitive tests must therefore use generous
//                      timeouts (they await events, never sleeps); if a file ever proves sensitive to
//                      CPU contention, run with TEST_JOBS=1 while fixing it.
//   TEST_EXIT_GRACE_S  how long a file may keep running after printing its summary, default 15: a
//                      leaked handle (open socket, timer, server) keeps a finished uvu file alive
//                      forever, which is a bug in that file — it is killed and counted as failed.
//
// Output: each file's stdout+stderr is buffered and printed whole when the file ends (readable even
// with parallel files), followed by a one-line status with its duration; then a table of all files,
// then, as the very last line, `N passed, N failed` (tests, summed over files). Exit code 1 on any
// failure.
//
// Counting: a file contributes its uvu summary (`Total:`/`Passed:`/`Skipped:`; failed = Total −
// Passed). A file problem adds ONE failure on top: summary missing (crash, early exit), timeout, hang
// after the summary, or a non-zero exit that its failed tests do not explain (uvu itself exits 1 when
// a test fails; counting that exit again would double-count).
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const isWindows = process.platform === "win32";
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const testDir = path.join(root, "test");

function envNumber(name, fallback, { integer = false } = {}) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    console.error(`run.mjs: ignoring ${name}=${raw} (expected a positive ${integer ? "integer" : "number"}); using ${fallback}`);
    return fallback;
  }
  return n;
}

const timeoutS = envNumber("TEST_TIMEOUT_S", 180);
const jobs = envNumber("TEST_JOBS", 2, { integer: true });
const exitGraceS = envNumber("TEST_EXIT_GRACE_S", 15);
const filters = process.argv.slice(2);

/** test/**\/*.test.ts (or, with `only`, files ending so), as forward-slash paths relative to the repository root. */
function findTestFiles(dir, only = ".test.ts") {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith(".") || entry.name === "node_modules" || entry.name === "fixtures") continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...findTestFiles(full, only));
    else if (entry.isFile() && entry.name.endsWith(only)) out.push(path.relative(root, full).split(path.sep).join("/"));
  }
  return out;
}

// --- killing a test file's process tree ---------------------------------------------------------

/** All descendants of `pid` (POSIX `ps -A -o pid=,ppid=`, which Linux and macOS both accept). */
function descendantsOf(pid) {
  const r = spawnSync("ps", ["-A", "-o", "pid=,ppid="], { encoding: "utf8", maxBuffer: 64 << 20 });
  const kids = new Map();
  for (const line of (r.stdout ?? "").split("\n")) {
    const m = /^\s*(\d+)\s+(\d+)\s*$/.exec(line);
    if (!m) continue;
    const [c, p] = [Number(m[1]), Number(m[2])];
    if (!kids.has(p)) kids.set(p, []);
    kids.get(p).push(c);
  }
  const out = [];
  const queue = [pid];
  while (queue.length) for (const c of kids.get(queue.shift()) ?? []) out.push(c), queue.push(c);
  return out;
}

/** SIGKILL the file's process, its descendants and its process group (it was spawned detached). */
function killFileTree(pid) {
  if (isWindows) {
    spawnSync("taskkill", ["/pid", String(pid), "/T", "/F"], { stdio: "ignore", windowsHide: true });
    return;
  }
  const tryKill = (p) => {
    try {
      process.kill(p, "SIGKILL");
    } catch {}
  };
  tryKill(-pid); // the group: everything that did not move to a group of its own
  for (const p of descendantsOf(pid)) tryKill(p); // and those that did (e.g. tether keepers)
  tryKill(pid);
}

// --- running one file ---------------------------------------------------------------------------

const running = new Map(); // pid → file

const stripAnsi = (s) => s.replace(/\u001b\[[0-9;]*[A-Za-z]/g, "");

function parseSummary(text) {
  const last = (re) => {
    let m;
    let value;
    const g = new RegExp(re.source, "gm");
    while ((m = g.exec(text))) value = Number(m[1]);
    return value;
  };
  const total = last(/^\s*Total:\s+(\d+)/);
  const passed = last(/^\s*Passed:\s+(\d+)/);
  const skipped = last(/^\s*Skipped:\s+(\d+)/) ?? 0;
  if (total === undefined || passed === undefined) return undefined;
  return { total, passed, skipped };
}

// Tests exercise the TypeScript sources, not dist/ (which may be older than the sources being
// edited): `ts-dask` and `ts-dask/worker` resolve to the .ts files (the package's "ts-dask-source"
// export condition) in every process a test starts, and bin/ts-dask.mjs runs cli/main.ts. The
// tarball tests (test/package.test.ts) remove both to run the installed, compiled package.
const FROM_SOURCE_ENV = {
  TSDASK_FROM_SOURCE: "1",
  NODE_OPTIONS: [process.env.NODE_OPTIONS, "--conditions=ts-dask-source"].filter(Boolean).join(" "),
};

/**
 * Linux: a detached file process starts a session, hence an autogroup of its own at nice 0, so a
 * runner boosted with `echo -20 > /proc/$$/autogroup` did not boost its files: on a machine shared
 * with boosted work an embedded cluster's start then took > 60 s (5 s boosted). The file gets the
 * runner's autogroup nice (as runtime/platform/tether.ts does for tethered children). Best effort.
 */
let ownAutogroupNice;
function keepAutogroupNice(pid) {
  if (process.platform !== "linux" || pid === undefined) return;
  try {
    ownAutogroupNice ??= Number(/nice\s+(-?\d+)/.exec(readFileSync("/proc/self/autogroup", "utf8"))?.[1] ?? 0);
    if (ownAutogroupNice) writeFileSync(`/proc/${pid}/autogroup`, String(ownAutogroupNice));
  } catch {
    ownAutogroupNice ??= 0; // no autogroups, or not allowed
  }
}

/** The file's timeout: TEST_TIMEOUT_S, or more when the file says `// test-timeout-s: N`. */
function timeoutOf(file) {
  const m = /^\/\/ test-timeout-s: (\d+)$/m.exec(readFileSync(path.resolve(root, file), "utf8"));
  return Math.max(timeoutS, m ? Number(m[1]) : 0);
}

function runFile(file) {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(process.execPath, ["--import", "tsx", file], {
      cwd: root,
      env: { ...process.env, ...FROM_SOURCE_ENV, FORCE_COLOR: "0", NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
      detached: !isWindows, // own process group, so the whole tree can be killed on timeout
      windowsHide: true,
    });
    running.set(child.pid, file);
    keepAutogroupNice(child.pid);
    const chunks = [];
    let seen = ""; // stdout text so far, to notice the summary
    let timedOut = false;
    let hungAfterSummary = false;
    let leftovers = false;
    let graceTimer;
    let exitInfo;
    let spawnError;

    const fileTimeoutS = timeoutOf(file);
    const timer = setTimeout(() => {
      timedOut = true;
      killFileTree(child.pid);
    }, fileTimeoutS * 1000);

    const onData = (chunk, isStdout) => {
      chunks.push(chunk);
      if (!isStdout || graceTimer) return;
      seen = (seen + chunk.toString("utf8")).slice(-4096);
      if (/^\s*Duration:/m.test(stripAnsi(seen))) {
        graceTimer = setTimeout(() => {
          if (exitInfo) return;
          hungAfterSummary = true;
          killFileTree(child.pid);
        }, exitGraceS * 1000);
      }
    };
    child.stdout.on("data", (c) => onData(c, true));
    child.stderr.on("data", (c) => onData(c, false));
    child.on("error", (e) => (spawnError = e));

    // 'exit' then 'close' (all output read). If something the file started still holds its output
    // open after it exited, kill those leftovers: that is a leak, and the file fails.
    let leftoverTimer;
    child.once("exit", (code, signal) => {
      exitInfo = { code, signal };
      leftoverTimer = setTimeout(() => {
        leftovers = true;
        killFileTree(child.pid);
      }, 5000);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      clearTimeout(graceTimer);
      clearTimeout(leftoverTimer);
      running.delete(child.pid);
      exitInfo ??= { code, signal };
      const output = Buffer.concat(chunks).toString("utf8");
      const summary = parseSummary(stripAnsi(output));
      const ms = performance.now() - started;
      const problems = [];
      if (spawnError) problems.push(`could not start: ${spawnError.message}`);
      if (timedOut) problems.push(`timed out after ${timeoutOf(file)} s (process tree killed)`);
      if (hungAfterSummary) problems.push(`still running ${exitGraceS} s after its summary: a leaked handle? (killed)`);
      if (leftovers) problems.push("left processes holding its output after it exited (killed)");
      if (!summary && !timedOut && !spawnError) problems.push("no uvu summary (crashed or exited early)");
      const testFailures = summary ? summary.total - summary.passed : 0;
      const exitedBadly = exitInfo.code !== 0;
      if (exitedBadly && testFailures === 0 && problems.length === 0) {
        problems.push(`exited with ${exitInfo.signal ?? `code ${exitInfo.code}`} though no test failed`);
      }
      const failed = testFailures + (problems.length ? 1 : 0);
      resolve({
        file,
        ms,
        output,
        passed: summary?.passed ?? 0,
        skipped: summary?.skipped ?? 0,
        failed,
        problems,
        exit: exitInfo,
      });
    });
  });
}

// --- reporting ----------------------------------------------------------------------------------

const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;

function statusLine(r) {
  const tag = r.failed ? "FAIL" : "PASS";
  const skipped = r.skipped ? `, ${r.skipped} skipped` : "";
  const why = r.problems.length ? ` — ${r.problems.join("; ")}` : "";
  return `${tag}  ${r.file}  ${r.passed} passed, ${r.failed} failed${skipped}  (${seconds(r.ms)})${why}`;
}

function printFile(r) {
  const out = r.output.replace(/\s+$/, "");
  const lines = [`──── ${r.file} ${"─".repeat(Math.max(4, 70 - r.file.length))}`];
  if (out) lines.push(out);
  lines.push(statusLine(r), "");
  process.stdout.write(lines.join("\n") + "\n");
}

function printTotals(results, extra = []) {
  const passed = results.reduce((n, r) => n + r.passed, 0);
  const failed = results.reduce((n, r) => n + r.failed, 0) + extra.length;
  const lines = ["──── summary " + "─".repeat(62), ...results.map(statusLine), ...extra.map((f) => `FAIL  ${f}  interrupted`)];
  lines.push(`${passed} passed, ${failed} failed`);
  process.stdout.write(lines.join("\n") + "\n");
  return failed;
}

// --- main ---------------------------------------------------------------------------------------

// Machine tests live beside their machines (issue 16): runtime/, actors/, client/.
const machineTests = ["runtime", "actors", "client"].flatMap((d) => findTestFiles(path.join(root, d), ".machine.test.ts"));
const all = [...findTestFiles(testDir), ...machineTests].sort();
const files = filters.length ? all.filter((f) => filters.some((s) => f.includes(s.split(path.sep).join("/")))) : all;
const results = [];

if (files.length === 0) {
  console.log(filters.length ? `No test file matches ${filters.map((f) => `'${f}'`).join(", ")}.` : "No test files found.");
  console.log("0 passed, 1 failed");
  process.exit(1);
}
console.log(`Running ${files.length} test file${files.length === 1 ? "" : "s"}, ${Math.min(jobs, files.length)} at a time (timeout ${timeoutS} s each).\n`);

// Ctrl+C / SIGTERM (e.g. CI's `timeout`): the files run in their own process groups, so they do
// not get the signal themselves; kill them, report what finished, fail.
let interrupted = false;
for (const sig of isWindows ? ["SIGINT", "SIGTERM", "SIGBREAK"] : ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    if (interrupted) process.exit(1);
    interrupted = true;
    const unfinished = [...running.values()];
    for (const pid of running.keys()) killFileTree(pid);
    process.stdout.write(`\nrun.mjs: ${sig} received, killed ${unfinished.length} running file(s).\n`);
    printTotals(results, unfinished);
    process.exit(1);
  });
}

let next = 0;
async function worker() {
  while (next < files.length && !interrupted) {
    const file = files[next++];
    const r = await runFile(file);
    if (interrupted) return;
    results.push(r);
    printFile(r);
  }
}
await Promise.all(Array.from({ length: Math.min(jobs, files.length) }, worker));
if (!interrupted) {
  results.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  const failed = printTotals(results);
  process.exitCode = failed > 0 ? 1 : 0;
}
