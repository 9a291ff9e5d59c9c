/** Tethered children (part of runtime/platform.ts, the one OS module). */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { Errors } from "../errors.ts";
import { readFileSync, writeFileSync } from "node:fs";
import { isLinux, isWindows } from "./os.ts";
import { killTree, waitForPidExit } from "./processes.ts";
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
