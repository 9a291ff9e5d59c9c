/**
 * The scheduler actor: owns the task table and the table of workers/executors, places queued
 * tasks on executors in batches, and re-queues the work of executors that die. It never runs
 * user code. One per cluster. Its handlers are the `s.serve(routes.…)` lines of start() (and
 * `routes.dataPush` in data-push.ts); the route table in runtime/routes.ts says who sends each.
 * data.put / data.get / data.release go to the DataStore through DataOwners (caps, per-task owners);
 * sched.upload and sched.install to uploads.ts (replayed to late joiners through the register reply).
 * sched.actor and sched.snapshot go to the ActorTable (actors.ts: user actors, issue 14).
 */
import { hostname } from "node:os";
import { Actor, type Logger, type Reply } from "../../runtime/actor.ts";
import { encode } from "../../runtime/codec.ts";
import { Errors, refusal, remoteError, type TsDaskError } from "../../runtime/errors.ts";
import * as G from "../../runtime/guards.ts";
import { routes } from "../../runtime/routes.ts";
import { randomId } from "../../runtime/ids.ts";
import {
  PROTOCOL_VERSION,
  actorSubjects,
  isClientId,
  type Bye,
  type Cancel,
  type ClusterInfo,
  type Done,
  type DataPut,
  type DataGet,
  type RunReply,
  type RunRequest,
  type FnDef,
  type Heartbeat,
  type Hello,
  type SubmitAck,
  type ModuleDef,
  type Register,
  type Resync,
  type Retire,
  type RestartReply,
  type StealReply,
  type SubmitGroup,
  type RegisterReply,
  type Resources,
  type Submit,
  type TaskBatch,
} from "../../runtime/protocol.ts";
import type { Transport } from "../../runtime/transport.ts";
import { hello, nodeMajor, versionWarning } from "../../runtime/version.ts";
import { defaultPlacement, DurationEstimates, roomFor, windowFor, type PlacementConfig } from "./placement.ts";
import { ASSIGNED, NEEDS, QUEUED, TaskTable, needsKey } from "./tasks.ts";
import { fits, formatResources, hold, needsOf, releaseSlots } from "./resources.ts";
import { ExecutorTable, natsNode, type ExecutorRec } from "./executors.ts";
import { DataStore } from "./data/data-store.ts";
import { DataPushes } from "./data/data-push.ts";
import { DataOwners } from "./data/data-owners.ts";
import { SchedulerRunner } from "./run-on-scheduler.ts";
import { Monitor } from "./observation/monitor.ts";
import { concat, splitBatch, takeBatch, type BatchContext } from "./batches.ts";
import { blame } from "./blame.ts";
import { ClientTable } from "./clients.ts";
import { Definitions } from "./definitions.ts";
import { UploadRegistry } from "./data/uploads.ts";
import { Trust } from "./trust.ts";
import { everyBeat } from "../../runtime/beat-clock.ts";
import { Reconciler } from "./reconcile.ts";
import { StallWatch } from "./stalls.ts";
import { ActorTable } from "./actors.ts";
import type { ActorLifeInput } from "./actor.machine.ts";

/** Work stealing looks at the loaded executors at most this often (ms). */
const BALANCE_MS = 5;

/** A value whose chunks stopped arriving this long ago is dropped (its sender is gone). */
const ABANDONED_VALUE_MS = 120_000;

export interface SchedulerOptions {
  cluster: string;
  /** Executor heartbeat period announced at registration. */
  heartbeatMs?: number;
  /** An executor silent this long is suspect; this plus `deadAfterMs` more, dead. */
  suspectAfterMs?: number;
  deadAfterMs?: number;
  placement?: Partial<PlacementConfig>;
  /** Deaths while running one task before it fails with KilledWorker (default 3). */
  allowedFailures?: number;
  /**
   * A client silent this long (it renews its lease every second) loses its queued work, its running
   * tasks are cancelled and its data released (default 5 s: a script killed with Ctrl-C stops
   * costing the cluster within seconds; a client that was only cut off re-submits when it is back).
   */
  clientGraceMs?: number;
  /** Cap on one stored value (scattered, or a large task argument or result), in bytes. Default 1 GiB. */
  maxValueBytes?: number;
  /** User actors: how long placing one may take, and the wait between attempts (actor.machine.ts). */
  actorLife?: Omit<ActorLifeInput, "restartMax">;
  log: Logger;
}

export class Scheduler extends Actor {
  readonly instance = randomId();
  readonly startedAt = Date.now();
  readonly tasks = new TaskTable();
  readonly executors: ExecutorTable;
  /** Client ids, indices and leases (clients.ts). */
  private readonly clients: ClientTable;
  /** Function and module definitions, kept while a registered client that sent them is (definitions.ts). */
  private readonly defs = new Definitions();
  /** Hashes freed since the last beat (definitions, scattered values), for executors to forget. */
  private forgotten = { fns: [] as string[], mods: [] as string[], data: [] as string[] };
  private readonly estimates = new DurationEstimates();
  /** What batches.ts reads (stable references to the tables above). */
  private readonly batching: BatchContext;
  /** Names of the executors that died while running a slot (only slots that ever did). */
  private readonly deaths = new Map<number, string[]>();
  /** Deaths while running one task before it fails with KilledWorker (Dask's allowed-failures). */
  readonly allowedFailures: number;
  private readonly suspectAfterMs: number;
  private readonly deadAfterMs: number;
  readonly data: DataStore;
  private readonly pushes: DataPushes;
  /** Uploads and installs, replayed to executors and workers that join later. */
  readonly uploads: UploadRegistry;
  /** Caps and per-task owners of the data store's values (large arguments and results). */
  readonly owners: DataOwners;
  private readonly runner: SchedulerRunner;
  private readonly placement: PlacementConfig;
  private readonly heartbeatMs: number;
  private pumpScheduled = false;
  /** When balance() last looked for work to steal, and its deferred next look. */
  private balancedAt = -Infinity;
  private balanceTimer: NodeJS.Timeout | undefined;
  private stopBeat: () => void = () => {};
  /** Dashboard, /metrics and events: fed by one hook call per message (monitor.ts). */
  readonly monitor: Monitor;
  /** Tokens, ticket keys, dropped forgeries, rival schedulers (trust.ts). */
  readonly trust: Trust;
  /** How late the beat runs: the scheduler's own stalls, not counted against leases (stalls.ts). */
  private readonly stalls: StallWatch;
  /** Periodic and on-doubt comparison of what executors hold with what we think (reconcile.ts). */
  private readonly reconciler: Reconciler;
  /** User actors (actors.ts). */
  readonly actors: ActorTable;
  /** Completions for tasks not (or no longer) assigned to the reporter: re-runs after a re-queue. */
  duplicates = 0;
  failed = 0;

  private constructor(tx: Transport, private readonly opts: SchedulerOptions) {
    super(tx, opts.cluster, opts.log);
    this.heartbeatMs = opts.heartbeatMs ?? 500;
    this.allowedFailures = opts.allowedFailures ?? 3;
    this.clients = new ClientTable(opts.clientGraceMs ?? 5_000);
    this.stalls = new StallWatch(this.heartbeatMs);
    this.trust = new Trust(this.instance, opts.log, (e) => this.monitor.emit(e));
    this.batching = { tasks: this.tasks, clientIds: this.clients.ids, gone: (c) => this.clients.isGone(c), instance: this.instance, fns: this.defs.fns, mods: this.defs.mods, tickets: this.trust.tickets };
    // Silence of 2.5 heartbeats makes an executor suspect, 2 more dead: a vanished machine is
    // noticed in ~2.25 s with the default 500 ms heartbeat, and one late beat is forgiven.
    this.suspectAfterMs = opts.suspectAfterMs ?? this.heartbeatMs * 2.5;
    this.deadAfterMs = opts.deadAfterMs ?? this.heartbeatMs * 2;
    this.monitor = new Monitor(this, { fnDef: (h) => this.defs.fns.get(h), log: this.log });
    this.placement = { ...defaultPlacement, ...opts.placement };
    this.data = new DataStore(Math.max(64 * 1024, tx.maxPayload - 4096));
    // Chunks that would have made a value other than its hash (forged or corrupted): never stored.
    this.data.onCorrupt = (hash, why) => this.untrusted(`data ${hash.slice(0, 12)}… (${why}): chunks thrown away`);
    this.data.onDropped = (hash) => this.forgotten.data.push(hash);
    this.data.onComplete = (hash, broadcast) => {
      if (!broadcast) return;
      // Suspect ones too: an executor whose event loop a long task blocks is silent, not gone, and
      // it would otherwise never hear of the value (it was not idle for the push either).
      for (const rec of this.executors.reachable()) this.tx.send(this.subjects.execControl(rec.id), { op: "prefetch", hash, auth: rec.auth });
    };
    this.owners = new DataOwners(this.data, opts.maxValueBytes);
    this.runner = new SchedulerRunner(tx.maxPayload);
    this.pushes = new DataPushes({
      tx,
      subjects: this.subjects,
      knows: (hash) => this.data.knows(hash),
      put: (m) => (this.mayPut(m) ? this.owners.put(m) : (this.untrusted("data.push"), { ok: false, code: "UnknownClient", message: "not bound" })),
      listen: (hash, handler) => this.serve(routes.dataPush.at(hash), handler),
      idleExecutors: () => this.executors.accepting().filter((r) => r.assigned === 0),
    });
    this.executors = new ExecutorTable({
      newToken: () => this.trust.newToken(),
      steal: { request: (v, max) => this.stealRequest(v, max), apply: (v, slots) => this.stealApply(v, slots) },
      subjects: this.subjects,
      suspectAfterMs: this.suspectAfterMs,
      deadAfterMs: this.deadAfterMs,
      coalesceMs: this.heartbeatMs / 2,
      onDead: (rec, reason) => this.executorGone(rec, reason),
    });
    this.uploads = new UploadRegistry(tx, this.subjects, this.data, this.executors, opts.log);
    this.actors = new ActorTable({
      tx,
      subjects: actorSubjects(opts.cluster),
      executors: this.executors,
      data: this.data,
      log: opts.log,
      emit: (e) => this.monitor.emit(e),
      isClient: (id, auth) => this.trust.isRegisteredClient(id, auth),
      untrusted: (kind) => this.untrusted(kind),
      life: opts.actorLife,
    });
    this.reconciler = new Reconciler({
      tasks: this.tasks,
      executors: this.executors,
      ask: (rec, nonce) => this.tx.send(this.subjects.execControl(rec.id), { op: "resync", nonce, auth: rec.auth }),
      requeue: (rec, lost) => {
        rec.assigned -= lost.length;
        releaseSlots(this.tasks, rec.free, lost);
        this.executors.load(rec);
        // What was lost may have carried function definitions: send them again.
        rec.fnsSent.clear();
        rec.modsSent.clear();
        this.tasks.requeueFront(lost);
        this.log.info(`executor ${rec.name} does not hold ${lost.length} task(s) assigned to it: re-queued`);
        this.schedulePump();
      },
    });
  }

  /** Starts a scheduler on `tx`; refuses when another scheduler already serves the cluster. */
  static async start(tx: Transport, opts: SchedulerOptions): Promise<Scheduler> {
    const s = new Scheduler(tx, opts);
    try {
      const other = await tx.request<ClusterInfo>(s.subjects.info, {}, 500);
      throw Errors.SchedulerAlreadyRunning(opts.cluster, `${other.scheduler.host} pid ${other.scheduler.pid}`);
    } catch (e) {
      if (!(e as { code?: string }).code || (e as { code?: string }).code === "SchedulerAlreadyRunning") throw e;
      // No answer: we are the only scheduler.
    }
    s.serve(routes.register, (m, reply) => s.onRegister(m, reply));
    s.serve(routes.submit, (m, reply) => s.onSubmit(m, reply));
    s.serve(routes.done, (m) => s.onDone(m));
    s.serve(routes.cancel, (m) => (s.trust.isClient(m.client, m.auth) ? s.onCancel(m) : s.untrusted("cancel")));
    s.serve(routes.alive, (m) => s.trust.onAlive(m.instance));
    s.serve(routes.heartbeat, (m) => s.onHeartbeat(m));
    s.serve(routes.bye, (m) => s.onBye(m));
    s.serve(routes.resync, (m) => s.onResync(m));
    s.serve(routes.retire, (m) => s.onRetire(m));
    s.serve(routes.restart, (m, reply) => {
      if (!s.trust.isClient(m.client, m.auth)) return s.untrusted("restart");
      const recs = s.executors.running();
      for (const r of recs) {
        if (r.confirmed) s.tx.send(s.subjects.execControl(r.id), { op: "restart", auth: r.auth });
        else r.pendingRestart = true; // it would drop the order now: sent when it confirms
      }
      s.respond(reply, { executors: recs.map((r) => r.id) } satisfies RestartReply);
    });
    tx.onStatus((st) => st === "reconnected" && s.requestResync());
    s.serve(routes.dataPut, (m, reply) => {
      if (s.forDroppedClient(m.client)) return s.respond(reply, refusal(Errors.ClientGone(m.client.split("/")[0]!)));
      if (!s.mayPut(m)) {
        s.untrusted("data.put");
        return s.respond(reply, refusal(Errors.UnknownClient(m.client.split("/")[0]!)));
      }
      // A broadcast within the cap is pushed (data-push.ts); everything else is stored chunk by chunk.
      if (s.pushes.wants(m) && m.size <= s.owners.capFor(m.client)) void s.pushes.prepare(m).then((r) => s.respond(reply, r));
      else s.respond(reply, s.owners.put(m));
    });
    s.serve(routes.dataGet, (m, reply) => {
      if (s.mayGet(m)) return s.respond(reply, s.data.get(m));
      s.untrusted("data.get");
      s.respond(reply, refusal(Errors.NotBound("data.get", "a registered executor's, worker's or owning client's token")));
    });
    s.serve(routes.dataRelease, (m) => (s.trust.isClient(m.client.split("/")[0]!, m.auth) ? s.owners.release(m) : s.untrusted("data.release")));
    s.serve(routes.schedRun, (m, reply) => s.onRun(m, reply));
    s.serve(routes.actorRequest, (m, reply) => s.actors.onRequest(m, reply));
    s.serve(routes.actorSnapshot, (m) => s.actors.onSnapshot(m));
    // Uploads and installs reach every executor and worker: only a registered client's, with its token.
    s.serve(routes.upload, (m, reply) => (s.trust.isClient(m.client, m.auth) ? void s.uploads.onUpload(m).then((r) => s.respond(reply, r)) : s.untrusted("upload")));
    s.serve(routes.install, (m, reply) => (s.trust.isClient(m.client, m.auth) ? void s.uploads.onInstall(m).then((r) => s.respond(reply, r)) : s.untrusted("install")));
    s.serve(routes.info, (m, reply) => {
      if (m.gc === true) {
        const t0 = performance.now();
        (globalThis as { gc?: () => void }).gc?.();
        s.stalls.excuse(performance.now() - t0);
      }
      s.respond(reply, s.info());
    });
    // On the process's shared beat: with a supervisor in the same process (`up`, embedded) its
    // heartbeat and our `alive` leave in the same wake-up.
    s.stopBeat = everyBeat(s.heartbeatMs, () => {
      s.announce();
      const late = s.stalls.beat();
      if (late >= s.heartbeatMs / 2) s.clients.pause(late);
      s.expireLeases();
      s.sweepClients();
      s.tellForgotten();
      s.data.sweepAbandoned(ABANDONED_VALUE_MS);
      // The same instant for both: a dead worker is reported (and kept as gone) before the sweep forgets it.
      const judgeWorkers = () => {
        const now = Date.now();
        s.monitor.checkWorkers(now);
        s.executors.sweepWorkers(now);
      };
      // A beat this late means we stalled (a long GC, a starved process): the workers' heartbeats
      // of that time wait unread in our socket. Judge their silence after this turn's reads, not
      // before (timers run before I/O in each turn of the event loop): "worker died: silent for
      // 2.4 s" was reported for a live embedded worker when its host process stalled.
      if (late >= s.heartbeatMs / 2) setImmediate(judgeWorkers);
      else judgeWorkers();
      s.reconciler.tick();
      s.trust.tick();
    });
    s.monitor.start();
    s.announce();
    await tx.flush();
    return s;
  }

  async stop(): Promise<void> {
    this.stopBeat();
    clearTimeout(this.balanceTimer);
    this.monitor.stop();
    this.pushes.stop();
    this.executors.stopAll();
    this.actors.stop();
    this.stopListening();
    this.runner.stop();
    await this.tx.flush().catch(() => {});
  }

  private announce() {
    this.tx.send(this.subjects.alive, { instance: this.instance, heartbeatMs: this.heartbeatMs });
  }

  // --- sched.register -------------------------------------------------------------------------
  private onRegister(m: { hello: Hello }, reply: Reply<RegisterReply> | undefined) {
    const ours = hello();
    if (m.hello.proto !== PROTOCOL_VERSION) {
      const who = (m as { kind?: string }).kind === "executor" ? "This executor" : (m as { kind?: string }).kind === "client" ? "This client" : "This worker";
      const e = Errors.ProtocolMismatch(who, m.hello.proto, PROTOCOL_VERSION, m.hello.version, ours.version);
      this.log.warn(`refused ${(m as { name?: string }).name ?? (m as { id?: string }).id ?? "a peer"}: ${e.message}`);
      return this.respond(reply, { ok: false, code: e.code, message: e.message } satisfies RegisterReply);
    }
    if (!G.isRegister(m)) return this.dropped("register: unexpected shape");
    const ok: RegisterReply = { ok: true, scheduler: this.instance, heartbeatMs: this.heartbeatMs, hello: ours };
    const mismatch = versionWarning(`${m.kind} ${"name" in m ? m.name : m.id}`, m.hello, ours);
    if (mismatch) this.log.warn(mismatch);
    if (nodeMajor(m.hello.node) !== nodeMajor(ours.node)) {
      this.log.warn(`${m.kind} ${"name" in m ? m.name : m.id} runs Node ${m.hello.node}, the scheduler Node ${ours.node}: results may differ.`);
    }
    switch (m.kind) {
      case "client": {
        // Its id becomes a subject token or two (results.<id>): nothing else, no wildcards.
        if (!isClientId(m.id)) return this.dropped("register: client id is not one or two subject tokens");
        if (!this.trust.registerClient(m, this.clients.indexOf(m.id))) {
          this.untrusted("register: client id held by another token");
          const e = Errors.ClientIdTaken(m.id);
          return this.respond(reply, { ok: false, code: e.code, message: e.message } satisfies RegisterReply);
        }
        const fresh = this.clients.renew(m.id, Date.now(), natsNode(m.nats));
        this.owners.setClientCap(m.id, m.maxValueBytes);
        const held = this.tasks.live[this.clients.indexOf(m.id)] ?? 0;
        return this.respond(reply, { ...ok, fresh, leaseMs: this.clients.graceMs, held });
      }
      case "worker": {
        const refused = this.executors.addWorker(m);
        if (refused) return this.respond(reply, { ok: false, code: refused.code, message: refused.message } satisfies RegisterReply);
        this.log.info(`worker ${m.name} joined from ${m.host} (${m.nprocs} × ${m.nthreads} threads)`);
        this.monitor.workerJoined(m);
        return this.respond(reply, { ...ok, auth: this.executors.workerAuth(m.instance), ...this.uploads.replayFor("worker") });
      }
      case "executor": {
        const known = this.executors.byId(m.id);
        if (known && known.confirmed && known.auth !== m.auth) {
          // Its token goes only to whoever holds it; the real executor that lost a reply retries
          // until this record dies of silence, then registers afresh.
          this.untrusted("register: executor without its token");
          const e = Errors.RegistrationHeld(`Executor ${m.name}`);
          return this.respond(reply, { ok: false, code: e.code, message: e.message } satisfies RegisterReply);
        }
        const rec = this.executors.addExecutor(m);
        this.respond(reply, { ...ok, auth: rec.auth, ...this.uploads.replayFor("executor") });
        if (!known) this.monitor.emit({ type: "executor-joined", name: m.name, id: m.id });
        return this.schedulePump();
      }
    }
  }

  /**
   * A value for one task of a client that is gone (a large result finished after its client
   * closed): storing it would hold it until the scheduler restarts, as no one will release it.
   */
  private forDroppedClient(owner: string): boolean {
    const slash = owner.indexOf("/");
    return slash > 0 && this.clients.wasDropped(owner.slice(0, slash));
  }

  /** Clients past their lease's grace period lose their queued and assigned tasks and their data. */
  private expireLeases() {
    for (const id of this.clients.expired()) this.dropClient(id, "silent for longer than its lease's grace period");
  }

  /** A client closed or lost its lease: cancel its tasks, release its data. */
  private dropClient(id: string, why: string) {
    const client = this.clients.endLease(id);
    this.actors.ownerGone(id, why);
    this.trust.forgetClient(id);
    for (const k of this.warnedNeeds) if (k.startsWith(`${id} `)) this.warnedNeeds.delete(k);
    this.data.releaseAll(id);
    this.owners.dropClient(id);
    const freed = this.defs.dropClient(id);
    if (freed.fns.length || freed.mods.length) this.forgetDefinitions(freed.fns, freed.mods);
    if (client === undefined) return;
    // Nothing in the table: its index is free at once (the common case, a script that finished).
    if (this.tasks.live[client] === 0) return this.sweepClients();
    const { queued, assigned } = this.tasks.dropClient(client);
    const byExec = new Map<number, number[]>();
    for (const s of assigned) {
      const e = this.tasks.exec[s]! - 1;
      (byExec.get(e) ?? byExec.set(e, []).get(e)!).push(s);
    }
    for (const [e, slots] of byExec) {
      const rec = this.executors.byIndex(e);
      if (rec) this.tx.send(this.subjects.execCancel(rec.id), { slots: Uint32Array.from(slots), keys: Uint32Array.from(slots, (s) => this.tasks.key[s]!), auth: rec.auth });
    }
    if (queued + assigned.length) this.log.info(`client ${id} ${why}: cancelled its ${queued + assigned.length} task(s), released its data`);
    // Its cancelled tasks leave the queue when reached; with nothing else queued, now.
    this.tasks.drainCancelled();
    this.sweepClients();
  }

  /** Frees the indexes of dropped clients that no slot names any more (clients.ts). */
  private sweepClients() {
    if (this.clients.draining.size === 0) return;
    for (const i of this.clients.sweep(this.tasks.live)) {
      this.trust.freeIndex(i);
    }
  }

  /** Definitions no registered client sent any more: gone from placement, monitor and every executor. */
  private forgetDefinitions(fns: string[], mods: string[]) {
    for (const h of fns) {
      this.estimates.forget(h);
      this.monitor.forgetFn(h);
    }
    for (const rec of this.executors.all()) {
      for (const h of fns) rec.fnsSent.delete(h);
      for (const h of mods) rec.modsSent.delete(h);
    }
    this.forgotten.fns.push(...fns);
    this.forgotten.mods.push(...mods);
  }

  /** Once per beat: executors drop what was forgotten here (definitions, released values) from their caches. */
  private tellForgotten() {
    const f = this.forgotten;
    if (!f.fns.length && !f.mods.length && !f.data.length) return;
    this.forgotten = { fns: [], mods: [], data: [] };
    // What was sent or stored again since it was dropped here is not forgotten.
    const fns = f.fns.filter((h) => !this.defs.fns.has(h));
    const mods = f.mods.filter((h) => !this.defs.mods.has(h));
    const data = f.data.filter((h) => !this.data.knows(h));
    if (!fns.length && !mods.length && !data.length) return;
    for (const rec of this.executors.all()) {
      if (rec.confirmed) this.tx.send(this.subjects.execControl(rec.id), { op: "forget", fns, mods, data, auth: rec.auth });
    }
  }

  // --- sched.submit ---------------------------------------------------------------------------
  private onSubmit(m: Submit, reply: Reply<SubmitAck> | undefined) {
    if (!this.trust.isRegisteredClient(m.client, m.auth)) {
      // A dropped client's own submit (its token is remembered) is not a forgery: it is told to register again.
      if (!this.trust.isClient(m.client, m.auth)) this.untrusted("submit");
      const e = Errors.UnknownClient(m.client);
      return this.respond(reply, { ok: false, code: e.code, message: e.message, sched: this.instance });
    }
    if (!this.trust.freshSubmit(m.client, m.seq)) return this.untrusted("submit: replayed");
    this.clients.touch(m.client);
    this.defs.add(m.client, m.fns, m.mods);
    for (const g of m.groups) {
      if (!this.defs.fns.has(g.fn)) {
        return this.respond(reply, { ...refusal(Errors.UnknownFunction(g.fn)), sched: this.instance });
      }
    }
    const client = this.clients.indexOf(m.client);
    const out: Uint32Array[] = [];
    let total = 0;
    for (const g of m.groups) {
      const needs = needsOf(g.resources);
      if (needs) this.warnUnplaceable(m.client, needs);
      const slots = m.resync ? this.addMissing(client, g) : this.tasks.add(client, g.fn, g.keys, g.cols, g.consts, g.timeout && g.timeout > 0 ? g.timeout : 0, priorityOf(g), needs);
      out.push(slots);
      total += slots.length;
    }
    this.monitor.submitted(m, out);
    const all = out.length === 1 ? out[0]! : concat(out, total);
    // Dispatch first: the tasks' trip to an executor is on the latency path, the ack is not.
    this.pump();
    this.respond(reply, { ok: true, slots: all, sched: this.instance });
  }

  /** Adds the rows of a re-submitted group that are not held already; returns every row's slot. */
  private addMissing(client: number, g: SubmitGroup): Uint32Array {
    const slots = new Uint32Array(g.keys.length);
    const rows: number[] = [];
    for (let r = 0; r < g.keys.length; r++) {
      const s = this.tasks.find(client, g.keys[r]!);
      if (s < 0) rows.push(r);
      else slots[r] = s;
    }
    if (rows.length) {
      const added = this.tasks.add(client, g.fn, Uint32Array.from(rows, (r) => g.keys[r]!), g.cols.map((c) => rows.map((r) => c[r])), g.consts, g.timeout && g.timeout > 0 ? g.timeout : 0, priorityOf(g), needsOf(g.resources));
      rows.forEach((r, i) => (slots[r] = added[i]!));
    }
    return slots;
  }

  // --- sched.resync ---------------------------------------------------------------------------
  /** An executor says what it holds: tasks assigned to it that it does not hold were lost in transit. */
  private onResync(m: Resync) {
    const rec = this.executors.byId(m.exec);
    if (!rec || m.sched !== this.instance || m.auth !== rec.auth) return this.untrusted("resync");
    if (m.nonce !== undefined) return this.reconciler.answer(rec, m.nonce, m.held);
    // Unasked (the executor reconnected): its list may predate batches in flight, so reconcile
    // properly, with a snapshot, at the next beat.
    this.reconciler.doubt(rec);
  }

  /** A retiring executor: no more work for it; what it had not started goes to the others. */
  private onRetire(m: Retire) {
    const rec = this.executors.byId(m.exec);
    if (!rec || m.auth !== rec.auth) return this.untrusted("retire");
    rec.life.send({ type: "RETIRE" });
    const requeued = m.sched === this.instance ? this.stealApply(rec, m.returned) : 0;
    this.monitor.emit({ type: "executor-retiring", name: rec.name, id: rec.id, requeued });
  }

  /** After our own reconnect, messages to and from us may be lost: ask every executor to resync. */
  private requestResync() {
    for (const rec of this.executors.accepting()) this.reconciler.doubt(rec);
  }

  // --- placement ------------------------------------------------------------------------------
  private schedulePump() {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /**
   * Hands queued tasks to executors with room, in batches. Only executors that may have room are
   * visited (`hungry`: their load fell since they were last found full), those with a free thread
   * first, so a completion message costs the same with 10 executors as with 1,000.
   */
  private pump() {
    const t = this.tasks;
    if (t.needing > 0) this.placeNeeding();
    if (t.ready === 0) {
      t.drainCancelled();
      return this.balance();
    }
    const x = this.executors;
    if (x.hungry.size === 0) return;
    const gen = ++this.pumpGen;
    // Spread a short queue evenly instead of letting the first executor take it all.
    let withRoom = x.hungry.size;
    const visit = (rec: ExecutorRec) => {
      rec.pumpGen = gen;
      this.fill(rec, Math.ceil(t.ready / withRoom--));
      // Found full (not merely given its share of a short queue): out until its load falls.
      if (t.ready > 0 && this.room(rec) === 0) x.hungry.delete(rec);
    };
    for (const rec of x.idle) {
      if (t.ready === 0) return;
      if (rec.pumpGen !== gen && x.hungry.has(rec)) visit(rec);
    }
    for (const rec of x.hungry) {
      if (t.ready === 0) return;
      if (rec.pumpGen !== gen) visit(rec);
    }
  }
  private pumpGen = 0;

  /**
   * Tasks that need resources (resources.ts): each need lane, highest priority first, onto the
   * executors that offer resources, as many as their free amounts cover (held until done).
   */
  private placeNeeding() {
    const t = this.tasks;
    const lanes = [...t.needLanes.values()].sort((a, b) => b.priority - a.priority);
    for (const lane of lanes) {
      for (const rec of this.executors.resourced) {
        if (lane.len === 0) break;
        const k = Math.min(fits(rec.free, lane.needs!), this.placement.maxBatch);
        if (k <= 0) continue;
        const batch = takeBatch(this.batching, rec, k, lane);
        if (!batch) break;
        hold(rec.free!, lane.needs!, batch.count);
        this.executors.load(rec, false);
        this.sendBatch(rec, batch.msg);
      }
    }
  }

  /**
   * Tasks that need resources no live worker offers wait (a worker that has them may join: a
   * machine asleep, a cluster still starting); their client is told at once, once per need,
   * on its log subject (printed like a task's stderr), and the scheduler logs it.
   */
  private warnUnplaceable(client: string, needs: Resources) {
    const key = `${client} ${needsKey(needs)}`;
    if (this.warnedNeeds.has(key)) return;
    const r = this.executors.canEverRun((offer) => fits(offer, needs) >= 1);
    if (r.able || r.workers === 0) return;
    this.warnedNeeds.add(key);
    const e = Errors.ResourcesUnavailable(formatResources(needs), r.offers.join(", "));
    this.log.warn(`client ${client}: ${e.message}`);
    this.tx.send(this.subjects.log(client), { worker: "scheduler", lines: [[2, `${e.code}: ${e.message}`]] });
  }
  /** `${client} ${needs}` already warned about (dropped with the client). */
  private readonly warnedNeeds = new Set<string>();

  /**
   * Work stealing: with nothing left in the queue, an executor with idle threads gets tasks that
   * wait (not started) in the queue of the most loaded executor. Half of the victim's excess moves,
   * one steal per victim at a time (worker.machine.ts `steal` region).
   */
  private balance() {
    const x = this.executors;
    if (x.idle.size === 0 || x.loaded.size === 0) return;
    // At most once per BALANCE_MS: at the end of a map every completion message finds the queue
    // empty, and a look at every loaded executor per message grew with the cluster.
    const now = performance.now();
    if (now - this.balancedAt < BALANCE_MS) {
      this.balanceTimer ??= setTimeout(() => {
        this.balanceTimer = undefined;
        this.schedulePump();
      }, BALANCE_MS).unref();
      return;
    }
    this.balancedAt = now;
    const idle = x.idle.size;
    const victims = [...x.loaded]
      .filter((r) => r.life.getSnapshot().matches({ running: { steal: "none" } }))
      .sort((a, b) => b.assigned - b.nthreads - (a.assigned - a.nthreads));
    for (let i = 0; i < Math.min(idle, victims.length); i++) {
      const v = victims[i]!;
      // Half of the victim's queue: both then finish at about the same time. Taking only as many
      // tasks as there are idle threads would cost a round trip per task when tasks are short.
      const max = Math.max(1, Math.ceil((v.assigned - v.nthreads) / 2));
      v.life.send({ type: "STEAL_START", max });
    }
  }

  private stealRequest(victim: ExecutorRec, max: number) {
    this.tx
      .requestWhere<StealReply>(this.subjects.execSteal(victim.id), { max, auth: victim.auth, seq: ++victim.seq }, 2000, (r) => r?.auth === victim.auth)
      .then((r) => victim.life.send({ type: "STEAL_REPLY", slots: r.slots instanceof Uint32Array ? r.slots : new Uint32Array(0) }))
      .catch(() => {
        victim.life.send({ type: "STEAL_REPLY", slots: new Uint32Array(0) });
        // The executor may have given tasks up and its answer was lost: ask what it still holds.
        this.reconciler.doubt(victim);
      });
  }

  /** Re-queues the tasks `victim` gave back; returns how many were still its own. */
  private stealApply(victim: ExecutorRec, slots: Uint32Array): number {
    const mine = [...slots].filter((s) => this.tasks.state[s] === ASSIGNED && this.tasks.exec[s] === victim.index + 1);
    if (mine.length) {
      victim.assigned -= mine.length;
      releaseSlots(this.tasks, victim.free, mine);
      this.executors.load(victim, false);
      this.stolen += mine.length;
      this.tasks.requeueFront(mine);
      // Stolen work goes to the executors with idle threads, not back to where it came from.
      const idle = [...this.executors.idle].filter((r) => r !== victim);
      let left = idle.length;
      for (const r of idle) this.fill(r, Math.ceil(this.tasks.ready / left--));
    }
    this.pump();
    return mine.length;
  }

  /** Tasks moved from one executor's queue to another's. */
  stolen = 0;

  /** Tasks re-queued because their executor turned out not to hold them (reconcile.ts). */
  get reconciled(): number {
    return this.reconciler.requeued;
  }

  private fill(rec: ExecutorRec, share: number) {
    const t = this.tasks;
    let room = Math.min(share, this.room(rec));
    while (room > 0 && t.ready > 0) {
      const n = Math.min(room, this.placement.maxBatch);
      const batch = takeBatch(this.batching, rec, n);
      if (!batch) break;
      room -= batch.count;
      this.executors.load(rec, false);
      this.sendBatch(rec, batch.msg);
    }
  }

  /** How many more tasks `rec` should get, from the duration of the function at the queue head. */
  private room(rec: ExecutorRec): number {
    const head = this.headFn();
    const est = head === undefined ? this.placement.unknownMs : (this.estimates.get(head) ?? this.placement.unknownMs);
    return roomFor(windowFor(rec.nthreads, est, this.placement), rec.assigned);
  }

  private headFn(): string | undefined {
    const s = this.tasks.peek();
    return s < 0 ? undefined : this.tasks.chunks.get(this.tasks.chunk[s]!)!.fn;
  }

  private sendBatch(rec: ExecutorRec, msg: TaskBatch) {
    msg.seq = ++rec.seq;
    const data = encode(msg);
    if (data.byteLength <= this.tx.maxPayload) return this.tx.publish(rec.tasksSubject, data);
    // Too big for one message: split the groups' rows in half and try again.
    const total = msg.groups.reduce((a, g) => a + g.slots.length, 0);
    if (total <= 1) {
      // One task alone is too large. Fail it (counted, reported, its event sent) instead of wedging the queue;
      // the resources it held on this executor are free again.
      const slot = msg.groups[0]!.slots[0]!;
      releaseSlots(this.tasks, rec.free, [slot]);
      this.failSlot(slot, Errors.PayloadTooLarge("The task's arguments", data.byteLength, this.tx.maxPayload), ["scheduler"]);
      rec.assigned--;
      this.executors.load(rec);
      return;
    }
    const [a, b] = splitBatch(msg);
    this.sendBatch(rec, a);
    this.sendBatch(rec, b);
  }

  // --- sched.done -----------------------------------------------------------------------------
  private onDone(m: Done) {
    const rec = this.executors.byId(m.exec);
    if (!rec || m.sched !== this.instance) {
      this.duplicates += m.slots.length;
      return;
    }
    if (m.auth !== rec.auth) return this.untrusted("done");
    if (!rec.confirmed) this.confirmed(rec);
    const t = this.tasks;
    let finished = 0;
    for (let i = 0; i < m.slots.length; i++) {
      const s = m.slots[i]!;
      // What it held (resources.ts), read before the slot is freed: one column read per task.
      const needs = t.flags[s]! & NEEDS ? t.chunks.get(t.chunk[s]!)?.needs : undefined;
      if (t.finish(s, rec.index)) {
        finished++;
        if (needs && rec.free) hold(rec.free, needs, 1, -1);
      } else this.duplicates++;
    }
    rec.assigned -= finished;
    rec.done += finished;
    this.executors.load(rec);
    // A completion message is a sign of life: a busy executor skips its heartbeats.
    this.executors.alive(rec);
    this.failed += m.failed;
    this.monitor.done(rec, m, finished);
    for (const st of m.stats) if (Array.isArray(st)) this.estimates.observe(String(st[0]), Number(st[1]), Number(st[2]));
    this.schedulePump();
  }

  // --- sched.cancel ---------------------------------------------------------------------------
  private onCancel(m: Cancel) {
    const client = this.clients.known(m.client);
    if (client === undefined) return;
    const byExec = new Map<number, number[]>();
    for (let i = 0; i < m.slots.length; i++) {
      const s = m.slots[i]!;
      const before = this.tasks.cancel(s, client, m.keys[i]!);
      if (before === ASSIGNED) {
        const e = this.tasks.exec[s]! - 1;
        let l = byExec.get(e);
        if (!l) byExec.set(e, (l = []));
        l.push(s);
      }
    }
    for (const [e, slots] of byExec) {
      const rec = this.executors.byIndex(e);
      if (rec) this.tx.send(this.subjects.execCancel(rec.id), { slots: Uint32Array.from(slots), keys: Uint32Array.from(slots, (s) => this.tasks.key[s]!), auth: rec.auth });
    }
  }

  // --- sched.heartbeat / sched.bye ------------------------------------------------------------
  private onHeartbeat(m: Heartbeat) {
    if (m.kind === "executor") {
      const rec = this.executors.byId(m.id);
      // Unknown: tell it to register (harmless if forged: it re-registers with its scheduler).
      if (!rec) return this.tx.send(this.subjects.execControl(m.id), { op: "reregister" });
      if (m.auth !== rec.auth) return this.untrusted("heartbeat");
      if (!rec.confirmed) this.confirmed(rec);
      this.trust.executorForged(m.id, m.forged);
      this.monitor.heartbeat(m);
      this.executors.heartbeat(m);
      if (m.actors) this.actors.heartbeat(m);
    } else {
      const auth = this.executors.workerAuth(m.id);
      if (auth === undefined) return;
      if (m.auth !== auth) return this.untrusted("heartbeat");
      this.monitor.heartbeat(m);
      this.executors.workerHeartbeat(m);
    }
  }

  /** An executor used its token for the first time: it follows us, orders reach it now. */
  private confirmed(rec: ExecutorRec) {
    rec.confirmed = true;
    this.executors.setOpen(rec);
    if (rec.pendingRestart) {
      rec.pendingRestart = false;
      this.tx.send(this.subjects.execControl(rec.id), { op: "restart", auth: rec.auth });
    }
    this.schedulePump();
  }

  /** A stored value's chunk from its owning client, or (a large result) from a registered executor. */
  private mayPut(m: DataPut): boolean {
    if (m.exec !== undefined) return this.executors.byId(m.exec)?.auth === m.auth;
    return this.trust.isClient(m.client.split("/")[0]!, m.auth);
  }

  /**
   * A read of a stored value: by a registered executor or worker with its token, or by a client
   * with its token and only of values it owns (a stranger cannot read scattered data).
   */
  private mayGet(m: DataGet): boolean {
    if (typeof m.auth !== "string" || !m.auth) return false;
    if (m.exec !== undefined) return this.executors.byId(m.exec)?.auth === m.auth;
    if (m.worker !== undefined) return this.executors.workerAuth(m.worker) === m.auth;
    if (m.client !== undefined) return this.trust.isClient(m.client, m.auth) && this.data.ownedBy(m.hash, m.client);
    return false;
  }

  /**
   * client.runOnScheduler() and client.run(): user code runs only for a registered client (its
   * token). A run on an executor is forwarded with that executor's token and the client's reply
   * subject: the executor, which runs only what carries its token, answers the client directly.
   */
  private onRun(m: RunRequest, reply: Reply<RunReply> | undefined) {
    if (m.client === undefined || !this.trust.isClient(m.client, m.auth)) {
      this.untrusted("sched.run");
      const e = Errors.NotBound("sched.run", "a registered client's token");
      return this.respond(reply, { ok: false, error: { code: e.code, name: e.name, message: e.message, stack: "" } } satisfies RunReply);
    }
    if (m.exec === undefined) return void this.runner.run(m).then((r) => this.respond(reply, r));
    const rec = this.executors.byId(m.exec);
    if (!rec || !reply) {
      const e = Errors.ExecutorGone(m.exec);
      return this.respond(reply, { ok: false, error: { code: e.code, name: e.name, message: e.message, stack: "" } } satisfies RunReply);
    }
    const fwd: RunRequest = { fn: m.fn, ...(m.module ? { module: m.module } : {}), args: m.args, auth: rec.auth };
    this.tx.send(this.subjects.execRun(rec.id), fwd, reply);
  }

  /** A message not bound to this scheduler (wrong or missing token): dropped, counted, never acted on. */
  private untrusted(kind: string) {
    this.trust.drop();
    this.dropped(`${kind}: not bound to this scheduler`);
  }

  private onBye(m: Bye) {
    if (m.kind === "executor") {
      const rec = this.executors.byId(m.id);
      if (!rec) return;
      // From the executor itself, or from its supervisor reporting its death.
      if (m.auth !== rec.auth && m.auth !== this.executors.workerAuth(rec.worker)) return this.untrusted("bye");
      // A supervisor reporting its executor's death says which tasks were running (if known).
      if (m.sched === this.instance) rec.crash = { running: m.running, timedOut: m.timedOut };
      this.executors.remove(rec, m.reason ?? "left");
    } else if (m.kind === "worker") {
      const auth = this.executors.workerAuth(m.id);
      if (auth === undefined) return;
      if (m.auth !== auth) return this.untrusted("bye");
      this.monitor.workerLeaving(m.id, m.reason ?? "left");
      this.executors.removeWorker(m.id, m.reason ?? "left");
    }
    else if (m.kind === "client") {
      if (this.trust.isClient(m.id, m.auth)) this.dropClient(m.id, "closed");
      else this.untrusted("bye");
    }
  }

  /** An executor left or died: its unfinished tasks go back to the front of the queue. */
  private executorGone(rec: ExecutorRec, reason: string) {
    const slots = blame(this.tasks, rec, this.tasks.assignedTo(rec.index), this.deaths, this.allowedFailures, (slot, error, workers) => this.failSlot(slot, error, workers));
    if (slots.length) this.tasks.requeueFront(slots);
    this.log.info(`executor ${rec.name} ${reason}${slots.length ? `; re-queued ${slots.length} task(s)` : ""}`);
    this.monitor.emit({ type: "executor-left", name: rec.name, id: rec.id, reason });
    this.monitor.executorGone(rec, reason, slots.length);
    this.actors.hostLost(rec.id, reason);
    this.schedulePump();
  }

  /** Ends a task with an error decided by the scheduler, sent to its client like any result. */
  private failSlot(s: number, error: TsDaskError, workers: string[]) {
    const t = this.tasks;
    const client = this.clients.ids[t.client[s]!];
    if (client !== undefined) this.tx.send(this.subjects.results(client), {
      worker: workers[workers.length - 1] ?? "scheduler",
      keys: Uint32Array.of(t.key[s]!),
      tickets: this.trust.tickets[t.client[s]!]?.issue([t.key[s]!]),
      values: [null],
      errors: [remoteError(error)],
    });
    this.deaths.delete(s);
    this.failed++;
    this.monitor.failedByScheduler(s, error.code, error.message, workers[workers.length - 1] ?? "scheduler");
    t.drop(s);
  }

  // --- sched.info -----------------------------------------------------------------------------
  info(): ClusterInfo {
    const t = this.tasks;
    return {
      cluster: this.cluster,
      scheduler: { instance: this.instance, host: hostname(), pid: process.pid, hello: hello(), startedAt: this.startedAt, ...memory(), stallMs: Math.round(this.stalls.longest), nats: this.tx.node },
      workers: this.monitor.workerInfo(this.executors.info()),
      departed: this.monitor.departedWorkers(),
      actors: this.actors.info(),
      clients: this.clients.leased,
      clientNodes: this.clients.byNode(),
      tasks: {
        queued: t.queued,
        assigned: t.assigned,
        done: t.done,
        failed: this.failed,
        duplicates: this.duplicates,
        bytesPerTask: TASK_TABLE_BYTES_PER_SLOT,
        stolen: this.stolen,
        ...(t.needing ? { needingResources: t.needing } : {}),
        byPriority: t.queuedByPriority(),
      },
      data: { values: this.data.count, bytes: this.data.bytes, ...this.owners.resultStats() },
      trust: this.trust.stats(),
      retained: this.retained(),
    };
  }

  /** Per-client and per-function entries held (ClusterInfo.retained). */
  private retained(): NonNullable<ClusterInfo["retained"]> {
    const c = this.clients.counts();
    const tr = this.trust.counts();
    const d = this.defs.counts();
    const m = this.monitor.counts();
    return {
      clientIndexes: c.indexes,
      clientsDraining: c.draining,
      clientCapacity: this.clients.ids.length,
      registrations: this.clients.registrations,
      tokens: tr.tokens,
      tickets: tr.tickets,
      remembered: tr.remembered,
      fns: d.fns,
      mods: d.mods,
      estimates: this.estimates.size,
      chunks: this.tasks.chunks.size,
      jobs: m.jobs + m.chunkJobs + m.pooled,
      perFn: m.perFn,
      dataValues: this.data.count,
    };
  }
}

/** A group's priority: a finite number, else 0 (a peer's odd value changes nothing). */
function priorityOf(g: SubmitGroup): number {
  return typeof g.priority === "number" && Number.isFinite(g.priority) ? g.priority : 0;
}

function memory() {
  const m = process.memoryUsage();
  // Typed-array tables live outside the JS heap: count them too.
  return { rss: m.rss, heapUsed: m.heapUsed + m.external };
}

/** Typed-array bytes the table spends per slot (state, client, key, chunk, row, exec, attempts, free list, ring). */
const TASK_TABLE_BYTES_PER_SLOT = 1 + 4 + 4 + 4 + 4 + 2 + 1 + 1 + 4 + 4;
