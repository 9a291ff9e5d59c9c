/**
 * One executor process started ahead of need (a standby): Node booted, ts-dask's modules loaded,
 * the resolve hook up, waiting for the name it takes over. When an executor dies (crash,
 * `kill -9`, memory limit, recycle) its nanny activates the standby instead of starting a process
 * from nothing, so the replacement accepts tasks within tens of milliseconds rather than the
 * ~0.5 s a cold start takes; a new standby is started once the replacement is ready. One per
 * worker, idle (about 40 MB of memory), never registered with the scheduler.
 */
import type { ChildProcess } from "node:child_process";

export class Standby {
  private child: ChildProcess | undefined;
  private stopped = false;
  /** Set when the current standby says it is waiting; cleared when it is taken or gone. */
  private waiting: ChildProcess | undefined;
  private onWaiting: (() => void)[] = [];

  /** @param start starts a process in standby mode (`TSDASK_STANDBY=1`). */
  constructor(private readonly start: () => ChildProcess) {}

  /** Starts a standby unless one is waiting. Call when the executors are up, so it never competes with their start. */
  fill(): void {
    if (this.stopped || this.child) return;
    const c = this.start();
    this.child = c;
    c.once("exit", () => {
      if (this.child === c) this.child = undefined;
      if (this.waiting === c) this.waiting = undefined;
    });
    c.on("message", (m: { type?: string }) => {
      if (m?.type !== "standby" || this.child !== c) return;
      this.waiting = c;
      for (const f of this.onWaiting.splice(0)) f();
    });
    c.on("error", () => {}); // a failed standby is simply not used
  }

  /** The waiting process, if one is alive (the caller sends it `activate`); the slot is then empty. */
  take(): ChildProcess | undefined {
    const c = this.child;
    this.child = undefined;
    this.waiting = undefined;
    return c && c.connected && c.exitCode === null && c.signalCode === null ? c : undefined;
  }

  /** Resolves with the pid of a standby once one is started and waiting (for tests and benchmarks). */
  ready(): Promise<number> {
    if (this.waiting?.pid !== undefined) return Promise.resolve(this.waiting.pid);
    return new Promise((resolve) => this.onWaiting.push(() => resolve(this.waiting!.pid!)));
  }

  /** Stops the waiting process and starts no other. */
  stop(): void {
    this.stopped = true;
    this.child?.kill();
    this.child = undefined;
  }
}
