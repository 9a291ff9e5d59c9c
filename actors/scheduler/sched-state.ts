/**
 * The scheduler's state and its trust checks: the tables (tasks, executors, clients, data,
 * definitions), the subsystems they feed (monitor, trust, uploads, actors, reconciler), and who may
 * put or get a stored value. No handlers here; the scheduler is built in layers, one subsystem each:
 *   sched-state.ts     this file: state, construction, trust checks (mayPut, mayGet, untrusted)
 *   sched-dispatch.ts  placement: pump, resource lanes, work stealing, failing a task, an executor's death
 *   sched-members.ts   registration, heartbeats, byes, client leases: sched.register / heartbeat / bye
 *   sched-tasks.ts     task flow: sched.submit / done / cancel / resync / retire
 *   scheduler.ts       the Scheduler: start() subscribes every route (the handler index), stop, sched.run, sched.info
 */
import { Actor, type Logger } from "../../runtime/actor.ts";
import { routes } from "../../runtime/routes.ts";
import { randomId } from "../../runtime/ids.ts";
import {
  actorSubjects,
  type ClusterInfo,
  type DataPut,
  type DataGet,
} from "../../runtime/protocol.ts";
import type { Transport } from "../../runtime/transport.ts";
import { defaultPlacement, DurationEstimates, type PlacementConfig } from "./placement.ts";
import { TaskTable } from "./tasks.ts";
import { releaseSlots } from "./resources.ts";
import type { ExecutorRec } from "./executor-rec.ts";
import { ExecutorTable } from "./executors.ts";
import { DataStore } from "./data/data-store.ts";
import { chunkSizeFor } from "../../runtime/data-transfer.ts";
import { DataPushes } from "./data/data-push.ts";
import { DataOwners } from "./data/data-owners.ts";
import { SchedulerRunner } from "./run-on-scheduler.ts";
import { Monitor } from "./observation/monitor.ts";
import { type BatchContext } from "./batches.ts";
import { ClientTable } from "./clients.ts";
import { Definitions } from "./definitions.ts";
import { UploadRegistry } from "./data/uploads.ts";
import { Trust } from "./trust.ts";
import { PeerTotals } from "./observation/peer-totals.ts";
import { Reconciler } from "./reconcile.ts";
import { StallWatch } from "./stalls.ts";
import { ActorTable } from "./actors.ts";
import type { ActorLifeInput } from "./actor.machine.ts";

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

/** The scheduler's state, built once; the layers above add the handlers (see the list at the top). */
export abstract class SchedulerState extends Actor {
  readonly instance = randomId();
  readonly startedAt = Date.now();
  readonly tasks = new TaskTable();
  readonly executors: ExecutorTable;
  /** Client ids, indices and leases (clients.ts). */
  protected readonly clients: ClientTable;
  /** Function and module definitions, kept while a registered client that sent them is (definitions.ts). */
  protected readonly defs = new Definitions();
  /** Hashes freed since the last beat (definitions, scattered values), for executors to forget. */
  protected forgotten = { fns: [] as string[], mods: [] as string[], data: [] as string[] };
  protected readonly estimates = new DurationEstimates();
  /** What batches.ts reads (stable references to the tables above). */
  protected readonly batching: BatchContext;
  /** Names of the executors that died while running a slot (only slots that ever did). */
  protected readonly deaths = new Map<number, string[]>();
  /** Deaths while running one task before it fails with KilledWorker (Dask's allowed-failures). */
  readonly allowedFailures: number;
  protected readonly suspectAfterMs: number;
  protected readonly deadAfterMs: number;
  readonly data: DataStore;
  protected readonly pushes: DataPushes;
  /** Uploads and installs, replayed to executors and workers that join later. */
  readonly uploads: UploadRegistry;
  /** Caps and per-task owners of the data store's values (large arguments and results). */
  readonly owners: DataOwners;
  protected readonly runner: SchedulerRunner;
  protected readonly placement: PlacementConfig;
  protected readonly heartbeatMs: number;
  protected stopBeat: () => void = () => {};
  /** Dashboard, /metrics and events: fed by one hook call per message (monitor.ts). */
  readonly monitor: Monitor;
  /** Tokens, ticket keys, dropped forgeries, rival schedulers (trust.ts). */
  readonly trust: Trust;
  /** Late replies (runtime/reply-mux.ts) its clients and executors report (ClusterInfo.lateReplies). */
  readonly lateReplies = { clients: new PeerTotals(), executors: new PeerTotals() };
  /** How late the beat runs: the scheduler's own stalls, not counted against leases (stalls.ts). */
  protected readonly stalls: StallWatch;
  /** Periodic and on-doubt comparison of what executors hold with what we think (reconcile.ts). */
  protected readonly reconciler: Reconciler;
  /** User actors (actors.ts). */
  readonly actors: ActorTable;
  /** Completions for tasks not (or no longer) assigned to the reporter: re-runs after a re-queue. */
  duplicates = 0;
  failed = 0;

  protected constructor(tx: Transport, protected readonly opts: SchedulerOptions) {
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
    this.data = new DataStore(chunkSizeFor(tx));
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
      put: (m, whole) => (this.mayPut(m) ? this.owners.put(m, whole) : (this.untrusted("data.push"), { ok: false, code: "UnknownClient", message: "not bound" })),
      listen: (hash, handler) => this.serve(routes.dataPush.at(hash), handler),
      idleExecutors: () => this.executors.accepting().filter((r) => r.assigned === 0),
    });
    this.executors = new ExecutorTable({
      newToken: () => this.trust.newToken(),
      steal: { request: (v, max) => this.stealRequest(v, max), apply: (v, slots) => this.stealApply(v, slots) },
      subjects: this.subjects,
      suspectAfterMs: this.suspectAfterMs,
      deadAfterMs: this.deadAfterMs,
      onDead: (rec, reason) => this.executorGone(rec, reason),
    });
    this.uploads = new UploadRegistry(tx, this.subjects, this.data, this.executors, opts.log, this.suspectAfterMs + this.deadAfterMs);
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

  protected announce() {
    this.tx.send(this.subjects.alive, { instance: this.instance, heartbeatMs: this.heartbeatMs });
  }

  /** A stored value's chunk from its owning client, or (a large result) from a registered executor. */
  protected mayPut(m: DataPut): boolean {
    if (m.exec !== undefined) return this.executors.byId(m.exec)?.auth === m.auth;
    return this.trust.isClient(m.client.split("/")[0]!, m.auth);
  }

  /**
   * A read of a stored value: by a registered executor or worker with its token, or by a client
   * with its token and only of values it owns (a stranger cannot read scattered data).
   */
  protected mayGet(m: DataGet): boolean {
    if (typeof m.auth !== "string" || !m.auth) return false;
    if (m.exec !== undefined) return this.executors.byId(m.exec)?.auth === m.auth;
    if (m.worker !== undefined) return this.executors.workerAuth(m.worker) === m.auth;
    if (m.client !== undefined) return this.trust.isClient(m.client, m.auth) && this.data.ownedBy(m.hash, m.client);
    return false;
  }

  /** A message not bound to this scheduler (wrong or missing token): dropped, counted, never acted on. */
  protected untrusted(kind: string) {
    this.trust.drop();
    this.dropped(`${kind}: not bound to this scheduler`);
  }

  // Defined by the layers above (sched-dispatch.ts), called from the tables built here.
  protected abstract schedulePump(): void;
  protected abstract stealRequest(victim: ExecutorRec, max: number): void;
  protected abstract stealApply(victim: ExecutorRec, slots: Uint32Array): number;
  protected abstract executorGone(rec: ExecutorRec, reason: string): void;
  /** What `sched.info` answers (scheduler.ts); the monitor reads it too. */
  abstract info(): ClusterInfo;
}
