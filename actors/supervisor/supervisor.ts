/**
 * The worker-supervisor actor: one per `ts-dask worker` (per machine). Registers with the
 * scheduler under its name, spawns and watches `--nprocs` executor processes, heartbeats, and
 * applies `--death-timeout` (supervisor.machine.ts). Handlers, by subject:
 *   alive → onSchedulerAlive (scheduler liveness and restarts)
 *   worker.<instance>.install → installer.ts (client.install: npm in the local directory)
 * Installs replayed in the register reply (a worker that joins after client.install) run before
 * the executors start, so no task finds a package missing.
 */
import { hostname, platform } from "node:os";
import { createActor, type ActorRefFrom } from "xstate";
import { Actor, type Logger } from "../../runtime/actor.ts";
import { randomId } from "../../runtime/ids.ts";
import type { Bye, Heartbeat, RegisterReply, RegisterWorker, SchedulerAlive } from "../../runtime/protocol.ts";
import { Transport } from "../../runtime/transport.ts";
import { Errors } from "../../runtime/errors.ts";
import { hello, versionWarning } from "../../runtime/version.ts";
import { ExecutorProcess } from "./executor-process.ts";
import { forkExecutor, Standby } from "./standby.ts";
import { startupMark } from "../../runtime/startup-trace.ts";
import { supervisorMachine, type SupervisorOutput } from "./supervisor.machine.ts";
import { Installer } from "./installer.ts";
import { SchedulerWatch } from "../../runtime/scheduler-watch.ts";
import { Silence, silenceImpl } from "../../runtime/silence.ts";
import { getBytes } from "../../runtime/data-transfer.ts";
import { subjects, type InstallJob } from "../../runtime/protocol.ts";
import { routes } from "../../runtime/routes.ts";
import { everyBeat } from "../../runtime/beat-clock.ts";
import { redactUrl, type NatsAuth } from "../../runtime/nats-auth.ts";


/** How long a graceful stop waits for running tasks to finish before it stops the executors anyway: 20 s. */
export const RETIRE_TIMEOUT_MS = 20_000;

export interface SupervisorOptions {
  servers: string;
  token?: string;
  /** NATS credentials and TLS (runtime/nats-auth.ts), passed on to the executors. */
  auth?: NatsAuth;
  cluster: string;
  /** Worker name; executors are `<name>-0 … <name>-(nprocs-1)`. */
  name: string;
  nprocs: number;
  nthreads: number;
  /** Bytes per executor; 0 for none. */
  memoryLimit: number;
  /** What each executor offers to tasks that need resources (`--resources GPU=1,MEM=8e9`). */
  resources?: Record<string, number>;
  /** Fractions of the memory limit: pause new work / restart the executor. */
  memoryPause?: number;
  memoryTerminate?: number;
  /** Milliseconds without the scheduler before giving up; Infinity for never. */
  deathTimeoutMs: number;
  localDirectory: string;
  heartbeatMs?: number;
  log: Logger;
  /**
   * Executor processes already started for this worker (standby.ts; the local cluster starts them
   * while nats-server starts). Default: the supervisor starts `nprocs` before connecting to NATS.
   */
  standby?: Standby;
  /**
   * Milliseconds between the executors' first start and the start of the standby kept for
   * replacements (default 0: at once). The private cluster of `Client.connect()` and `ts-dask up`
   * pass {@link STANDBY_DELAY_MS}.
   */
  standbyDelayMs?: number;
  /** The supervisor's own connection, when the embedding program shares one (startWorker({ nc })); executors always connect to `servers`. */
  tx?: Transport;
}

export { STANDBY_DELAY_MS } from "./standby.ts";

export class Supervisor extends Actor {
  readonly instance = randomId();
  readonly executors: ExecutorProcess[] = [];
  private readonly life: ActorRefFrom<typeof supervisorMachine>;
  private scheduler = "";
  /** Our registration's token: installs without it are not from our scheduler (protocol.ts Bound). */
  private auth = "";
  /** Which scheduler we follow; a rival's beats are ignored while ours lives. */
  private readonly watch = new SchedulerWatch(3000);
  /** Signs of life of the scheduler followed, for the machine's schedulerSilence (runtime/silence.ts). */
  private readonly schedulerSeen = new Silence(() => performance.now());
  private stopBeat: () => void = () => {};
  private readyCount = 0;
  private standbyTimer: NodeJS.Timeout | undefined;
  /** client.install() on this worker. */
  readonly installer: Installer;
  /** Installs replayed at the first registration; the executors start when they are done. */
  private replayed: Promise<unknown> | undefined;
  private registeringNow = false;
  private resolveReady!: () => void;
  private rejectReady!: (e: Error) => void;
  /** Resolves when every executor has started once (rejects if the worker gives up first). */
  readonly ready = new Promise<void>((res, rej) => ((this.resolveReady = res), (this.rejectReady = rej)));
  /** Resolves with the exit code and reason when the supervisor has stopped. */
  readonly exited: Promise<SupervisorOutput>;

  private constructor(
    tx: Transport,
    private readonly opts: SupervisorOptions,
    /** Processes started ahead: the first executors, then one for the next replacement (standby.ts). */
    private readonly standby: Standby,
  ) {
    super(tx, opts.cluster, opts.log);
    this.ready.catch(() => {});
    this.installer = new Installer({
      localDirectory: opts.localDirectory,
      fetchBytes: (hash) => getBytes(tx, this.subjects.dataGet, hash, { as: () => ({ worker: this.instance, auth: this.auth }), fail: (m) => Errors.DataUnavailable(hash, opts.name, m) }),
      log: opts.log,
    });
    const seen = silenceImpl(this.schedulerSeen, (c: { schedulerSilenceMs: number }) => c.schedulerSilenceMs);
    this.life = createActor(
      supervisorMachine.provide({
        guards: { schedulerHeard: seen.heard },
        delays: { schedulerSilence: seen.left },
        actions: {
          sendRegister: () => void this.register(),
          startExecutors: () => void (this.replayed ?? Promise.resolve()).then(() => this.startExecutors()),
          resumeWork: () => opts.log.info("registered again with the scheduler"),
          reportSchedulerLost: () => opts.log.warn(`lost the scheduler; retrying for ${fmtTimeout(opts.deathTimeoutMs)}`),
          reportDeathTimeout: () => opts.log.warn(`no scheduler for ${fmtTimeout(opts.deathTimeoutMs)} (--death-timeout): shutting down`),
          stopAcceptingWork: () => {
            opts.log.info("retiring: finishing running tasks, handing queued ones back");
            void Promise.all(this.executors.map((e) => e.retire())).then(() => this.life.send({ type: "DRAINED" }));
          },
          stopExecutors: () => this.stopExecutors(),
        },
      }),
      { input: { deathTimeoutMs: opts.deathTimeoutMs, schedulerSilenceMs: (opts.heartbeatMs ?? 500) * 6, retireTimeoutMs: RETIRE_TIMEOUT_MS, registerRetryMs: 1000 } },
    );
    this.exited = new Promise((resolve) =>
      this.life.subscribe({
        complete: () => {
          const out = this.life.getSnapshot().output!;
          if (out.exitCode !== 0) this.rejectReady(Errors.WorkerStopped(out.reason ?? `exit code ${out.exitCode}`));
          void this.finish().then(() => resolve(out));
        },
      }),
    );
  }

  /** Starts a worker: waits for NATS (within the death timeout), registers, spawns executors. */
  static async start(opts: SupervisorOptions): Promise<Supervisor> {
    // The executor processes boot (Node, modules) while this connects and registers.
    const standby = opts.standby ?? new Standby(() => forkExecutor({ localDirectory: opts.localDirectory }, opts.memoryLimit));
    standby.fill(opts.nprocs);
    let tx: Transport;
    try {
      tx = opts.tx ?? (await connectWithin(opts));
    } catch (e) {
      standby.stop();
      throw e;
    }
    startupMark("worker", "nats-connected");
    const s = new Supervisor(tx, opts, standby);
    s.life.start();
    s.serve(routes.workerInstall.at(s.instance), (m, reply) => {
      // Only our scheduler may make this machine run npm.
      if (!s.auth || m.auth !== s.auth) return s.dropped("install: not from our scheduler");
      void s.installer.run({ specs: m.specs, ...(m.offline ? { offline: true } : {}), ...(m.npmArgs ? { npmArgs: m.npmArgs } : {}) }).then((r) => s.respond(reply, r));
    });
    s.serve(routes.alive, (m) => s.onSchedulerAlive(m));
    tx.onStatus((st) => {
      if (st === "disconnected") s.life.send({ type: "DISCONNECTED" });
      if (st === "reconnected") s.life.send({ type: "CONNECTED" });
    });
    s.life.send({ type: "CONNECTED" });
    s.stopBeat = everyBeat(opts.heartbeatMs ?? 500, () => s.heartbeat());
    return s;
  }

  private async register() {
    if (this.registeringNow) return; // a retry while the last attempt still waits for its answer
    this.registeringNow = true;
    try {
      await this.registerOnce();
    } finally {
      this.registeringNow = false;
    }
  }

  private async registerOnce() {
    const o = this.opts;
    const msg: RegisterWorker = {
      kind: "worker",
      hello: hello(),
      name: o.name,
      instance: this.instance,
      host: hostname(),
      pid: process.pid,
      platform: platform(),
      nprocs: o.nprocs,
      nthreads: o.nthreads,
      memoryLimit: o.memoryLimit,
      ...(o.resources ? { resources: o.resources } : {}),
      nats: this.tx.node,
      ...(this.auth ? { auth: this.auth } : {}),
    };
    try {
      // Any peer may answer: once we follow a scheduler, only its answer (or, after its silence, a new one's) counts.
      const r = await this.tx.requestWhere<RegisterReply>(this.subjects.register, msg, 2000, (r) => (r?.ok === true ? this.watch.accepts(r.scheduler) : !this.watch.current));
      if (r.ok) {
        this.scheduler = r.scheduler;
        this.auth = r.auth ?? "";
        this.watch.adopt(r.scheduler);
        this.watch.heartbeat(r.heartbeatMs);
        const mismatch = versionWarning(`This worker (${this.opts.name})`, hello(), r.hello);
        if (mismatch) this.log.warn(mismatch);
        if (r.installs?.length) this.replay(r.installs);
        startupMark("worker", "registered");
        this.schedulerSeen.note();
        this.life.send({ type: "REGISTERED" });
      } else if (r.code === "RegistrationHeld") {
        this.log.warn(`${r.message}`); // the machine retries after registerRetry
      } else {
        // Not logged here: the refusal is the reason the worker exits with, printed once by its owner.
        this.life.send({ type: "REGISTER_REFUSED", reason: r.message });
      }
    } catch (e) {
      if (!Transport.isNoAnswer(e)) this.log.warn(`register: ${(e as Error).message}`);
      // The machine retries after registerRetry.
    }
  }

  /** Runs installs made before this worker joined (each is skipped if its directory has it already). */
  private replay(jobs: InstallJob[]) {
    const runs = jobs.map((j) =>
      this.installer.run(j).then((r) => {
        if (!r.ok) this.log.warn(r.error);
      }),
    );
    this.replayed ??= Promise.all(runs);
  }

  private onSchedulerAlive(m: SchedulerAlive) {
    const v = this.watch.alive(m.instance);
    // Noted, not sent: the machine's silence timer asks when it fires (runtime/silence.ts).
    if (v === "same" || !this.scheduler) this.schedulerSeen.note();
    else if (v === "new") this.life.send({ type: "REREGISTER" });
    // "rival": another instance while ours beats changes nothing (trust.ts reports it on the scheduler).
  }

  private heartbeat() {
    // The supervisor vouches for its live executor processes: one busy in a long synchronous
    // task cannot send its own heartbeat, but it is not dead.
    const executors = this.executors.filter((e) => e.child && e.child.exitCode === null && e.child.signalCode === null && e.life.getSnapshot().matches("ready")).map((e) => e.id);
    const hb: Heartbeat = { id: this.instance, kind: "worker", auth: this.auth, ...(this.scheduler ? { sched: this.scheduler } : {}), running: 0, queued: 0, rss: process.memoryUsage.rss(), executors, nats: this.tx.node };
    try {
      this.tx.send(this.subjects.heartbeat, hb);
    } catch {
      /* disconnected: the machine handles it */
    }
  }

  private startExecutors() {
    const o = this.opts;
    const st = this.life.getSnapshot();
    if (st.status !== "active" || st.matches("shuttingDown") || st.matches("retiring") || this.executors.length) return;
    const base = { servers: o.servers, token: o.token, auth: o.auth, cluster: o.cluster, worker: this.instance, workerName: o.name, nthreads: o.nthreads, localDirectory: o.localDirectory };
    for (let i = 0; i < o.nprocs; i++) {
      const ep = new ExecutorProcess({
        standby: this.standby,
        base,
        name: `${o.name}-${i}`,
        index: i,
        memoryLimit: o.memoryLimit,
        memoryPause: o.memoryPause ?? 0.8,
        memoryTerminate: o.memoryTerminate ?? 0.95,
        machine: { restartBackoffMs: 50, maxBackoffMs: 10_000, stableAfterMs: 10_000, startTimeoutMs: 60_000, stopTimeoutMs: 5_000 },
        log: o.log,
        onLost: (id, reason, running, timedOut) => {
          try {
            const bye: Bye = { id, kind: "executor", reason, sched: this.scheduler, auth: this.auth, running: Uint32Array.from(running), timedOut: Uint32Array.from(timedOut) };
            this.tx.send(this.subjects.bye, bye);
          } catch {
            /* the scheduler will notice the missing heartbeats */
          }
        },
        onReady: () => {
          if (++this.readyCount === o.nprocs) {
            this.resolveReady();
            // All started: one standby for the first replacement (a private cluster's once the
            // first tasks had the CPU).
            if (!o.standbyDelayMs) this.standby.fill(1);
            else (this.standbyTimer = setTimeout(() => this.standby.fill(1), o.standbyDelayMs)).unref();
          }
        },
        onStopped: () => {
          if (this.executors.every((e) => e.life.getSnapshot().status === "done")) this.life.send({ type: "EXECUTORS_STOPPED" });
        },
      });
      this.executors.push(ep);
      ep.start();
    }
  }

  /**
   * @internal Resolves with the pid of the standby executor process once one is started and
   * waiting (standby.ts): the next executor replacement will take it.
   */
  standbyReady(): Promise<number> {
    return this.standby.ready();
  }

  private stopExecutors() {
    clearTimeout(this.standbyTimer);
    this.standby.stop();
    // None, or all gone already (exited while retiring, executor-process.ts): nothing to wait for.
    if (this.executors.every((e) => e.life.getSnapshot().status === "done")) return void queueMicrotask(() => this.life.send({ type: "EXECUTORS_STOPPED" }));
    for (const e of this.executors) e.stop();
  }

  /**
   * Stops the worker: executors first, then the connection. Resolves with the exit status.
   * `graceful`: running tasks finish first and queued ones go back to the scheduler (within the
   * retire timeout, {@link RETIRE_TIMEOUT_MS}).
   */
  shutdown(reason = "shutdown", opts: { graceful?: boolean } = {}): Promise<SupervisorOutput> {
    this.life.send({ type: "SHUTDOWN", reason, immediate: !opts.graceful });
    return this.exited;
  }

  private async finish() {
    this.stopBeat();
    clearTimeout(this.standbyTimer);
    this.standby.stop();
    try {
      this.tx.send(this.subjects.bye, { id: this.instance, kind: "worker", auth: this.auth });
    } catch {
      /* gone */
    }
    this.stopListening();
    this.watch.stop();
    await this.tx.close();
  }
}

function fmtTimeout(ms: number): string {
  return Number.isFinite(ms) && ms > 0 ? `${Math.round(ms / 1000)} s` : "ever";
}

/**
 * Connects to NATS, retrying; the death timeout applies from the very start (a worker whose NATS
 * server never appears exits instead of waiting silently), and a waiting worker says so.
 */
async function connectWithin(opts: SupervisorOptions): Promise<Transport> {
  const connecting = Transport.connect({ servers: opts.servers, token: opts.token, auth: opts.auth, inboxPrefix: subjects(opts.cluster).inbox, name: `worker ${opts.name}`, waitOnFirstConnect: true });
  const notice = setTimeout(() => opts.log.warn(`waiting for NATS at ${redactUrl(opts.servers)}…`), 2000);
  let giveUp: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    if (Number.isFinite(opts.deathTimeoutMs) && opts.deathTimeoutMs > 0) {
      giveUp = setTimeout(() => reject(Errors.DeathTimeout(redactUrl(opts.servers), opts.deathTimeoutMs)), opts.deathTimeoutMs);
    }
  });
  try {
    return await Promise.race([connecting, deadline]);
  } finally {
    clearTimeout(notice);
    clearTimeout(giveUp);
  }
}
