/** Tethered children (part of runtime/platform.ts, the one OS module). */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { Errors } from "../errors.ts";
import { readFileSync, writeFileSync } from "node:fs";
import { isLinux, isWindows } from "./os.ts";
import { killTree, trySignal } from "./processes.ts";
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
  /** PID of its keeper (POSIX: a shell reading a pipe from us; Windows: a node process running runtime/tether.mjs). */
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

const TETHER_SCRIPT = fileURLToPath(new URL("../tether.mjs", import.meta.url));

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

/**
 * The POSIX keeper: `/bin/sh` reading its stdin, a pipe whose only writer is us. `read` returns at
 * end of file, which the OS delivers when we die in any way (SIGKILL included); then it sends the
 * command's process group the kill signal, SIGKILL after the grace period (in 0.1 s steps) if the
 * command is still there, and leaves 5 s later at the latest. Terminal signals are ignored (a
 * Ctrl+C goes to our group; we decide). Arguments: pid, signal name without SIG, grace steps.
 */
const SH_KEEPER = `trap '' INT HUP
read -r _ || :
p=$1; s=$2; n=$3; i=0
kill -s "$s" -- "-$p" 2>/dev/null || kill -s "$s" "$p" 2>/dev/null
while kill -0 "$p" 2>/dev/null; do
  if [ "$i" -eq "$n" ]; then kill -s KILL -- "-$p" 2>/dev/null || kill -s KILL "$p" 2>/dev/null; fi
  if [ "$i" -ge $((n + 50)) ]; then exit 0; fi
  sleep 0.1 || exit 0
  i=$((i + 1))
done`;

/**
 * Starts the keeper of command `pid`: POSIX, {@link SH_KEEPER} (a shell starts in ~1 ms of CPU);
 * Windows, runtime/tether.mjs under `process.execPath` over an IPC channel (~0.1 CPU-s of Node
 * boot). Both lead their own process group (POSIX: see tether.mjs's module comment).
 */
function startKeeper(pid: number, killSignal: NodeJS.Signals, killGraceMs: number, cwd: string | undefined, env: NodeJS.ProcessEnv): ChildProcess {
  if (!isWindows) {
    const steps = String(Math.max(0, Math.ceil(killGraceMs / 100)));
    return spawn("/bin/sh", ["-c", SH_KEEPER, "ts-dask-tether", String(pid), killSignal.replace(/^SIG/, ""), steps], {
      cwd,
      env,
      stdio: ["pipe", "ignore", "ignore"], // stdin: the pipe whose end of file means we are gone
      detached: true,
    });
  }
  const spec = Buffer.from(JSON.stringify({ pid, killSignal, killGraceMs }), "utf8").toString("base64url");
  return spawn(process.execPath, [TETHER_SCRIPT, spec], { cwd, env, stdio: ["ignore", "ignore", "inherit", "ipc"], windowsHide: true });
}

/**
 * Start `cmd args` as a long-lived child that dies when this process dies — also by SIGKILL, a crash
 * or an OOM kill. Node has no PR_SET_PDEATHSIG (nor has Windows), so a keeper process is started
 * beside the command and stops it when its pipe (POSIX: a shell, {@link SH_KEEPER}) or IPC channel
 * (Windows: runtime/tether.mjs under Node) to us closes, which the OS guarantees when we die. The
 * command is our own child and starts at once: the keeper is not on its start path (it was when
 * the keeper spawned the command: nats-server's start waited for a Node boot, 0.2–0.8 s at load 15).
 * Resolves once the command has been spawned; rejects with {@link Errors.SpawnFailed} (cause: the
 * errno error, e.g. ENOENT) otherwise.
 *
 * Cost: one extra process (POSIX: a shell, ~1 MB and ~1 ms of CPU; Windows: a Node, ~40 MB RSS,
 * ~0.1 CPU-s to start).
 *
 * Limits: if we die before the keeper has booted, it stops the command as soon as it has (it finds
 * its pipe or channel closed). If the keeper itself is SIGKILLed (not us), we kill the command's process
 * group by PID. POSIX: keeper and command each lead their own process group, so a terminal Ctrl+C
 * reaches only us — we decide when the command stops.
 */
export function spawnTethered(cmd: string, args: readonly string[], opts: TetherOptions = {}): Promise<Tethered> {
  const childEnv = opts.env ?? process.env;
  const keeperEnv = { ...childEnv };
  delete keeperEnv.NODE_OPTIONS; // it must not slow or break the keeper
  const killSignal = opts.killSignal ?? "SIGTERM";
  const child: ChildProcess = spawn(cmd, [...args], {
    cwd: opts.cwd,
    env: childEnv,
    stdio: ["ignore", opts.stdout ?? "pipe", opts.stderr ?? "pipe"],
    detached: !isWindows, // own process group: killed as a group, untouched by a terminal's Ctrl+C
    windowsHide: true,
  });
  return new Promise<Tethered>((resolve, reject) => {
    if (child.pid === undefined) {
      child.once("error", (err: NodeJS.ErrnoException) => reject(Errors.SpawnFailed(cmd, err.code === "ENOENT" ? "no such file or directory" : err.message, err)));
      return;
    }
    const pid = child.pid;
    keepAutogroupNice(pid);
    const keeper = startKeeper(pid, killSignal, opts.killGraceMs ?? 5000, opts.cwd, keeperEnv);
    if (keeper.pid !== undefined) keepAutogroupNice(keeper.pid);
    keeper.stdin?.on("error", () => {}); // POSIX: nothing is written; a closed pipe is the keeper's exit, handled below
    keeper.on("error", () => {}); // a keeper that cannot start or be signalled: its 'exit' (or none) decides below

    let exitInfo: TetherExit | undefined;
    let childExit: TetherExit | undefined;
    let resolveExit!: (e: TetherExit) => void;
    const exited = new Promise<TetherExit>((r) => (resolveExit = r));
    let keeperGone = keeper.pid === undefined;
    const finish = () => {
      if (exitInfo || !childExit || !keeperGone) return;
      exitInfo = childExit;
      resolveExit(childExit);
    };
    const signalChild = (signal: NodeJS.Signals) => {
      if (childExit) return;
      if (isWindows) killTree(pid, signal);
      else if (!trySignal(-pid, signal)) trySignal(pid, signal);
    };

    child.once("exit", (code, signal) => {
      childExit = { code, signal };
      // Its job is done: end the keeper (a SIGKILLed keeper stops nothing).
      if (!keeperGone) keeper.kill("SIGKILL");
      finish();
    });
    keeper.once("exit", () => {
      keeperGone = true;
      // The keeper died while the command runs: it is no longer tethered, so end it now.
      if (!childExit) signalChild("SIGKILL");
      finish();
    });

    const handle: Tethered = {
      pid,
      keeperPid: keeper.pid ?? 0,
      stdout: child.stdout,
      stderr: child.stderr,
      exited,
      get hasExited() {
        return exitInfo !== undefined;
      },
      kill(signal: NodeJS.Signals = "SIGTERM") {
        signalChild(signal);
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
        child.unref();
        keeper.unref();
        keeper.channel?.unref();
        (keeper.stdin as unknown as { unref?: () => void } | null)?.unref?.();
        for (const s of [child.stdout, child.stderr]) (s as unknown as { unref?: () => void } | null)?.unref?.();
      },
    };
    child.once("spawn", () => resolve(handle));
    child.once("error", (err: NodeJS.ErrnoException) => {
      if (childExit) return;
      reject(Errors.SpawnFailed(cmd, err.message, err));
    });
  });
}

/** A keeper attached to a child we started ourselves ({@link tether}). */
export interface Tether {
  /** PID of the keeper (0 if it could not start). */
  readonly keeperPid: number;
}

/**
 * Ties a child we already started (with `spawn` or `fork`: any stdio, an IPC channel included) to
 * our life, as {@link spawnTethered} does for the children it starts: a keeper sends the child
 * `killSignal` (then SIGKILL after `killGraceMs`) when we die in any way, SIGKILL included. For
 * children whose start cannot go through spawnTethered (a `fork` with its IPC channel, a test
 * helper's `spawn`). A child started `detached` (POSIX) leads its process group and is stopped with
 * it; otherwise only the child itself (ts-dask's own processes tether theirs). The keeper never
 * keeps this process alive (it is unref'd) and is SIGKILLed once the child has exited.
 */
export function tether(child: ChildProcess, opts: Pick<TetherOptions, "killSignal" | "killGraceMs" | "cwd" | "env"> = {}): Tether {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return { keeperPid: 0 };
  const keeperEnv = { ...(opts.env ?? process.env) };
  delete keeperEnv.NODE_OPTIONS;
  keepAutogroupNice(child.pid);
  const keeper = startKeeper(child.pid, opts.killSignal ?? "SIGTERM", opts.killGraceMs ?? 5000, opts.cwd, keeperEnv);
  if (keeper.pid !== undefined) keepAutogroupNice(keeper.pid);
  keeper.stdin?.on("error", () => {});
  keeper.on("error", () => {});
  keeper.unref();
  keeper.channel?.unref();
  (keeper.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  child.once("exit", () => {
    if (keeper.exitCode === null && keeper.signalCode === null) keeper.kill("SIGKILL");
  });
  return { keeperPid: keeper.pid ?? 0 };
}
