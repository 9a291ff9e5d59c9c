/**
 * Entry point of an executor child process (spawned by the worker supervisor). Its settings come
 * in $TSDASK_EXECUTOR as JSON ({@link ExecutorProcessConfig}). It talks to its supervisor over the
 * IPC channel only for lifecycle (runtime/ipc.ts: ToExecutor, FromExecutor) and exits when that
 * channel closes, so an executor never outlives its supervisor.
 */
import { consoleLogger } from "../../runtime/actor.ts";
// Not from shipping/index.ts: that one also loads the client's function checks (acorn, ~50 ms at start).
import { deferResolveHook, ensureResolveHook } from "../../runtime/shipping/load-module.ts";
import { FROM_SOURCE, PACKAGE_ROOT as TSDASK_ROOT } from "../../runtime/self.ts";
import { ignoreTerminalSignals } from "../../runtime/platform.ts";
import { Transport } from "../../runtime/transport.ts";
import { subjects } from "../../runtime/protocol.ts";
import { Executor } from "./executor.ts";
import { pipeMarkers } from "./markers.ts";
import { adoptExecutorConfig, hasMarkerPipe, isStandby, isToExecutor, readExecutorConfig, type ExecutorProcessConfig, type FromExecutor } from "../../runtime/ipc.ts";
import { setWorkerClientFactory } from "../../runtime/worker-context.ts";
import { startupMark } from "../../runtime/startup-trace.ts";
import { ExecutorWarmup } from "./warmup.ts";

/** How long a standby waits for `activate` before it installs the resolve hook ahead of need. */
const STANDBY_HOOK_MS = 500;

startupMark("executor", "modules-loaded");
// While it would otherwise wait (a standby kept for a replacement; an executor between its
// registration and its first batch), the process warms its per-task path on scratch batches: no
// message leaves (warmup.ts).
const warmup = new ExecutorWarmup();
let activated = false;
// Ctrl+C in the worker's terminal reaches every process of it: the supervisor decides for us.
ignoreTerminalSignals();
const base = readExecutorConfig() ?? ({} as ExecutorProcessConfig);
process.setSourceMapsEnabled(true);
// The resolve hook is installed when first needed (load-module.ts): most executors never pay for it.
deferResolveHook([base.localDirectory, process.cwd(), TSDASK_ROOT]);
// A standby (TSDASK_STANDBY=1, see actors/supervisor/standby.ts) is started ahead of need with only
// its local directory: its modules are loaded; it waits here for the config of the executor it
// becomes. One left waiting (kept for a replacement) installs the resolve hook meanwhile.
const cfg: ExecutorProcessConfig = isStandby() ? await activation() : base;
// Tasks read who they run on from here (getWorker(), runtime/worker-context.ts), as when started with it.
startupMark("executor", "activated");
adoptExecutorConfig(cfg);
const log = consoleLogger(`[${cfg.name}]`);
// getWorker().client(): a client of this cluster, connected on first use (issue 14).
setWorkerClientFactory(async () => {
  // Compiled, the package entry (its bundle): the Client (and Future) a task's own import("ts-dask") gets.
  const { Client } = FROM_SOURCE ? await import("../../client/client.ts") : await import("../../index.ts");
  return Client.connect(cfg.servers, { cluster: cfg.cluster, token: cfg.token, auth: cfg.auth });
});

const tx = await Transport.connect({ servers: cfg.servers, token: cfg.token, auth: cfg.auth, inboxPrefix: subjects(cfg.cluster).inbox, name: `executor ${cfg.name}`, waitOnFirstConnect: true });
startupMark("executor", "nats-connected");
const ex = new Executor(tx, { ...cfg, log, markers: hasMarkerPipe() ? pipeMarkers() : undefined, onRestart: () => process.exit(0) });

/** Waits for the supervisor's `activate` message (the config of the executor to become); exits if it goes. */
function activation(): Promise<ExecutorProcessConfig> {
  return new Promise((resolve) => {
    const gone = () => process.exit(0);
    const onMessage = (m: unknown) => {
      if (!isToExecutor(m) || m.type !== "activate") return;
      activated = true;
      clearTimeout(idle);
      process.off("message", onMessage);
      process.off("disconnect", gone);
      resolve(m.config);
    };
    // Still waiting after a while: a standby kept for a replacement, idle; the first executors are
    // activated at once and install the hook only if a task needs it.
    // It also warms up then (warmup.ts): not at once, where its CPU would slow the start it is part of.
    const idle = setTimeout(() => (ensureResolveHook(), void warmup.run(() => activated)), STANDBY_HOOK_MS);
    idle.unref();
    process.on("message", onMessage);
    process.once("disconnect", gone);
    // The supervisor may be gone already (stopped while we loaded): a failed send means exit, not a crash.
    if (!process.connected) return gone();
    startupMark("executor", "standby-waiting");
    process.send?.({ type: "standby" } satisfies FromExecutor, undefined, undefined, (e) => e && gone());
  });
}

/** Sends to the supervisor over IPC; if it has gone, the "disconnect" handler ends us (no crash on a closed channel). */
function tellSupervisor(m: FromExecutor): void {
  if (process.connected) process.send?.(m, undefined, undefined, () => {});
}

let exiting = false;
async function exit(code: number) {
  if (exiting) return;
  exiting = true;
  await ex.stop().catch(() => {});
  process.exit(code);
}
process.on("disconnect", () => void exit(0));
process.on("message", (m: unknown) => {
  if (!isToExecutor(m)) return;
  if (m.type === "stop") void exit(0);
  else if (m.type === "retire") void ex.retire().then(() => tellSupervisor({ type: "drained" }));
  else if (m.type === "pause") {
    ex.pause();
    (globalThis as { gc?: () => void }).gc?.();
    ex.beatNow();
  }
  else if (m.type === "resume") {
    ex.resume();
    ex.beatNow();
  }
});
// Memory is reported to the supervisor, which enforces --memory-limit (it can kill us; we cannot).
// Without a limit there is nothing to enforce, and an idle cluster should not wake up for it.
if (cfg.memoryReportMs) setInterval(() => tellSupervisor({ type: "mem", rss: process.memoryUsage.rss() }), cfg.memoryReportMs).unref();
// A task's stray rejection must not kill the process (and every task in it).
process.on("unhandledRejection", (e) => log.warn(`unhandled rejection in a task: ${(e as Error)?.stack ?? e}`));

try {
  await ex.start();
  startupMark("executor", "registered");
  tellSupervisor({ type: "ready", id: cfg.id, pid: process.pid });
  void warmup.run(() => ex.batches > 0).then((n) => startupMark("executor", `warmed-up (${n} rounds)`));
} catch (e) {
  log.warn((e as Error).message);
  tellSupervisor({ type: "refused", message: (e as Error).message });
  await exit(3);
}
