/**
 * The executor actor: one per child process, with its own NATS connection. It runs user code.
 * Its handlers are the `this.serve(routes.…)` lines of start() (and the data cache's
 * `routes.dataPush`, the actor host's `routes.actorCalls`: user actors, actor-host.ts, issue 14);
 * the route table in runtime/routes.ts says who sends each.
 * It registers with the scheduler (and again whenever the scheduler restarts or forgets it),
 * heartbeats, and sends results and completions through the Outbox. Its lifecycle (registering,
 * retiring, recycling, memory pause, the import chain, stopped) is executor.machine.ts; the code it
 * loads (task, actor and client.run() functions) is functions.ts.
 */
import { createActor, type ActorRefFrom } from "xstate";
import { Actor, type Logger, type Reply } from "../../runtime/actor.ts";
import { routes } from "../../runtime/routes.ts";
import type { ExecUploadReply, UploadDef, Resync, Retire, RunReply, RunRequest, ExecControl, Heartbeat, ListenReply, RegisterExecutor, RegisterReply, SchedulerAlive, TaskBatch } from "../../runtime/protocol.ts";
import { Transport } from "../../runtime/transport.ts";
import { hello } from "../../runtime/version.ts";
import { everyBeat } from "../../runtime/beat-clock.ts";
import { forwardTaskConsole } from "./console.ts";
import { Outbox } from "./outbox.ts";
import type { Markers } from "./markers.ts";
import { DataCache } from "./data-cache.ts";
import { refStats } from "../../runtime/data-ref.ts";
import { errorInfo, packArgs, Runner } from "./runner.ts";
import { encode } from "../../runtime/codec.ts";
import { vitals } from "./vitals.ts";
import { Uploads } from "./uploads.ts";
import { getBytes } from "../../runtime/data-transfer.ts";
import { Errors, TsDaskError } from "../../runtime/errors.ts";
import { SchedulerWatch } from "../../runtime/scheduler-watch.ts";
import { actorSubjects, type Bound } from "../../runtime/protocol.ts";
import { openGroup, type RunGroup } from "./run-group.ts";
import { ActorHost } from "./actor-host.ts";
import { FunctionCache } from "./functions.ts";
import { chained, executorLifeMachine, registered, runnerPaused, stopped, type ExecutorLifeSnapshot } from "./executor.machine.ts";

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

/** The longest the scheduler goes without this executor's figures (running, queued, memory, CPU). */
const FULL_BEAT_MS = 2000;
/** Wait after an unanswered registration before asking again. */
const REGISTER_RETRY_MS = 250;
/**
 * How long after a registration this executor beats at the scheduler's period itself: by then its
 * supervisor (registered too, and beating every period) has vouched for it, and our own beats only
 * carry figures. A supervisor re-registering after a scheduler restart takes up to its 1 s retry.
 */
const VOUCHED_AFTER_MS = 5000;

export class Executor extends Actor {
  readonly runner: Runner;
  private readonly out: Outbox;
  /** The task, actor and client.run() functions loaded here (functions.ts). */
  private readonly code: FunctionCache;
  private scheduler = "";
  /** Our registration's token: orders without it are not from our scheduler (protocol.ts Bound). */
  private auth = "";
  /** The last task batch's number: an older one is a replay, dropped (a replay must not add work). */
  private lastSeq = 0;
  /** Orders dropped as not from our scheduler (reported in heartbeats). */
  forged = 0;
  /** Which scheduler we follow; a rival's beats are ignored while ours lives. */
  private readonly watch = new SchedulerWatch(3000);
  /** Groups waiting (in `chain`) for an import or data before they reach the runner. */
  private readonly waiting = new Set<RunGroup[]>();
  private heartbeatMs = 500;
  /** Stops the heartbeat's beat (runtime/beat-clock.ts), while one runs. */
  private heartbeatTimer: (() => void) | undefined;
  /** Its lifecycle (executor.machine.ts); the fields below are read from its snapshots. */
  private readonly life: ActorRefFrom<typeof executorLifeMachine>;
  /** Task batches are accepted (not held in {@link early}): registered. */
  private accepting = false;
  /** Batches wait in {@link chain}: a new one queues behind them. */
  private chainedNow = false;
  /** start()'s wait for the first registration. */
  private firstRegistration: { resolve: () => void; reject: (e: Error) => void } | undefined;
  /** Batches that wait for a module import; later batches queue behind them to keep order. */
  private chain: Promise<void> = Promise.resolve();
  readonly data: DataCache;
  /** Uploaded modules and packages (client.uploadFile). */
  readonly uploads: Uploads;
  private refsSeen = refStats.decoded;
  /** User actors hosted here (actor-host.ts). */
  readonly actors: ActorHost;

  constructor(tx: Transport, readonly opts: ExecutorOptions) {
    super(tx, opts.cluster, opts.log);
    this.out = new Outbox(tx, this.subjects, opts.id, opts.name);
    this.code = new FunctionCache(opts.localDirectory, `executor ${opts.name}`);
    if (opts.forwardConsole !== false) this.out.beforeFlush = forwardTaskConsole(tx, this.subjects, opts.name);
    this.runner = new Runner(opts.nthreads, this.out, opts.name, opts.markers);
    this.life = createActor(executorLifeMachine.provide({ actions: { askScheduler: () => void this.askScheduler() } }), { input: { retryMs: REGISTER_RETRY_MS } });
    this.life.subscribe((snap) => this.lifeChanged(snap));
    this.life.start();
    // Reads of stored values carry our id and token; bytes that do not match their hash are counted as forged.
    const as = () => ({ exec: opts.id, auth: this.auth });
    const onCorrupt = () => {
      this.forged++;
      this.dropped("data: bytes that do not match their hash");
    };
    this.data = new DataCache(tx, this.subjects, opts.name, (hash, handler) => this.serve(routes.dataPush.at(hash), handler), as, onCorrupt);
    const as_ = actorSubjects(opts.cluster);
    this.actors = new ActorHost({
      tx,
      subjects: as_,
      execId: opts.id,
      execName: opts.name,
      auth: () => this.auth,
      load: async (def, mod) => {
        if (mod) this.code.addModule(mod);
        return this.code.load(def);
      },
      listen: (actorId, handler) => this.serve(routes.actorCalls.at(actorId), handler),
      forged: (kind) => {
        this.forged++;
        this.dropped(`${kind}: without the actor's key`);
      },
      log: opts.log,
    });
    this.uploads = new Uploads(opts.localDirectory, (hash) => getBytes(tx, this.subjects.dataGet, hash, { as, onCorrupt, fail: (m) => Errors.DataUnavailable(hash, opts.name, m) }));
  }

  /** Subscribes, registers with the scheduler (retrying until one answers) and starts heartbeats. */
  async start(): Promise<void> {
    const id = this.opts.id;
    this.serve(routes.execTasks.at(id), (m) => this.onTasks(m));
    this.serve(routes.execCancel.at(id), (m) => this.bound("cancel", m) && this.runner.cancel(m.slots, m.keys));
    // Stolen tasks go back only to our scheduler (it re-queues them); anyone else gets nothing.
    this.serve(routes.execSteal.at(id), (m, reply) => this.bound("steal", m) && this.inSequence("steal", m.seq) && this.respond(reply, { slots: Uint32Array.from(this.runner.steal(m.max)), auth: this.auth }));
    // client.run(): forwarded by our scheduler with our token (a stranger's code never runs here).
    this.serve(routes.execRun.at(id), (m, reply) => this.whenRegistered(() => this.bound("run", m) && void this.onRun(m).then((r) => this.respond(reply, r))));
    this.serve(routes.execControl.at(id), (m, reply) => this.onControl(m, reply));
    this.serve(routes.execUpload.at(id), (m, reply) =>
      this.whenRegistered(
        () =>
          this.bound("upload", m) &&
          void this.onUpload(m.uploads).then((r) => {
            // Failed because this process is closing its connection (recycled by the upload before, retiring,
            // stopping): no answer. The scheduler counts an executor that leaves as left, not failed, and
            // its replacement gets the upload when it registers.
            if (r.ok) return this.respond(reply, r);
            if (!r.closing) this.respond(reply, { ok: false, error: r.error });
          }),
      ),
    );
    this.serve(routes.alive, (m) => this.onSchedulerAlive(m));
    this.serve(routes.execActor.at(id), (m, reply) => this.whenRegistered(() => this.bound("actor", m) && void this.actors.onExec(m).then((r) => this.respond(reply, r))));
    const first = new Promise<void>((resolve, reject) => (this.firstRegistration = { resolve, reject }));
    this.life.send({ type: "REGISTER" });
    await first;
    if (stopped(this.life.getSnapshot())) return;
    this.tx.onStatus((st) => st === "reconnected" && this.resync());
    this.beatEvery(this.heartbeatMs);
  }

  /** After each step of its lifecycle: what the hot paths and the runner read. */
  private lifeChanged(snap: ExecutorLifeSnapshot) {
    this.accepting = registered(snap);
    this.chainedNow = chained(snap);
    const paused = runnerPaused(snap);
    if (paused === this.runner.paused) return;
    this.runner.paused = paused;
    if (!paused) this.runner.soon();
  }

  /**
   * Runs `f` now, or once the registration under way is answered: an order the scheduler sent
   * right after its reply (a `client.runOn` the moment we joined, a broadcast's prefetch) can be
   * read in the same socket read, before that reply, and our token is not known until then.
   */
  private whenRegistered(f: () => unknown): void {
    if (this.accepting) f();
    else this.earlyOrders.push(f);
  }
  /** Orders (run, upload, actor, control) that arrived while registering, in arrival order. */
  private readonly earlyOrders: (() => unknown)[] = [];

  /** Task batches that arrived while registering (their groups opened), each with whether its decoding met DataRefs. */
  private readonly early: { m: TaskBatch; groups: RunGroup[]; refs: boolean }[] = [];

  /** One registration attempt (the machine's askScheduler): ANSWERED, NO_ANSWER (retried) or REFUSED. */
  private async askScheduler(): Promise<void> {
    const msg: RegisterExecutor = {
      kind: "executor",
      hello: hello(),
      id: this.opts.id,
      name: this.opts.name,
      worker: this.opts.worker,
      index: this.opts.index,
      nthreads: this.opts.nthreads,
      pid: process.pid,
      ...(this.auth ? { auth: this.auth } : {}),
      nats: this.tx.node,
    };
    let r: RegisterReply;
    try {
      // Any peer may answer: once we follow a scheduler, only its answer (or, after its silence, a new one's) counts.
      r = await this.tx.requestWhere<RegisterReply>(this.subjects.register, msg, 2000, (r) => (r?.ok === true ? this.watch.accepts(r.scheduler) : !this.watch.current));
    } catch (e) {
      if (!Transport.isNoAnswer(e)) this.log.warn(`register failed: ${(e as Error).message}`);
      return void this.life.send({ type: "NO_ANSWER" });
    }
    if (stopped(this.life.getSnapshot())) return;
    if (!r.ok) {
      // A held registration is retried (its holder may be our own earlier self); anything else is final.
      if (r.code === "RegistrationHeld") {
        this.log.warn(`register failed: ${r.message}`);
        return void this.life.send({ type: "NO_ANSWER" });
      }
      this.life.send({ type: "REFUSED", message: r.message });
      const e = new TsDaskError(r.code, r.message);
      if (this.firstRegistration) return this.firstRegistration.reject(e);
      return this.fatal(e);
    }
    this.adoptScheduler(r.scheduler, r.auth ?? "");
    this.heartbeatMs = r.heartbeatMs;
    this.registeredAt = performance.now();
    this.watch.heartbeat(r.heartbeatMs);
    // A beat with the token at once: the scheduler sends us work only once we have used it.
    this.heartbeat(true);
    // Uploads so far (a late joiner, a restart): unpacked before any task runs here.
    if (r.uploads?.length) {
      const done = await this.onUpload(r.uploads);
      if (!done.ok) this.log.warn(`could not unpack the cluster's uploads: ${done.error}`);
    }
    this.life.send({ type: "ANSWERED" });
    if (!this.accepting) return; // stopped meanwhile
    // After the transition: each replayed batch sees the chain the one before it left.
    for (const e of this.early.splice(0)) this.accept(e.m, e.groups, e.refs);
    for (const f of this.earlyOrders.splice(0)) f();
    const first = this.firstRegistration;
    this.firstRegistration = undefined;
    first?.resolve();
  }

  /** A different scheduler than the one that assigned our queue: that queue is nobody's now. */
  private adoptScheduler(instance: string, auth: string) {
    if (this.scheduler && this.scheduler !== instance) {
      // The new scheduler knows nothing of the actors hosted here: they end (their clients are told by theirs).
      if (this.actors.size) this.actors.stopAll("the scheduler restarted");
      const n = this.runner.clear();
      if (n) this.log.info(`scheduler restarted: dropped ${n} queued task(s); their clients re-submit them`);
    } else if (this.auth && this.auth !== auth) {
      // A new registration with the same scheduler: it re-queued what the old one held.
      const n = this.runner.clear();
      if (n) this.log.info(`registered again: dropped ${n} queued task(s) the scheduler has re-queued`);
    }
    if (auth !== this.auth) this.lastSeq = 0;
    this.scheduler = instance;
    this.auth = auth;
    this.watch.adopt(instance);
    this.out.sched = instance;
    this.out.auth = auth;
  }

  /** Whether an order carries our registration's token; if not it is dropped and counted. */
  private bound(kind: string, m: Bound): boolean {
    if (this.auth && m.auth === this.auth) return true;
    this.forged++;
    this.dropped(`${kind}: not from our scheduler`);
    return false;
  }

  /** Batches and steals are numbered in one sequence per registration: an older number is a replay. */
  private inSequence(kind: string, seq: number | undefined): boolean {
    if (typeof seq !== "number") return true;
    if (seq > this.lastSeq) {
      this.lastSeq = seq;
      return true;
    }
    this.forged++;
    this.dropped(`${kind}: replayed`);
    return false;
  }

  private onSchedulerAlive(m: SchedulerAlive) {
    // Ignored while an attempt is under way (the machine's `asking`).
    if (this.watch.alive(m.instance) === "new" && this.scheduler) this.life.send({ type: "REGISTER" });
  }

  /**
   * Graceful stop: start nothing new, hand the queued tasks back to the scheduler, finish the
   * running ones. Resolves when nothing runs any more.
   */
  retire(): Promise<void> {
    this.life.send({ type: "RETIRE" });
    const returned = this.runner.steal(Number.MAX_SAFE_INTEGER);
    for (const { m } of this.early.splice(0)) for (const g of m.groups) returned.push(...g.slots);
    const msg: Retire = { exec: this.opts.id, sched: this.scheduler, auth: this.auth, returned: Uint32Array.from(returned) };
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

  /** Its supervisor's memory pause: nothing new starts until {@link resume} (a retire is not undone by it). */
  pause(): void {
    this.life.send({ type: "PAUSE" });
  }

  resume(): void {
    this.life.send({ type: "RESUME" });
  }

  /**
   * Tells the scheduler what this executor holds after a connection loss: tasks assigned to it
   * that it never received are re-queued. Finished results go out first.
   */
  private resync(nonce?: number) {
    if (!this.scheduler || stopped(this.life.getSnapshot())) return;
    this.out.flush();
    const held = [...this.runner.held(), ...this.out.storing];
    for (const { m } of this.early) for (const g of m.groups) held.push(...g.slots);
    for (const gs of this.waiting) for (const g of gs) held.push(...g.slots);
    const msg: Resync = { exec: this.opts.id, sched: this.scheduler, auth: this.auth, held: Uint32Array.from(held), ...(nonce !== undefined ? { nonce } : {}) };
    try {
      this.tx.send(this.subjects.resync, msg);
    } catch (e) {
      this.log.warn(`resync: ${(e as Error).message}`);
    }
  }

  private fatal(e: Error) {
    this.log.warn(`cannot register: ${(e as Error).message}`);
    process.exitCode = 3;
    void this.stop();
  }

  /** When the last heartbeat left (performance.now()). */
  private lastBeat = -Infinity;
  /** When the last registration was accepted (performance.now()). */
  private registeredAt = -Infinity;

  /** (Re)starts the heartbeat timer at `ms` (an idle process should not wake more often than it beats). */
  private beatEvery(ms: number) {
    if (this.heartbeatTimer && this.beatPeriod === ms) return;
    this.heartbeatTimer?.();
    this.beatPeriod = ms;
    // On the wall clock's grid: with the scheduler's beat and the other executors' (beat-clock.ts).
    this.heartbeatTimer = everyBeat(ms, this.beatFn);
  }
  private beatPeriod = 0;
  private readonly beatFn = () => this.heartbeat();

  /** Beats now: what the dashboard shows changed (paused for memory, resumed). */
  beatNow(): void {
    if (this.registeredAt > -Infinity && !stopped(this.life.getSnapshot())) this.heartbeat(true);
  }

  /**
   * Liveness and figures for the scheduler. Its supervisor's heartbeat, every `heartbeatMs`, vouches
   * for this process (one busy in a long synchronous task cannot beat, but it is not dead), and so
   * does every completion message: once {@link VOUCHED_AFTER_MS} have passed since registering, we
   * beat only every {@link FULL_BEAT_MS}, for the dashboard's figures; before that, every
   * `heartbeatMs` unless a completion message left meanwhile. Every message wakes nats-server and
   * the scheduler, on cores that are running tasks: an idle executor beating every 500 ms cost the
   * cluster ~1 ms of CPU per beat on the measuring VM.
   */
  private heartbeat(force = false) {
    const now = performance.now();
    const vouched = now - this.registeredAt > VOUCHED_AFTER_MS;
    if (this.heartbeatTimer) this.beatEvery(vouched ? FULL_BEAT_MS : this.heartbeatMs);
    if (!force) {
      if (vouched ? now - this.lastBeat < FULL_BEAT_MS / 2 : now - this.out.lastDoneAt < this.heartbeatMs && now - this.lastBeat < FULL_BEAT_MS) return;
    }
    this.lastBeat = now;
    const hb: Heartbeat = { id: this.opts.id, kind: "executor", auth: this.auth, ...(this.scheduler ? { sched: this.scheduler } : {}), ...(this.forged ? { forged: this.forged } : {}), running: this.runner.running, queued: this.runner.queued, rss: process.memoryUsage.rss(), paused: this.runner.paused, dataFetches: this.data.fetches, dataBytes: this.data.bytesFetched, dataPushed: this.data.pushed, nats: this.tx.node, cached: this.cached, ...vitals(this.tx) };
    const actors = this.actors.counts();
    if (actors) hb.actors = actors;
    this.tx.send(this.subjects.heartbeat, hb);
  }

  // --- exec.<id>.tasks ------------------------------------------------------------------------
  /** Task batches received so far (an executor's warm-up, warmup.ts, stops at the first). */
  batches = 0;

  private onTasks(m: TaskBatch) {
    this.batches++;
    // The rows' arguments decode here, one decode per group (the scheduler passed the client's bytes on).
    const groups = m.groups.map(openGroup);
    // DataRefs are rare: only walk the arguments when the decoder met one. Read now, right after
    // the arguments were decoded: the count is process-wide, so a batch handled later (below) must
    // carry its own answer.
    const refs = refStats.decoded !== this.refsSeen;
    this.refsSeen = refStats.decoded;
    // Tasks may arrive in the same socket read as the register reply, before we have read it.
    if (!this.accepting) return void this.early.push({ m, groups, refs });
    this.accept(m, groups, refs);
  }

  private accept(m: TaskBatch, groups: RunGroup[], hasRefs: boolean) {
    if (m.sched !== this.scheduler) return; // from a scheduler we no longer serve
    if (!this.bound("tasks", m) || !this.inSequence("tasks", m.seq)) return;
    this.code.add(m.mods, m.fns, groups);
    packArgs(groups);
    const refs = hasRefs ? this.data.resolve(groups) : undefined;
    const waits = refs !== undefined || groups.some((g) => this.code.loading(g.fn)) || this.chainedNow;
    if (!waits) {
      for (const g of groups) this.runner.enqueue(g, g.error ?? this.code.now(g.fn));
      return this.runner.kick();
    }
    // Keep arrival order: this batch and every later one wait for pending imports and data.
    this.life.send({ type: "CHAIN" });
    this.waiting.add(groups);
    this.chain = this.chain.then(async () => {
      const dataError = await refs?.then(
        () => undefined,
        (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
      );
      for (const g of groups) {
        const f = this.code.get(g.fn);
        this.runner.enqueue(g, g.error ?? dataError ?? (f instanceof Promise ? await f : f));
      }
      this.waiting.delete(groups);
      this.life.send({ type: "UNCHAIN" });
      this.runner.kick();
    });
  }

  private onControl(m: ExecControl, reply: Reply<ListenReply> | undefined) {
    // `reregister` needs no token (a scheduler that forgot us has none): it only makes us ask ours.
    if (m.op === "reregister") return void this.life.send({ type: "REGISTER" });
    if (!this.accepting) return void this.earlyOrders.push(() => this.onControl(m, reply));
    if (!this.bound(`control ${m.op}`, m)) return;
    if (m.op === "resync") this.resync(typeof m.nonce === "number" ? m.nonce : undefined);
    else if (m.op === "restart") void this.stop().then(() => this.opts.onRestart?.());
    else if (m.op === "recycle") void this.recycle();
    else if (m.op === "forget") this.forget(m);
    else if (m.op === "prefetch" && m.hash) void this.data.fetch(m.hash).catch((e) => this.log.warn((e as Error).message));
    else if (m.op === "listen" && m.hash && m.size !== undefined && m.chunks) {
      void this.data.listen(m.hash, m.size, m.chunks, typeof m.drop === "string" ? m.drop : undefined).then(
        (have) => this.respond(reply, (have ? { ok: true, have } : { ok: true }) satisfies ListenReply),
        (e) => this.log.warn((e as Error).message),
      );
    } else if (m.op === "pushed" && m.hash && typeof m.through === "number") void this.data.progress(m.hash, m.through).then(() => this.respond(reply, { ok: true }));
  }

  /** The scheduler forgot definitions (no registered client uses them) and released values for good. */
  private forget(m: ExecControl) {
    this.code.forget(m.fns, m.mods);
    if (Array.isArray(m.data)) this.data.forget(m.data);
  }

  /** Entries held in this process's caches (reported in heartbeats: a long-lived cluster must not grow). */
  get cached(): { fns: number; mods: number; data: number } {
    return { ...this.code.counts, data: this.data.held };
  }

  /** Makes uploads current here (exec.<id>.upload, and at registration). */
  private async onUpload(defs: UploadDef[]): Promise<Extract<ExecUploadReply, { ok: true }> | { ok: false; error: string; closing: boolean }> {
    try {
      return { ok: true, ...(await this.uploads.apply(defs)) };
    } catch (e) {
      return { ok: false, error: (e as Error).message, closing: Transport.isRequestClosed(e) };
    }
  }

  /**
   * A graceful restart (after an upload replaced a version this process may hold in memory):
   * queued tasks go back to the scheduler, running ones finish, then the process exits and its
   * supervisor starts a fresh one, as for client.restart().
   */
  private async recycle() {
    if (!this.life.getSnapshot().can({ type: "RECYCLE" })) return;
    this.life.send({ type: "RECYCLE" });
    this.log.info("recycling: a newer upload replaced a version this process may have loaded");
    await this.retire();
    await this.stop();
    this.opts.onRestart?.();
  }

  /** client.run(): runs a function now, outside the task queue, and answers with its value. */
  private async onRun(m: RunRequest): Promise<RunReply> {
    try {
      const fn = await this.code.forRun(m.fn, m.module);
      if (fn instanceof Error) throw fn;
      const value = await (fn as (...a: unknown[]) => unknown)(...m.args);
      encode(value); // fails here, with a clear error, rather than in respond()
      return { ok: true, value };
    } catch (e) {
      return { ok: false, error: errorInfo(e, "") };
    }
  }

  /** Stops taking work, flushes what is finished, says goodbye and closes the connection. */
  async stop(): Promise<void> {
    if (stopped(this.life.getSnapshot())) return;
    this.life.send({ type: "STOP" });
    // A start() still waiting returns (as a registration loop told to stop did).
    this.firstRegistration?.resolve();
    this.firstRegistration = undefined;
    this.heartbeatTimer?.();
    this.heartbeatTimer = undefined;
    this.out.flush();
    this.actors.stopAll("its executor stopped");
    try {
      this.tx.send(this.subjects.bye, { id: this.opts.id, kind: "executor", auth: this.auth });
    } catch {
      /* connection already gone */
    }
    this.stopListening();
    this.watch.stop();
    this.data.stop();
    await this.tx.close();
  }
}
