/**
 * The executor actor: one per child process, with its own NATS connection. It runs user code.
 * Handlers, by subject (runtime/protocol.ts):
 *   exec.<id>.tasks → onTasks     exec.<id>.cancel → onCancel
 *   exec.<id>.steal → onSteal     exec.<id>.control → onControl     alive → onSchedulerAlive
 *   exec.<id>.upload → onUpload (uploads.ts)
 * It registers with the scheduler (and again whenever the scheduler restarts or forgets it),
 * heartbeats, and sends results and completions through the Outbox.
 */
import { Actor, type Logger } from "../../runtime/actor.ts";
import * as G from "../../runtime/guards.ts";
import type { ExecUploadReply, UploadDef, Resync, Retire, RunReply, RunRequest, ExecControl, FnDef, Heartbeat, ModuleDef, RegisterExecutor, RegisterReply, SchedulerAlive, TaskBatch } from "../../runtime/protocol.ts";
import { compileSource } from "../../runtime/shipping/compile.ts";
import { loadModule } from "../../runtime/shipping/load-module.ts";
import { Transport } from "../../runtime/transport.ts";
import { hello } from "../../runtime/version.ts";
import { forwardTaskConsole } from "./console.ts";
import { Outbox } from "./outbox.ts";
import type { Markers } from "./markers.ts";
import { DataCache } from "./data-cache.ts";
import { refStats } from "../../runtime/data-ref.ts";
import { errorInfo, Runner } from "./runner.ts";
import { encode } from "../../runtime/codec.ts";
import { vitals } from "./vitals.ts";
import { Uploads } from "./uploads.ts";
import { getBytes } from "../../runtime/data-transfer.ts";
import { Errors } from "../../runtime/errors.ts";

export interface ExecutorOptions {
  id: string;
  /** `<worker>-<index>` */
  name: string;
  /** The supervisor's instance id. */
  worker: string;
  index: number;
  nthreads: number;
  cluster: string;
  /** Where modules and uploads are written. */
  localDirectory: string;
  /** Called after a restart order once the executor has stopped (exit so the nanny restarts it). */
  onRestart?: () => void;
  /** Start/end markers for careful and timed tasks (the supervisor's pipe). */
  markers?: Markers;
  /** Send tasks' console output to their clients (default true). */
  forwardConsole?: boolean;
  log: Logger;
}

type LoadedFn = Function | Error;

export class Executor extends Actor {
  readonly runner: Runner;
  private readonly out: Outbox;
  private readonly fns = new Map<string, LoadedFn | Promise<LoadedFn>>();
  private readonly mods = new Map<string, ModuleDef>();
  /** Functions whose module failed to load (a missing package, say): loaded again by the next batch that uses them. */
  private readonly failedLoads = new Map<string, FnDef>();
  private scheduler = "";
  private heartbeatMs = 500;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private registering: Promise<void> | undefined;
  private stopped = false;
  /** Batches that wait for a module import; later batches queue behind them to keep order. */
  private chain: Promise<void> = Promise.resolve();
  private chained = 0;
  readonly data: DataCache;
  /** Uploaded modules and packages (client.uploadFile). */
  readonly uploads: Uploads;
  private refsSeen = refStats.decoded;

  constructor(tx: Transport, readonly opts: ExecutorOptions) {
    super(tx, opts.cluster, opts.log);
    this.out = new Outbox(tx, this.subjects, opts.id, opts.name);
    if (opts.forwardConsole !== false) this.out.beforeFlush = forwardTaskConsole(tx, this.subjects, opts.name);
    this.runner = new Runner(opts.nthreads, this.out, opts.name, opts.markers);
    this.data = new DataCache(tx, this.subjects, opts.name, (subject, handler) => this.listen(subject, "data.push", G.isDataPut, handler));
    this.uploads = new Uploads(opts.localDirectory, (hash) => getBytes(tx, this.subjects.dataGet, hash, (m) => Errors.DataUnavailable(hash, opts.name, m)));
  }

  /** Subscribes, registers with the scheduler (retrying until one answers) and starts heartbeats. */
  async start(): Promise<void> {
    const s = this.subjects;
    const id = this.opts.id;
    this.listen(s.execTasks(id), "tasks", G.isTaskBatch, (m) => this.onTasks(m));
    this.listen(s.execCancel(id), "cancel", G.isExecCancel, (m) => this.runner.cancel(m.slots, m.keys));
    this.listen(s.execSteal(id), "steal", G.isStealRequest, (m, reply) => this.respond(reply, { slots: Uint32Array.from(this.runner.steal(m.max)) }));
    this.listen(s.execRun(id), "run", G.isRunRequest, (m, reply) => void this.onRun(m).then((r) => this.respond(reply, r)));
    this.listen(s.execControl(id), "control", (m): m is ExecControl => typeof (m as ExecControl)?.op === "string", (m, reply) => this.onControl(m, reply));
    this.listen(s.execUpload(id), "upload", G.isExecUpload, (m, reply) => void this.onUpload(m.uploads).then((r) => this.respond(reply, r)));
    this.listen(s.alive, "alive", (m): m is SchedulerAlive => typeof (m as SchedulerAlive)?.instance === "string", (m) => this.onSchedulerAlive(m));
    await this.register();
    this.tx.onStatus((st) => st === "reconnected" && this.resync());
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.heartbeatMs);
    this.heartbeatTimer.unref();
  }

  private register(): Promise<void> {
    this.registering ??= this.registerLoop().finally(() => {
      this.registering = undefined;
      for (const m of this.early.splice(0)) this.onTasks(m);
    });
    return this.registering;
  }

  /** Task batches that arrived while registering. */
  private readonly early: TaskBatch[] = [];

  private async registerLoop(): Promise<void> {
    const msg: RegisterExecutor = {
      kind: "executor",
      hello: hello(),
      id: this.opts.id,
      name: this.opts.name,
      worker: this.opts.worker,
      index: this.opts.index,
      nthreads: this.opts.nthreads,
      pid: process.pid,
    };
    for (;;) {
      if (this.stopped) return;
      try {
        const r = await this.tx.request<RegisterReply>(this.subjects.register, msg, 2000);
        if (!r.ok) throw Object.assign(new Error(r.message), { code: r.code, refused: true });
        this.adoptScheduler(r.scheduler);
        this.heartbeatMs = r.heartbeatMs;
        // Uploads so far (a late joiner, a restart): unpacked before any task runs here.
        if (r.uploads?.length) {
          const done = await this.onUpload(r.uploads);
          if (!done.ok) this.log.warn(`could not unpack the cluster's uploads: ${done.error}`);
        }
        return;
      } catch (e) {
        if ((e as { refused?: boolean }).refused) throw e;
        if (!Transport.isNoAnswer(e)) this.log.warn(`register failed: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  /** A different scheduler than the one that assigned our queue: that queue is nobody's now. */
  private adoptScheduler(instance: string) {
    if (this.scheduler && this.scheduler !== instance) {
      const n = this.runner.clear();
      if (n) this.log.info(`scheduler restarted: dropped ${n} queued task(s); their clients re-submit them`);
    }
    this.scheduler = instance;
    this.out.sched = instance;
  }

  private onSchedulerAlive(m: SchedulerAlive) {
    if (this.scheduler && m.instance !== this.scheduler && !this.registering) void this.register().catch((e) => this.fatal(e));
  }

  /**
   * Graceful stop: start nothing new, hand the queued tasks back to the scheduler, finish the
   * running ones. Resolves when nothing runs any more.
   */
  retire(): Promise<void> {
    this.runner.paused = true;
    const returned = this.runner.steal(Number.MAX_SAFE_INTEGER);
    for (const m of this.early.splice(0)) for (const g of m.groups) returned.push(...g.slots);
    const msg: Retire = { exec: this.opts.id, sched: this.scheduler, returned: Uint32Array.from(returned) };
    try {
      this.tx.send(this.subjects.retire, msg);
    } catch (e) {
      this.log.warn(`retire: ${(e as Error).message}`);
    }
    this.out.flush();
    const idle = this.runner.running === 0 ? Promise.resolve() : new Promise<void>((resolve) => (this.runner.onIdle = resolve));
    // Large results still on their way to the scheduler complete before the process goes.
    return idle.then(() => this.out.whenStored()).then(() => this.out.flush());
  }

  /**
   * Tells the scheduler what this executor holds after a connection loss: tasks assigned to it
   * that it never received are re-queued. Finished results go out first.
   */
  private resync() {
    if (!this.scheduler || this.stopped) return;
    this.out.flush();
    const held = [...this.runner.held(), ...this.out.storing];
    for (const m of this.early) for (const g of m.groups) held.push(...g.slots);
    const msg: Resync = { exec: this.opts.id, sched: this.scheduler, held: Uint32Array.from(held) };
    try {
      this.tx.send(this.subjects.resync, msg);
    } catch (e) {
      this.log.warn(`resync: ${(e as Error).message}`);
    }
  }

  private fatal(e: unknown) {
    this.log.warn(`cannot register: ${(e as Error).message}`);
    process.exitCode = 3;
    void this.stop();
  }

  private heartbeat() {
    const hb: Heartbeat = { id: this.opts.id, kind: "executor", running: this.runner.running, queued: this.runner.queued, rss: process.memoryUsage.rss(), paused: this.runner.paused, dataFetches: this.data.fetches, dataBytes: this.data.bytesFetched, dataPushed: this.data.pushed, ...vitals(this.tx) };
    this.tx.send(this.subjects.heartbeat, hb);
  }

  // --- exec.<id>.tasks ------------------------------------------------------------------------
  private onTasks(m: TaskBatch) {
    // Tasks may arrive in the same socket read as the register reply, before we have read it.
    if (this.registering) return void this.early.push(m);
    if (m.sched !== this.scheduler) return; // from a scheduler we no longer serve
    for (const d of m.mods ?? []) this.mods.set(d.hash, d);
    for (const f of m.fns ?? []) if (!this.fns.has(f.hash)) this.fns.set(f.hash, this.load(f));
    if (this.failedLoads.size) for (const g of m.groups) this.retryLoad(g.fn);
    // DataRefs are rare: only walk the arguments when the decoder saw one.
    const refs = refStats.decoded !== this.refsSeen ? this.data.resolve(m.groups) : undefined;
    this.refsSeen = refStats.decoded;
    const waits = refs !== undefined || m.groups.some((g) => this.fns.get(g.fn) instanceof Promise) || this.chained > 0;
    if (!waits) {
      for (const g of m.groups) this.runner.enqueue(g, this.fnFor(g.fn));
      return this.runner.kick();
    }
    // Keep arrival order: this batch and every later one wait for pending imports and data.
    this.chained++;
    this.chain = this.chain.then(async () => {
      const dataError = await refs?.then(
        () => undefined,
        (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
      );
      for (const g of m.groups) {
        const f = this.fns.get(g.fn);
        this.runner.enqueue(g, dataError ?? (f instanceof Promise ? await f : this.fnFor(g.fn)));
      }
      this.chained--;
      this.runner.kick();
    });
  }

  private onControl(m: ExecControl, reply: string | undefined) {
    if (m.op === "reregister") void this.register().catch((e) => this.fatal(e));
    else if (m.op === "resync") this.resync();
    else if (m.op === "restart") void this.stop().then(() => this.opts.onRestart?.());
    else if (m.op === "recycle") void this.recycle();
    else if (m.op === "prefetch" && m.hash) void this.data.fetch(m.hash).catch((e) => this.log.warn((e as Error).message));
    else if (m.op === "listen" && m.hash && m.size !== undefined && m.chunks) {
      void this.data.listen(m.hash, m.size, m.chunks).then(
        () => this.respond(reply, { ok: true }),
        (e) => this.log.warn((e as Error).message),
      );
    }
  }

  /** Makes uploads current here (exec.<id>.upload, and at registration). */
  private async onUpload(defs: UploadDef[]): Promise<ExecUploadReply> {
    try {
      return { ok: true, ...(await this.uploads.apply(defs)) };
    } catch (e) {
      return { ok: false, error: (e as Error).message };
    }
  }

  private recycling = false;

  /**
   * A graceful restart (after an upload replaced a version this process may hold in memory):
   * queued tasks go back to the scheduler, running ones finish, then the process exits and its
   * supervisor starts a fresh one, as for client.restart().
   */
  private async recycle() {
    if (this.recycling || this.stopped) return;
    this.recycling = true;
    this.log.info("recycling: a newer upload replaced a version this process may have loaded");
    await this.retire();
    await this.stop();
    this.opts.onRestart?.();
  }

  /** client.run(): runs a function now, outside the task queue, and answers with its value. */
  private async onRun(m: RunRequest): Promise<RunReply> {
    if (m.module) this.mods.set(m.module.hash, m.module);
    if (!this.fns.has(m.fn.hash)) this.fns.set(m.fn.hash, this.load(m.fn));
    this.retryLoad(m.fn.hash);
    try {
      const fn = await this.fns.get(m.fn.hash)!;
      if (fn instanceof Error) throw fn;
      const value = await (fn as (...a: unknown[]) => unknown)(...m.args);
      encode(value); // fails here, with a clear error, rather than in respond()
      return { ok: true, value };
    } catch (e) {
      return { ok: false, error: errorInfo(e, "") };
    }
  }

  private fnFor(hash: string): LoadedFn {
    const f = this.fns.get(hash);
    if (f === undefined) return new Error(`function ${hash.slice(0, 12)} was never sent to this executor`);
    return f as LoadedFn;
  }

  /**
   * A module that failed to load is tried again (once per batch) rather than failing every later
   * task: `client.install()` may have added the package it missed.
   */
  private retryLoad(hash: string) {
    const def = this.failedLoads.get(hash);
    if (!def) return;
    this.failedLoads.delete(hash);
    this.fns.set(hash, this.load(def));
  }

  private load(def: FnDef): LoadedFn | Promise<LoadedFn> {
    if (def.kind === "src") {
      try {
        return compileSource(def);
      } catch (e) {
        return e as Error;
      }
    }
    const mod = this.mods.get(def.module);
    if (!mod) return new Error(`module ${def.module.slice(0, 12)} was never sent to this executor`);
    const p = loadModule(mod, this.opts.localDirectory).then(
      (ns): LoadedFn => {
        const f = ns[def.exportName];
        const loaded = typeof f === "function" ? f : new Error(`export '${def.exportName}' of ${mod.file} is not a function`);
        this.fns.set(def.hash, loaded);
        return loaded;
      },
      (e: unknown): LoadedFn => {
        const err = e instanceof Error ? e : new Error(String(e));
        this.fns.set(def.hash, err);
        this.failedLoads.set(def.hash, def);
        return err;
      },
    );
    return p;
  }

  /** Stops taking work, flushes what is finished, says goodbye and closes the connection. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.heartbeatTimer);
    this.runner.paused = true;
    this.out.flush();
    try {
      this.tx.send(this.subjects.bye, { id: this.opts.id, kind: "executor" });
    } catch {
      /* connection already gone */
    }
    this.stopListening();
    this.data.stop();
    await this.tx.close();
  }
}
