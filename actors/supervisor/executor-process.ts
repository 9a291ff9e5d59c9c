/**
 * One executor child process as its supervisor sees it (the nanny): spawns it, restarts it with
 * backoff when it dies (executor.machine.ts decides when), watches its memory, and tells the
 * scheduler at once when it is lost so its tasks are re-queued without waiting for heartbeats.
 */
import type { ChildProcess } from "node:child_process";
import { createActor, type ActorRefFrom } from "xstate";
import type { Logger } from "../../runtime/actor.ts";
import { randomId } from "../../runtime/ids.ts";
import { isFromExecutor, MARKER_FD, type ExecutorProcessConfig, type ToExecutor } from "../../runtime/ipc.ts";
import { executorMachine, type ExecutorInput } from "./executor.machine.ts";
import { MarkerReader } from "./marker-reader.ts";
import type { Readable } from "node:stream";
import { processRss } from "../../runtime/platform.ts";
import { forkExecutor, type Standby } from "./standby.ts";

/** How often the nanny reads an executor's RSS from outside (see spawn()). */
const RSS_PROBE_MS = 500;

export interface ExecutorProcessOptions {
  base: Omit<ExecutorProcessConfig, "id" | "name" | "index">;
  name: string;
  index: number;
  /** Bytes; 0 for no limit. Also sets V8's heap limit so the limit, not V8's default, applies. */
  memoryLimit: number;
  memoryPause: number;
  memoryTerminate: number;
  machine: ExecutorInput;
  log: Logger;
  /** The executor with this id is gone (tell the scheduler which tasks were running / overdue). */
  onLost(id: string, reason: string, running: number[], timedOut: number[]): void;
  onReady(): void;
  onStopped(): void;
  /** A process started ahead of need, taken instead of starting one when this executor is replaced. */
  standby?: Standby;
}

export class ExecutorProcess {
  child: ChildProcess | undefined;
  id = "";
  rss = 0;
  /** Tasks running in the child, from its start/end markers (careful and timed tasks only). */
  private readonly markers = new MarkerReader();
  private timedOut: number[] = [];
  private watchdog: NodeJS.Timeout | undefined;
  private rssProbe: NodeJS.Timeout | undefined;
  readonly life: ActorRefFrom<typeof executorMachine>;

  constructor(private readonly o: ExecutorProcessOptions) {
    this.life = createActor(
      executorMachine.provide({
        actions: {
          spawnExecutor: () => this.spawn(),
          executorReady: () => o.onReady(),
          killExecutor: () => this.child?.kill("SIGKILL"),
          stopExecutor: () => this.send({ type: "stop" }),
          pauseExecutor: () => this.send({ type: "pause" }),
          resumeExecutor: () => this.send({ type: "resume" }),
          reportExit: ({ context }) => {
            const e = context.lastExit;
            const how = e ? (e.reason === "memory" ? `exceeded its memory limit` : e.signal ? `was killed by ${e.signal}` : `exited with code ${e.code}`) : "was lost";
            o.log.warn(`executor ${o.name} ${how}; restarting (restart #${context.totalRestarts}, backoff ${context.backoff} ms)`);
            if (this.id) o.onLost(this.id, this.timedOut.length ? `stopped: a task ran past its timeout` : how, [...this.markers.running.keys()], this.timedOut);
            this.markers.clear();
            this.timedOut = [];
          },
        },
      }),
      { input: o.machine },
    );
    this.life.subscribe({ complete: () => o.onStopped() });
  }

  private drained: (() => void) | undefined;
  /** The worker is leaving: an exit now ends this executor instead of restarting it. */
  private retiring = false;

  /**
   * Asks the process to hand back its queued tasks and finish the running ones; resolves when it
   * has (at once when no process is up).
   */
  retire(): Promise<void> {
    this.retiring = true;
    // Between a crash and its replacement: none is started now.
    if (this.life.getSnapshot().matches({ restarting: "backoff" })) this.life.send({ type: "STOP" });
    if (!this.child?.connected || !this.life.getSnapshot().matches("ready")) return Promise.resolve();
    return new Promise((resolve) => {
      this.drained = resolve;
      this.child!.once("close", () => resolve());
      this.send({ type: "retire" });
    });
  }

  start(): void {
    this.life.start();
  }

  stop(): void {
    this.life.send({ type: "STOP" });
  }

  private send(m: ToExecutor) {
    if (this.child?.connected) this.child.send(m);
  }

  private spawn() {
    this.id = randomId();
    const cfg: ExecutorProcessConfig = { ...this.o.base, id: this.id, name: this.o.name, index: this.o.index, memoryReportMs: this.o.memoryLimit > 0 ? 250 : 0 };
    // A process started ahead of need becomes this executor when one is there (standby.ts).
    const replacement = this.child !== undefined;
    const standby = this.o.standby?.take();
    if (standby) void standby.waiting.then(() => standby.child.connected && standby.child.send({ type: "activate", config: cfg } satisfies ToExecutor));
    const child = standby?.child ?? forkExecutor(this.o.base, this.o.memoryLimit, cfg);
    this.child = child;
    this.markers.clear();
    (child.stdio[MARKER_FD] as Readable | null)?.on("data", (d: Buffer) => {
      if (child === this.child) this.markers.feed(d);
    });
    clearInterval(this.watchdog);
    this.watchdog = undefined;
    // A task past its timeout that blocks the event loop can only be stopped with its process.
    // The watchdog runs only while a timed task runs (an idle cluster should not wake up for it).
    const watch = () => {
      if (child !== this.child || this.timedOut.length) return;
      if (!this.markers.hasTimed()) return void (clearInterval(this.watchdog), (this.watchdog = undefined));
      const overdue = this.markers.overdue(Date.now(), 100);
      if (!overdue.length) return;
      this.timedOut = overdue;
      child.kill("SIGKILL");
    };
    this.markers.onTimedStart = () => {
      if (child !== this.child || this.watchdog) return;
      this.watchdog = setInterval(watch, 100);
      this.watchdog.unref();
    };
    // The executor reports its own memory, but not while a task blocks its event loop: read its
    // RSS from outside too, so off-heap growth inside a blocked task still hits the limit.
    clearInterval(this.rssProbe);
    if (this.o.memoryLimit > 0 && child.pid !== undefined) {
      const pid = child.pid;
      this.rssProbe = setInterval(() => {
        void processRss(pid).then((rss) => {
          if (child === this.child && rss !== undefined && rss > this.o.memoryLimit * this.o.memoryTerminate) this.onMemory(rss);
        });
      }, RSS_PROBE_MS);
      this.rssProbe.unref();
    }
    child.on("message", (m: unknown) => {
      if (child !== this.child || !isFromExecutor(m)) return;
      if (m.type === "ready") {
        this.life.send({ type: "READY" });
        if (replacement) this.o.standby?.fill(); // the next standby, once this replacement no longer needs the CPU
      }
      else if (m.type === "mem") this.onMemory(m.rss);
      else if (m.type === "drained") this.drained?.();
      else if (m.type === "refused") this.o.log.warn(`executor ${this.o.name} was refused: ${m.message}`);
    });
    // "close", not "exit": every marker written before the death has been read by then.
    child.on("close", (code, signal) => {
      if (child !== this.child) return;
      clearInterval(this.watchdog);
      clearInterval(this.rssProbe);
      const snap = this.life.getSnapshot();
      if (this.retiring && !snap.matches("stopping")) {
        // Typically the worker's stop signal reaching its whole process group (kill -TERM -<pgid>,
        // pkill): the executor was leaving anyway, so it is stopped, not restarted; the scheduler
        // still learns which of its tasks were running (unless a restart reported it already).
        if (!snap.matches("restarting")) {
          const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
          this.o.log.info(`executor ${this.o.name} ${how} while retiring`);
          if (this.id) this.o.onLost(this.id, how, [...this.markers.running.keys()], this.timedOut);
        }
        this.life.send({ type: "STOP" });
      }
      this.life.send({ type: "EXITED", code, signal });
    });
    child.on("error", (e) => this.o.log.warn(`executor ${this.o.name}: ${e.message}`));
  }

  private onMemory(rss: number) {
    this.rss = rss;
    const limit = this.o.memoryLimit;
    if (!limit) return;
    if (rss > limit * this.o.memoryTerminate) this.life.send({ type: "MEMORY_CRITICAL" });
    else if (rss > limit * this.o.memoryPause) this.life.send({ type: "MEMORY_HIGH" });
    else this.life.send({ type: "MEMORY_OK" });
  }
}
