/**
 * The ONE module with operating-system specific code (Linux, macOS, Windows). Everything else in
 * ts-dask asks here to find a binary, kill a process tree, watch for shutdown signals or start a
 * child that must not outlive us. CI runs Linux only, so every function below has an explicit path
 * for each OS and never relies on a POSIX-only mechanism without a fallback.
 *
 * | function              | Linux                          | macOS                  | Windows                         |
 * |-----------------------|--------------------------------|------------------------|---------------------------------|
 * | {@link isAlive}       | kill(pid, 0) + /proc state (zombies are dead) | kill 0 + `ps -o stat=` | kill 0 (OpenProcess) |
 * | {@link killTree}      | /proc walk, freeze (SIGSTOP), signal, SIGCONT | `ps -A -o pid=,ppid=` walk, same | `taskkill /pid N /T /F` |
 * | {@link onShutdown}    | SIGINT, SIGTERM, SIGHUP        | same                   | SIGINT (Ctrl+C), SIGBREAK, SIGHUP (console closed) |
 * | {@link ignoreTerminalSignals} | SIGINT, SIGQUIT, SIGHUP | same                   | SIGINT (Ctrl+C), SIGBREAK (Ctrl+Break), SIGHUP |
 * | {@link executablePath}| PATH, X_OK                     | same                   | PATH × PATHEXT                  |
 * | {@link npmCommand}, {@link spawnNpm} | npm-cli.js beside node (`<prefix>/lib/node_modules/npm`), else `npm` on PATH | same | `<node dir>\node_modules\npm`, else `npm.cmd` through the shell |
 * | {@link spawnTethered} | keeper process (runtime/tether.mjs) over IPC — the same on every OS; Linux: keeper and child keep our autogroup's nice |
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { accessSync, constants as fsConstants, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { lazyRequire } from "./lazy.ts";
import { Errors } from "./errors.ts";

const pidusage = lazyRequire<typeof import("pidusage")>("pidusage");

export const isWindows = process.platform === "win32";
export const isLinux = process.platform === "linux";
export const isMac = process.platform === "darwin";

// ------------------------------------------------------------------------------------------------
// Processes: alive? descendants? kill the tree.
// ------------------------------------------------------------------------------------------------

/**
 * Whether a process with this PID exists and has not exited. A zombie (exited, not yet reaped by its
 * parent — orphans wait for PID 1, which in some containers never reaps) counts as dead. A process
 * owned by another user counts as alive (EPERM).
 */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
  if (isWindows) return true; // Windows has no zombies visible to OpenProcess callers that matter here
  return processState(pid) !== "Z";
}

/** First letter of the process state (`R`, `S`, `Z`, …); `"X"` when it is gone; undefined if unknown. */
function processState(pid: number): string | undefined {
  if (isLinux) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      // "pid (comm) S ppid …": comm may contain spaces and parentheses, so look after the last ')'.
      return stat.charAt(stat.lastIndexOf(")") + 2) || undefined;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT" || (e as NodeJS.ErrnoException).code === "ESRCH") return "X";
      // /proc unusable (hidepid, not mounted): fall through to ps.
    }
  }
  // macOS, BSDs, and Linux without /proc. `ps` exits 1 with no output for an unknown PID.
  const r = spawnSync("ps", ["-o", "stat=", "-p", String(pid)], { encoding: "utf8", windowsHide: true });
  if (r.error) return undefined;
  const s = (r.stdout ?? "").trim();
  if (r.status !== 0 && !s) return "X";
  return s.charAt(0) || undefined;
}

/** parent PID → child PIDs, for every process we can see. Empty on Windows (not needed there). */
function childrenByParent(): Map<number, number[]> {
  const map = new Map<number, number[]>();
  const add = (pid: number, ppid: number) => {
    if (!Number.isInteger(pid) || !Number.isInteger(ppid)) return;
    let list = map.get(ppid);
    if (!list) map.set(ppid, (list = []));
    list.push(pid);
  };
  if (isLinux) {
    try {
      for (const name of readdirSync("/proc")) {
        if (!/^\d+$/.test(name)) continue;
        let stat: string;
        try {
          stat = readFileSync(`/proc/${name}/stat`, "utf8");
        } catch {
          continue; // exited while we were scanning
        }
        const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // [state, ppid, pgrp, …]
        add(Number(name), Number(rest[1]));
      }
      return map;
    } catch {
      map.clear(); // no /proc: use ps
    }
  }
  if (isWindows) return map;
  // POSIX ps (Linux procps, macOS, BSD all accept -A -o pid=,ppid=; `--ppid` is GNU-only).
  const r = spawnSync("ps", ["-A", "-o", "pid=,ppid="], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  for (const line of (r.stdout ?? "").split("\n")) {
    const m = /^\s*(\d+)\s+(\d+)\s*$/.exec(line);
    if (m) add(Number(m[1]), Number(m[2]));
  }
  return map;
}

/** PIDs of all descendants of `roots` (not the roots themselves), from one snapshot of the process table. */
export function descendants(roots: number | Iterable<number>): number[] {
  const table = childrenByParent();
  const out: number[] = [];
  const seen = new Set<number>(typeof roots === "number" ? [roots] : roots);
  const queue = [...seen];
  while (queue.length) {
    for (const c of table.get(queue.shift()!) ?? []) {
      if (seen.has(c)) continue;
      seen.add(c);
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

function trySignal(pid: number, signal: NodeJS.Signals | number): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Send `signal` (default SIGTERM) to process `pid` and all its descendants; returns the PIDs signalled.
 *
 * POSIX: walks the parent→children table (/proc on Linux, `ps -A -o pid=,ppid=` elsewhere). So that no
 * member can fork a child that escapes between the walk and the kill, the tree is first frozen with
 * SIGSTOP (re-walking until no new member appears), then signalled, then — for signals other than
 * SIGKILL — continued with SIGCONT so each process can handle the signal. With `group: true` (the
 * process was spawned `detached`, so it leads its own process group) the group is signalled too,
 * which also reaches members already re-parented away from the tree. Descendants that were orphaned
 * *before* the call are not found (their parent link is gone): use a group for those.
 *
 * Windows: `taskkill /pid N /T /F` (always forceful — Windows has no catchable SIGTERM for console
 * programs); falls back to `process.kill(pid)` if taskkill is unavailable. Returns `[pid]`.
 */
export function killTree(pid: number, signal: NodeJS.Signals = "SIGTERM", opts: { group?: boolean } = {}): number[] {
  if (!Number.isInteger(pid) || pid <= 0) return [];
  if (isWindows) {
    const r = spawnSync("taskkill", ["/pid", String(pid), "/T", "/F"], { stdio: "ignore", windowsHide: true });
    if (r.error || r.status !== 0) trySignal(pid, signal);
    return [pid];
  }
  const self = process.pid;
  const freeze = signal !== "SIGSTOP";
  const members: number[] = [];
  const known = new Set<number>();
  // Freeze and collect: repeat the walk until a pass finds nobody new (bounded).
  for (let pass = 0; pass < 20; pass++) {
    const fresh = [pid, ...descendants([pid, ...known])].filter((p) => !known.has(p));
    if (fresh.length === 0) break;
    for (const p of fresh) {
      known.add(p);
      members.push(p);
      if (freeze && p !== self) trySignal(p, "SIGSTOP");
    }
    if (!freeze) break;
  }
  const signalled: number[] = [];
  // Signal parents first (members is in walk order), ourselves last if we are part of the tree.
  for (const p of members) if (p !== self && trySignal(p, signal)) signalled.push(p);
  if (opts.group) trySignal(-pid, signal);
  if (freeze && signal !== "SIGKILL") {
    for (const p of members) if (p !== self) trySignal(p, "SIGCONT");
    if (opts.group) trySignal(-pid, "SIGCONT");
  }
  if (known.has(self) && trySignal(self, signal)) signalled.push(self);
  return signalled;
}

/**
 * Resolve true once `pid` is gone (see {@link isAlive}), false after `timeoutMs`. For processes that
 * are not our children there is no exit event to await, so this polls with a growing interval
 * (2 ms → 50 ms). For our own children, await their 'exit' event instead.
 */
export async function waitForPidExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let delay = 2;
  for (;;) {
    if (!isAlive(pid)) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(1, deadline - Date.now()))));
    delay = Math.min(delay * 2, 50);
  }
}

// ------------------------------------------------------------------------------------------------
// Shutdown signals
// ------------------------------------------------------------------------------------------------

/** Called once when the process is asked to stop; may be async. */
export type ShutdownHandler = (signal: NodeJS.Signals) => void | Promise<void>;

/**
 * Signals that mean "please stop", per OS:
 * - POSIX: SIGINT (Ctrl+C), SIGTERM (kill, systemd, docker stop, Kubernetes), SIGHUP (terminal closed).
 * - Windows: SIGINT (Ctrl+C), SIGBREAK (Ctrl+Break), SIGHUP (console window closed; Windows kills the
 *   process ~10 s later whatever we do). SIGTERM is listened to but never arrives from outside:
 *   `process.kill(pid, "SIGTERM")`/`taskkill /F` terminate a Windows process without notice.
 *
 * Windows services: a Node program runs as a service under a wrapper. NSSM stops it by sending Ctrl+C
 * (a console control event → SIGINT here), waiting `AppStopMethodConsole` ms (default 1500), then
 * WM_CLOSE to its windows (a console program has none, so nothing arrives), then WM_QUIT to its
 * threads, then TerminateProcess. So on Windows the handlers must finish within that Ctrl+C window
 * (raise AppStopMethodConsole for a longer graceful stop); WinSW likewise sends Ctrl+C first.
 */
export const SHUTDOWN_SIGNALS: readonly NodeJS.Signals[] = isWindows
  ? ["SIGINT", "SIGTERM", "SIGBREAK", "SIGHUP"]
  : ["SIGINT", "SIGTERM", "SIGHUP"];

/**
 * Signals a terminal sends to every process attached to it, not just the one the user started, per
 * OS: POSIX sends Ctrl+C (SIGINT), Ctrl+\\ (SIGQUIT) and hang-up (SIGHUP) to the whole foreground
 * process group; Windows sends Ctrl+C (SIGINT) and Ctrl+Break (SIGBREAK) to every process of the
 * console, and SIGHUP when the console closes.
 */
export const TERMINAL_SIGNALS: readonly NodeJS.Signals[] = isWindows ? ["SIGINT", "SIGBREAK", "SIGHUP"] : ["SIGINT", "SIGQUIT", "SIGHUP"];

/**
 * For a child whose parent decides when it stops (an executor under its worker's supervisor):
 * ignore the signals a terminal sends to all its processes ({@link TERMINAL_SIGNALS}), so Ctrl+C on
 * `ts-dask worker` reaches the executors only as the supervisor's graceful stop, never as a crash
 * of their own. SIGTERM and SIGKILL still end the child, and so does its parent's IPC channel closing.
 */
export function ignoreTerminalSignals(): void {
  for (const s of TERMINAL_SIGNALS) process.on(s, () => {});
}

interface ShutdownRegistration {
  timeoutMs: number;
  exitCode: number | undefined;
}
const shutdownHandlers = new Map<ShutdownHandler, ShutdownRegistration>();
let shuttingDown = false;
const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;

/** The conventional exit status for a process ended by `signal`: 128 + its number (SIGINT → 130). */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (os.constants.signals[signal] ?? 1);
}

function onShutdownSignal(signal: NodeJS.Signals): void {
  const forced = signalExitCode(signal);
  if (shuttingDown) process.exit(forced); // a second Ctrl+C: stop waiting
  shuttingDown = true;
  const regs = [...shutdownHandlers];
  const timeoutMs = Math.max(...regs.map(([, r]) => r.timeoutMs));
  const explicit = regs.map(([, r]) => r.exitCode).filter((c): c is number => c !== undefined);
  const clean = explicit.length ? Math.max(...explicit) : forced;
  const deadline = setTimeout(() => {
    console.error(`ts-dask: shutdown handlers still running after ${timeoutMs} ms; exiting.`);
    process.exit(clean === 0 ? 1 : clean);
  }, timeoutMs);
  deadline.unref();
  void Promise.allSettled(regs.map(async ([h]) => h(signal))).then((results) => {
    let failed = false;
    for (const r of results) {
      if (r.status === "rejected") {
        failed = true;
        console.error("ts-dask: shutdown handler failed:", r.reason);
      }
    }
    process.exit(failed && clean === 0 ? 1 : clean);
  });
}

/**
 * Run `handler` when the process is asked to stop (see {@link SHUTDOWN_SIGNALS}), then exit. All
 * registered handlers run concurrently; the process exits once all have settled, or after the longest
 * registered `timeoutMs` (default 10 s), or at once on a second signal (with 128 + signal number).
 *
 * Exit status after the handlers: `exitCode` if given (e.g. 0: "stopped as asked"; the highest if
 * several registrations give one), else 128 + the signal number (SIGINT 130, SIGTERM 143, as if
 * killed). A failed handler or the timeout turn an `exitCode` of 0 into 1.
 *
 * Registering replaces Node's default "die at once" for these signals; the returned function
 * unregisters, and Node's default comes back when the last handler is removed.
 */
export function onShutdown(handler: ShutdownHandler, opts: { timeoutMs?: number; exitCode?: number } = {}): () => void {
  if (shutdownHandlers.size === 0) for (const s of SHUTDOWN_SIGNALS) process.on(s, onShutdownSignal);
  shutdownHandlers.set(handler, { timeoutMs: opts.timeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS, exitCode: opts.exitCode });
  return () => {
    if (!shutdownHandlers.delete(handler) || shutdownHandlers.size > 0) return;
    for (const s of SHUTDOWN_SIGNALS) process.off(s, onShutdownSignal);
  };
}

// ------------------------------------------------------------------------------------------------
// Files and binaries
// ------------------------------------------------------------------------------------------------

/**
 * Resident memory of another process in bytes, or undefined when it cannot be read (gone, not
 * ours). Read from outside, so it works while the process's own event loop is blocked. Linux:
 * /proc/<pid>/statm (one read, no child process); elsewhere pidusage (`ps` on macOS, the
 * performance counters on Windows), which is slower: poll no faster than every 500 ms.
 */
export async function processRss(pid: number): Promise<number | undefined> {
  if (process.platform === "linux") {
    try {
      const pages = Number(readFileSync(`/proc/${pid}/statm`, "utf8").split(" ")[1]);
      return Number.isFinite(pages) ? pages * pageSize() : undefined;
    } catch {
      return undefined;
    }
  }
  try {
    return (await pidusage()(pid)).memory;
  } catch {
    return undefined;
  }
}

let linuxPageSize = 0;
/** Linux page size, asked once: 4 KiB almost everywhere, 16 or 64 KiB on some arm64 kernels. */
function pageSize(): number {
  if (!linuxPageSize) {
    const n = Number(spawnSync("getconf", ["PAGESIZE"], { encoding: "utf8" }).stdout?.trim());
    linuxPageSize = Number.isInteger(n) && n > 0 ? n : 4096;
  }
  return linuxPageSize;
}

/**
 * Where a worker keeps scratch files (spilled data, unpacked modules) unless told otherwise:
 * `$TSDASK_LOCAL_DIRECTORY` if set; else `os.tmpdir()/ts-dask` on macOS and Windows (their temp
 * directories are per user already: `$TMPDIR` under /var/folders, `%LOCALAPPDATA%\Temp`); else
 * `os.tmpdir()/ts-dask-<uid>` on Linux and other POSIX systems, where /tmp is shared between users.
 * Only computes the path: callers create it (mode 0o700) when they need it.
 */
export function defaultLocalDirectory(): string {
  const fromEnv = process.env.TSDASK_LOCAL_DIRECTORY;
  if (fromEnv) return path.resolve(fromEnv);
  if (isWindows || isMac) return path.join(os.tmpdir(), "ts-dask");
  const uid = typeof process.getuid === "function" ? process.getuid() : undefined;
  return path.join(os.tmpdir(), uid === undefined ? "ts-dask" : `ts-dask-${uid}`);
}

function isExecutableFile(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    if (!isWindows) accessSync(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Absolute path of the executable `name`, or undefined. A name containing a path separator is checked
 * as given (resolved against the cwd). Otherwise each directory of PATH is searched, in order.
 * POSIX: the file must be executable by us. Windows: tries `name` with each extension of PATHEXT
 * (default `.COM;.EXE;.BAT;.CMD`), and `name` as given if it already ends with one of them; PATH
 * entries may be quoted. (cmd.exe also searches the current directory first; we do not, like
 * `where`/spawn without a shell.)
 */
export function executablePath(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (!name) return undefined;
  const exts = isWindows
    ? (env.PATHEXT ?? env.Pathext ?? ".COM;.EXE;.BAT;.CMD").split(";").filter(Boolean).map((e) => e.toLowerCase())
    : [];
  const candidates = (base: string): string[] => {
    if (!isWindows) return [base];
    const hasExt = exts.includes(path.extname(base).toLowerCase());
    return hasExt ? [base, ...exts.map((e) => base + e)] : exts.map((e) => base + e);
  };
  const hasSep = name.includes("/") || (isWindows && name.includes("\\"));
  if (hasSep || path.isAbsolute(name)) {
    for (const c of candidates(path.resolve(name))) if (isExecutableFile(c)) return c;
    return undefined;
  }
  // Windows environments spell it Path; Node's process.env lookup is case-insensitive there.
  const pathVar = env.PATH ?? env.Path ?? "";
  for (let dir of pathVar.split(path.delimiter)) {
    if (isWindows) dir = dir.replace(/^"(.*)"$/, "$1");
    if (!dir) continue;
    for (const c of candidates(path.resolve(dir, name))) if (isExecutableFile(c)) return c;
  }
  return undefined;
}

/** How to run npm: `command` with `args` first, through a shell or not. */
export interface NpmCommand {
  command: string;
  args: string[];
  /** Windows' npm.cmd can only be spawned through a shell (Node refuses .cmd files without one). */
  shell: boolean;
}

/**
 * How to run npm on this machine, or undefined when there is none. Prefers the npm that ships with
 * the running Node (its `npm-cli.js`, run by `process.execPath`: no shell, no PATH, the same on every
 * OS): `<prefix>/lib/node_modules/npm` on POSIX, `<node dir>\node_modules\npm` on Windows. Else
 * `npm` on PATH; on Windows that is `npm.cmd`, which must go through the shell.
 */
export function npmCommand(env: NodeJS.ProcessEnv = process.env): NpmCommand | undefined {
  const nodeDir = path.dirname(process.execPath);
  const beside = isWindows
    ? [path.join(nodeDir, "node_modules", "npm", "bin", "npm-cli.js")]
    : [path.join(nodeDir, "..", "lib", "node_modules", "npm", "bin", "npm-cli.js"), path.join(nodeDir, "node_modules", "npm", "bin", "npm-cli.js")];
  for (const cli of beside) {
    try {
      if (statSync(cli).isFile()) return { command: process.execPath, args: [cli], shell: false };
    } catch {
      /* not there */
    }
  }
  const onPath = executablePath("npm", env);
  if (!onPath) return undefined;
  return isWindows && /\.(cmd|bat)$/i.test(onPath) ? { command: `"${onPath}"`, args: [], shell: true } : { command: onPath, args: [], shell: false };
}

/**
 * Starts `npm <args>` ({@link npmCommand}) with piped stdout/stderr, or returns undefined when npm
 * is not found. Through the Windows shell, arguments with spaces or shell characters are quoted.
 */
export function spawnNpm(args: readonly string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): ChildProcess | undefined {
  const cmd = npmCommand(opts.env);
  if (!cmd) return undefined;
  const quote = (a: string) => (/[\s"&|<>^]/.test(a) ? `"${a.replace(/"/g, '""')}"` : a);
  const all = [...cmd.args, ...args];
  return spawn(cmd.command, cmd.shell ? all.map(quote) : all, { cwd: opts.cwd, env: opts.env, shell: cmd.shell, stdio: ["ignore", "pipe", "pipe"], windowsHide: true });
}

// ------------------------------------------------------------------------------------------------
// Tethered children
// ------------------------------------------------------------------------------------------------

/** How a tethered child ended: exit code, or the signal that ended it. */
export interface TetherExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface TetherOptions {
  /** Working directory of the child (default: ours). */
  cwd?: string;
  /** Environment of the child (default: ours). */
  env?: NodeJS.ProcessEnv;
  /** The child's stdout: a pipe readable as {@link Tethered.stdout} (default), ours, or discarded. */
  stdout?: "pipe" | "inherit" | "ignore";
  /** The child's stderr, likewise. */
  stderr?: "pipe" | "inherit" | "ignore";
  /** Signal the keeper sends the child when we die or disconnect (default SIGTERM)… */
  killSignal?: NodeJS.Signals;
  /** …followed by SIGKILL after this many ms if it is still running (default 5000). */
  killGraceMs?: number;
}

/** A child process that cannot outlive this process. */
export interface Tethered {
  /** PID of the real child (the command). */
  readonly pid: number;
  /** PID of its keeper (a small node process running runtime/tether.mjs). */
  readonly keeperPid: number;
  /** The child's stdout when `stdout: "pipe"`. Consume it: a full pipe blocks the child. */
  readonly stdout: Readable | null;
  /** The child's stderr when `stderr: "pipe"`. Consume it: a full pipe blocks the child. */
  readonly stderr: Readable | null;
  /** Settles when the child has exited (and been reaped). Never rejects. */
  readonly exited: Promise<TetherExit>;
  /** Whether the child has exited. */
  readonly hasExited: boolean;
  /** Send `signal` (default SIGTERM) to the child (its process group on POSIX). */
  kill(signal?: NodeJS.Signals): void;
  /** `signal` (default SIGTERM), wait up to `timeoutMs` (default 5000), then SIGKILL; resolves on exit. */
  stop(opts?: { signal?: NodeJS.Signals; timeoutMs?: number }): Promise<TetherExit>;
  /** Let this process exit while the child runs (the child then stops, as we are gone). */
  unref(): void;
}

const TETHER_SCRIPT = fileURLToPath(new URL("./tether.mjs", import.meta.url));

/** Our autogroup's nice (Linux), read once; 0 elsewhere or when unreadable. */
let ownAutogroupNice: number | undefined;

/**
 * Linux: gives a process we started in a session of its own (`detached`, setsid) the nice of our
 * autogroup. Each new session gets a fresh autogroup at nice 0, so without this a keeper and its
 * child (nats-server) do not share a priority given to the process that started them (e.g.
 * `echo -20 > /proc/$$/autogroup` for benchmarks: nats-server then ran unboosted, starved by the
 * machine's other work). Best effort: a lower nice needs CAP_SYS_NICE; failures change nothing.
 */
function keepAutogroupNice(pid: number): void {
  if (!isLinux) return;
  try {
    ownAutogroupNice ??= Number(/nice\s+(-?\d+)/.exec(readFileSync("/proc/self/autogroup", "utf8"))?.[1] ?? 0);
    if (ownAutogroupNice) writeFileSync(`/proc/${pid}/autogroup`, String(ownAutogroupNice));
  } catch {
    ownAutogroupNice ??= 0; // no autogroups (kernel without CONFIG_SCHED_AUTOGROUP) or not allowed
  }
}

type KeeperMessage =
  | { t: "spawned"; pid: number }
  | { t: "error"; code?: string; errno?: number; syscall?: string; path?: string; message: string }
  | { t: "exit"; code: number | null; signal: NodeJS.Signals | null };

/**
 * Start `cmd args` as a long-lived child that dies when this process dies — also by SIGKILL, a crash
 * or an OOM kill. Node has no PR_SET_PDEATHSIG (nor has Windows), so a keeper process
 * (runtime/tether.mjs, run with `process.execPath`) spawns the command and kills it when its IPC
 * channel to us disconnects, which the OS guarantees when we die. Resolves once the command has been
 * spawned; rejects with {@link Errors.SpawnFailed} (cause: the errno error, e.g. ENOENT) otherwise.
 *
 * Output: the child writes straight into the pipes (or files) given to the keeper, no copying.
 * Cost: one extra node process (~40 MB RSS, ~40–60 ms to start on a small machine).
 *
 * Limits: if the keeper itself is SIGKILLed (not us), the child is orphaned; we notice the keeper's
 * death and kill the child's process group by PID. POSIX: keeper and child each lead their own
 * process group, so a terminal Ctrl+C reaches only us — we decide when the child stops.
 */
export function spawnTethered(cmd: string, args: readonly string[], opts: TetherOptions = {}): Promise<Tethered> {
  const env = { ...(opts.env ?? process.env) };
  const nodeOptions = env.NODE_OPTIONS;
  delete env.NODE_OPTIONS;
  const spec = {
    cmd,
    args: [...args],
    nodeOptions: nodeOptions ?? null,
    killSignal: opts.killSignal ?? "SIGTERM",
    killGraceMs: opts.killGraceMs ?? 5000,
  };
  const encoded = Buffer.from(JSON.stringify(spec), "utf8").toString("base64url");
  const keeper: ChildProcess = spawn(process.execPath, [TETHER_SCRIPT, encoded], {
    cwd: opts.cwd,
    env,
    stdio: ["ignore", opts.stdout ?? "pipe", opts.stderr ?? "pipe", "ipc"],
    detached: !isWindows, // own process group: see the module comment of tether.mjs
    windowsHide: true,
  });
  if (keeper.pid !== undefined) keepAutogroupNice(keeper.pid);

  return new Promise<Tethered>((resolve, reject) => {
    let childPid = 0;
    let reported: TetherExit | undefined; // the child's exit as the keeper reported it
    let exitInfo: TetherExit | undefined;
    let resolveExit!: (e: TetherExit) => void;
    const exited = new Promise<TetherExit>((r) => (resolveExit = r));
    const finish = (e: TetherExit) => {
      if (exitInfo) return;
      exitInfo = e;
      resolveExit(e);
    };

    const send = (msg: { t: "kill"; signal: NodeJS.Signals }): boolean => {
      if (!keeper.connected) return false;
      try {
        keeper.send(msg, (err: Error | null) => void err); // a failed send means the keeper is gone: 'exit' handles it
        return true;
      } catch {
        return false;
      }
    };

    const handle: Tethered = {
      get pid() {
        return childPid;
      },
      keeperPid: keeper.pid ?? 0,
      stdout: keeper.stdout,
      stderr: keeper.stderr,
      exited,
      get hasExited() {
        return exitInfo !== undefined;
      },
      kill(signal: NodeJS.Signals = "SIGTERM") {
        if (exitInfo || !childPid) return;
        // Through the keeper when it is there; by PID (the child's group on POSIX) when it is not.
        if (!send({ t: "kill", signal })) killTree(childPid, signal, { group: !isWindows });
      },
      async stop({ signal = "SIGTERM", timeoutMs = 5000 } = {}) {
        if (exitInfo) return exitInfo;
        handle.kill(signal);
        let timer: NodeJS.Timeout | undefined;
        const late = await Promise.race([
          exited.then(() => false),
          new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutMs))),
        ]);
        clearTimeout(timer);
        if (late) handle.kill("SIGKILL");
        return exited;
      },
      unref() {
        keeper.unref();
        keeper.channel?.unref();
        for (const s of [keeper.stdout, keeper.stderr]) (s as unknown as { unref?: () => void } | null)?.unref?.();
      },
    };

    keeper.on("message", (raw: unknown) => {
      const msg = raw as KeeperMessage;
      if (msg.t === "spawned") {
        childPid = msg.pid;
        keepAutogroupNice(childPid);
        resolve(handle);
      } else if (msg.t === "error") {
        const err = Object.assign(new Error(msg.message), { code: msg.code, errno: msg.errno, syscall: msg.syscall, path: msg.path });
        reported = { code: 127, signal: null };
        reject(Errors.SpawnFailed(cmd, msg.code === "ENOENT" ? "no such file or directory" : msg.message, err));
      } else if (msg.t === "exit") {
        // Settle `exited` only when the keeper is gone too, so no process of ours is left behind.
        reported = { code: msg.code, signal: msg.signal };
      }
    });

    keeper.on("error", (err) => {
      // The keeper itself could not start (e.g. process.execPath vanished); later errors (a failed
      // kill or send) are harmless: its 'exit' tells the rest.
      if (keeper.pid !== undefined) return;
      finish({ code: null, signal: null });
      reject(Errors.SpawnFailed(cmd, `its tether keeper (${process.execPath}) could not start: ${err.message}`, err));
    });

    keeper.once("exit", (code, signal) => {
      // 'exit' can overtake the keeper's last IPC messages: decide once the channel has drained.
      const decide = () => {
        if (exitInfo) return;
        if (!childPid) {
          finish(reported ?? { code, signal });
          reject(Errors.SpawnFailed(cmd, `its tether keeper exited (${signal ?? `code ${code}`}) before starting it`));
          return;
        }
        if (reported) {
          finish(reported);
          return;
        }
        if (signal === null) {
          // The keeper exits by itself only after its child, with the child's status.
          finish({ code, signal: null });
          return;
        }
        // The keeper was killed without reporting the child's exit: the child may be orphaned, and
        // without its keeper it is no longer tethered, so end it (and its group) by PID now.
        const pid = childPid;
        killTree(pid, "SIGKILL", { group: !isWindows });
        void waitForPidExit(pid, 10_000).then(() => finish({ code: null, signal: "SIGKILL" }));
      };
      if (keeper.connected) keeper.once("disconnect", decide);
      else decide();
    });
  });
}
