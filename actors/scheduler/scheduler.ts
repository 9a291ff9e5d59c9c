/**
 * The scheduler actor: owns the task table and the table of workers/executors, places queued
 * tasks on executors in batches, and re-queues the work of executors that die. It never runs
 * user code. One per cluster. Its handlers are the `s.serve(routes.…)` lines of start(); the route
 * table in runtime/routes.ts says who sends each. The class is built in layers, one subsystem each
 * (sched-state.ts → sched-dispatch.ts → sched-members.ts → sched-tasks.ts → this file).
 *
 * Handler index (subject → method, file):
 *   sched.register                 onRegister                 sched-members.ts
 *   sched.heartbeat / sched.bye    onHeartbeat / onBye        sched-members.ts
 *   sched.submit / sched.done      onSubmit / onDone          sched-tasks.ts
 *   sched.cancel                   onCancel                   sched-tasks.ts
 *   sched.resync / sched.retire    onResync / onRetire        sched-tasks.ts
 *   alive (a rival's beat)         trust.onAlive              trust.ts
 *   sched.restart, sched.info      inline in start()          this file
 *   data.put / data.get / data.release  inline in start(): DataStore through DataOwners (data/)
 *   data.push.<hash>               DataPushes                 data/data-push.ts
 *   sched.run                      onRun (or forwarded)       this file, run-on-scheduler.ts
 *   sched.upload / sched.install   UploadRegistry             data/uploads.ts (replayed to late joiners)
 *   sched.actor / sched.snapshot   ActorTable                 actors.ts (user actors, issue 14)
 */
import { hostname } from "node:os";
import { type Reply } from "../../runtime/actor.ts";
import { Errors, refusal, remoteErrorInfo } from "../../runtime/errors.ts";
import { routes } from "../../runtime/routes.ts";
import {
  type ClusterInfo,
  type RunReply,
  type RunRequest,
  type RestartReply,
} from "../../runtime/protocol.ts";
import type { Transport } from "../../runtime/transport.ts";
import { hello } from "../../runtime/version.ts";
import { everyBeat } from "../../runtime/beat-clock.ts";
import { SchedulerTasks } from "./sched-tasks.ts";
import type { SchedulerOptions } from "./sched-state.ts";

/** A value whose chunks stopped arriving this long ago is dropped (its sender is gone). */
const ABANDONED_VALUE_MS = 120_000;

export type { SchedulerOptions } from "./sched-state.ts";

export class Scheduler extends SchedulerTasks {
  private constructor(tx: Transport, opts: SchedulerOptions) {
    super(tx, opts);
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
      else if (s.pushes.paces(m)) void s.pushes.window(m).then(() => s.respond(reply, s.owners.put(m)));
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

  /**
   * client.runOnScheduler() and client.run(): user code runs only for a registered client (its
   * token). A run on an executor is forwarded with that executor's token and the client's reply
   * subject: the executor, which runs only what carries its token, answers the client directly.
   */
  protected onRun(m: RunRequest, reply: Reply<RunReply> | undefined) {
    if (m.client === undefined || !this.trust.isClient(m.client, m.auth)) {
      this.untrusted("sched.run");
      const e = Errors.NotBound("sched.run", "a registered client's token");
      return this.respond(reply, { ok: false, error: remoteErrorInfo(e) } satisfies RunReply);
    }
    if (m.exec === undefined) return void this.runner.run(m).then((r) => this.respond(reply, r));
    const rec = this.executors.byId(m.exec);
    if (!rec || !reply) {
      const e = Errors.ExecutorGone(m.exec);
      return this.respond(reply, { ok: false, error: remoteErrorInfo(e) } satisfies RunReply);
    }
    const fwd: RunRequest = { fn: m.fn, ...(m.module ? { module: m.module } : {}), args: m.args, auth: rec.auth };
    this.tx.send(this.subjects.execRun(rec.id), fwd, reply);
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
      lateReplies: { scheduler: this.tx.requests.lateReplies, clients: this.lateReplies.clients.total, executors: this.lateReplies.executors.total },
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
      executorCounts: tr.executors + this.lateReplies.executors.size,
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


function memory() {
  const m = process.memoryUsage();
  // Typed-array tables live outside the JS heap: count them too.
  return { rss: m.rss, heapUsed: m.heapUsed + m.external };
}

/** Typed-array bytes the table spends per slot (state, client, key, chunk, row, exec, assignment, attempts, flags, free list, ring). */
const TASK_TABLE_BYTES_PER_SLOT = 1 + 4 + 4 + 4 + 4 + 2 + 4 + 1 + 1 + 4 + 4;
