/**
 * Membership (the scheduler's registration layer): who is in the cluster and whether we trust
 * them. Handles sched.register (onRegister: clients, workers, executors, version checks),
 * sched.heartbeat (onHeartbeat), sched.bye (onBye); client leases (expireLeases, dropClient,
 * sweepClients) and what executors must forget when definitions or values go (tellForgotten).
 * The subscriptions are in scheduler.ts start().
 */
import { type Reply } from "../../runtime/actor.ts";
import { Errors } from "../../runtime/errors.ts";
import * as G from "../../runtime/guards.ts";
import {
  PROTOCOL_VERSION,
  isClientId,
  type Bye,
  type Heartbeat,
  type Hello,
  type RegisterReply,
} from "../../runtime/protocol.ts";
import { hello, nodeMajor, versionWarning } from "../../runtime/version.ts";
import { natsNode, type ExecutorRec } from "./executor-rec.ts";
import { SchedulerDispatch } from "./sched-dispatch.ts";

export abstract class SchedulerMembers extends SchedulerDispatch {
  // --- sched.register -------------------------------------------------------------------------
  protected onRegister(m: { hello: Hello }, reply: Reply<RegisterReply> | undefined) {
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
        this.lateReplies.clients.report(m.id, m.lateReplies);
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
  protected forDroppedClient(owner: string): boolean {
    const slash = owner.indexOf("/");
    return slash > 0 && this.clients.wasDropped(owner.slice(0, slash));
  }

  /** Clients past their lease's grace period lose their queued and assigned tasks and their data. */
  protected expireLeases() {
    for (const id of this.clients.expired()) this.dropClient(id, "silent for longer than its lease's grace period");
  }

  /** A client closed or lost its lease: cancel its tasks, release its data. */
  protected dropClient(id: string, why: string) {
    const client = this.clients.endLease(id);
    this.actors.ownerGone(id, why);
    this.trust.forgetClient(id);
    this.lateReplies.clients.forget(id);
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
  protected sweepClients() {
    if (this.clients.draining.size === 0) return;
    for (const i of this.clients.sweep(this.tasks.live)) {
      this.trust.freeIndex(i);
    }
  }

  /** Definitions no registered client sent any more: gone from placement, monitor and every executor. */
  protected forgetDefinitions(fns: string[], mods: string[]) {
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
  protected tellForgotten() {
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

  // --- sched.heartbeat / sched.bye ------------------------------------------------------------
  protected onHeartbeat(m: Heartbeat) {
    // Sent to an earlier scheduler (in flight across a restart, or from a rival's follower): not
    // ours to judge, and its sender registers with us when it hears our `alive`.
    const stale = m.sched !== undefined && m.sched !== this.instance;
    if (m.kind === "executor") {
      const rec = this.executors.byId(m.id);
      // Unknown: tell it to register (harmless if forged: it re-registers with its scheduler).
      if (!rec) return this.tx.send(this.subjects.execControl(m.id), { op: "reregister" });
      if (stale) return;
      if (m.auth !== rec.auth) return this.untrusted("heartbeat");
      if (!rec.confirmed) this.confirmed(rec);
      this.trust.executorForged(m.id, m.forged);
      this.lateReplies.executors.report(m.id, m.lateReplies);
      this.monitor.heartbeat(m);
      this.executors.heartbeat(m);
      if (m.actors) this.actors.heartbeat(m);
    } else {
      const auth = this.executors.workerAuth(m.id);
      if (auth === undefined || stale) return;
      if (m.auth !== auth) return this.untrusted("heartbeat");
      this.monitor.heartbeat(m);
      this.executors.workerHeartbeat(m);
    }
  }

  /** An executor used its token for the first time: it follows us, orders reach it now. */
  protected confirmed(rec: ExecutorRec) {
    rec.confirmed = true;
    this.executors.setOpen(rec);
    if (rec.pendingRestart) {
      rec.pendingRestart = false;
      this.tx.send(this.subjects.execControl(rec.id), { op: "restart", auth: rec.auth });
    }
    this.schedulePump();
  }

  protected onBye(m: Bye) {
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
}
