/**
 * Executor processes started ahead of need (standbys): Node booted, ts-dask's modules loaded, the
 * resolve hook up, waiting on IPC for the executor they are to become (`activate` with its
 * config). A worker starts its first executors this way while it connects to NATS and registers
 * (`ts-dask up` and the embedded cluster: while nats-server and the scheduler start), and keeps one
 * standby afterwards, so a dead executor (crash, `kill -9`, memory limit, recycle) is replaced
 * within tens of milliseconds instead of the ~0.5 s a cold start takes. A new standby is started
 * once the replacement is ready. It is idle (about 40 MB of memory) and never registered with the
 * scheduler.
 */
import { fork, type ChildProcess } from "node:child_process";
import { executorEnv, isFromExecutor, type ExecutorProcessConfig, type StandbyConfig } from "../../runtime/ipc.ts";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { FROM_SOURCE, ownCodeExecArgv, ownModule } from "../../runtime/self.ts";

/**
 * The executor's entry: compiled, the one-file bundle the build makes of main.js
 * (tools/bundle.mjs: ~0.1 CPU-s less per process start); from source, main.ts under tsx.
 */
const EXECUTOR_MAIN = executorMain();

function executorMain(): string {
  const bundle = fileURLToPath(new URL("../executor/main.bundle.js", import.meta.url));
  return !FROM_SOURCE && existsSync(bundle) ? bundle : ownModule(import.meta.url, "../executor/main.ts");
}

/**
 * A private cluster's standby kept for replacements boots this long after the executors are
 * ready, not at once: its boot (~0.3–0.5 CPU-s) would otherwise take a core from the first tasks
 * of the script that just connected (bench/embedded: a cold client's first map). A replacement
 * needed before then starts a process of its own, as without a standby.
 */
export const STANDBY_DELAY_MS = 3_000;

/**
 * Starts an executor process (plain Node on the compiled code; tsx only from the sources). With
 * `config` it starts as that executor; without, as a standby that waits for `activate` (standby.ts).
 */
export function forkExecutor(base: StandbyConfig, memoryLimit: number, config?: ExecutorProcessConfig): ChildProcess {
  // --expose-gc: an executor paused for memory collects garbage at once, so it can recover.
  const execArgv = [...ownCodeExecArgv(), "--expose-gc"];
  if (memoryLimit > 0) execArgv.push(`--max-old-space-size=${Math.max(64, Math.floor(memoryLimit / 2 ** 20))}`);
  return fork(EXECUTOR_MAIN, [], {
    execArgv,
    env: { ...process.env, ...executorEnv(base, config) },
    // fd 4: the task start/end marker pipe (runtime/ipc.ts)
    stdio: ["ignore", "inherit", "inherit", "ipc", "pipe"],
  });
}

interface Entry {
  child: ChildProcess;
  /** Resolves when the process says it is waiting for `activate` (its message listener is in place). */
  waiting: Promise<void>;
  isWaiting: boolean;
}

/** A standby taken for an executor: send `activate` once `waiting` resolves. */
export interface TakenStandby {
  child: ChildProcess;
  waiting: Promise<void>;
}

export class Standby {
  private entries: Entry[] = [];
  private stopped = false;
  private onWaiting: (() => void)[] = [];

  /** @param start starts a process in standby mode (`TSDASK_STANDBY=1`, see executor-process.ts). */
  constructor(private readonly start: () => ChildProcess) {}

  /** Starts standbys until `n` are started (waiting or still loading). */
  fill(n = 1): void {
    while (!this.stopped && this.entries.length < n) {
      const child = this.start();
      let markWaiting!: () => void;
      const e: Entry = { child, waiting: new Promise((r) => (markWaiting = r)), isWaiting: false };
      this.entries.push(e);
      child.on("message", (m: unknown) => {
        if (!isFromExecutor(m) || m.type !== "standby" || e.isWaiting) return;
        e.isWaiting = true;
        markWaiting();
        for (const f of this.onWaiting.splice(0)) f();
      });
      child.once("exit", () => (this.entries = this.entries.filter((x) => x !== e)));
      child.on("error", () => {}); // a failed standby is simply not used (its exit removes it)
    }
  }

  /** A started standby, waiting ones first; it leaves the pool. undefined when none is alive. */
  take(): TakenStandby | undefined {
    const alive = this.entries.filter((e) => e.child.connected && e.child.exitCode === null && e.child.signalCode === null);
    const e = alive.find((x) => x.isWaiting) ?? alive[0];
    if (!e) return undefined;
    this.entries = this.entries.filter((x) => x !== e);
    return { child: e.child, waiting: e.waiting };
  }

  /** Resolves with the pid of a standby once one is waiting (for tests and benchmarks). */
  ready(): Promise<number> {
    const w = this.entries.find((e) => e.isWaiting);
    if (w?.child.pid !== undefined) return Promise.resolve(w.child.pid);
    return new Promise((resolve) => this.onWaiting.push(() => void this.ready().then(resolve)));
  }

  /** Stops the standbys not taken and starts no others. */
  stop(): void {
    this.stopped = true;
    for (const e of this.entries) e.child.kill();
    this.entries = [];
  }
}
