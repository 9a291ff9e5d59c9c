/** Shutdown and terminal signals (part of runtime/platform.ts, the one OS module). */
import os from "node:os";
import { isWindows } from "./os.ts";
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
