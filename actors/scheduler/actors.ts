/**
 * User actors (issue 14), the scheduler's side: the table of actors by name, their placement on
 * executors, their lifetime (the creating client's lease, or `detached` until killed), restarts on
 * another executor when the host dies (with the last `snapshot()`, kept in the data store), and
 * what clients are told (`actor.<id>.status`). Method calls never pass through here: clients send
 * them to the host executor directly (actors/executor/actor-host.ts).
 *
 * Handlers: `sched.actor` → onRequest (create / get / kill), `sched.snapshot` → onSnapshot.
 * Hooks from the scheduler: hostLost (an executor died), ownerGone (a client's lease ended),
 * heartbeat (call counts), info.
 */
import { createHash } from "node:crypto";
import { createActor, type ActorRefFrom } from "xstate";
import type { Logger } from "../../runtime/actor.ts";
import { Errors, type ErrorCode } from "../../runtime/errors.ts";
import { randomId } from "../../runtime/ids.ts";
import {
  isSubjectToken,
  type ActorAddress,
  type ActorInfo,
  type ActorReply,
  type ActorRequest,
  type ActorSnapshot,
  type ActorStatus,
  type ActorSubjects,
  type ClusterEvent,
  type ExecActor,
  type ExecActorReply,
  type FnDef,
  type Heartbeat,
  type ModuleDef,
  type SnapshotEvery,
} from "../../runtime/protocol.ts";
import type { Transport } from "../../runtime/transport.ts";
import { actorMachine, type ActorLifeInput } from "./actor.machine.ts";
import type { DataStore } from "./data/data-store.ts";
import type { ExecutorRec } from "./executor-rec.ts";
import type { ExecutorTable } from "./executors.ts";

/** Snapshots by default after 10 calls, or 1 s after the first call not in one yet. */
export const DEFAULT_SNAPSHOT_EVERY: SnapshotEvery = { calls: 10, ms: 1000 };
/** How long an executor may take to construct an actor (and restore it) before another is tried. */
const START_TIMEOUT_MS = 20_000;

interface ActorRec {
  id: string;
  name: string;
  owner: string;
  detached: boolean;
  cls: FnDef;
  module?: ModuleDef;
  args: unknown[];
  snapshotEvery: SnapshotEvery;
  key: string;
  methods: string[];
  life: ActorRefFrom<typeof actorMachine>;
  execName: string;
  /** The executor being asked to start it, and the attempt's number (stale answers are ignored). */
  placingOn?: string;
  attempt: number;
  /** The newest snapshot: its data-store hash and bytes. */
  snapshot?: { hash: string; bytes: Uint8Array; inc: number; calls: number };
  calls: number;
  rate: number;
  beatAt: number;
  /** Requests (create / get) waiting for it to run. */
  waiters: string[];
  created: boolean;
}

export interface ActorTableDeps {
  tx: Transport;
  subjects: ActorSubjects;
  executors: ExecutorTable;
  data: DataStore;
  log: Logger;
  emit: (e: ClusterEvent) => void;
  /** A registered client's id and token. */
  isClient: (id: string, auth: unknown) => boolean;
  untrusted: (kind: string) => void;
  /** Machine timers (tests shorten them). */
  life?: Omit<ActorLifeInput, "restartMax">;
}

export class ActorTable {
  private readonly byName = new Map<string, ActorRec>();
  private readonly byId = new Map<string, ActorRec>();

  constructor(private readonly d: ActorTableDeps) {}

  get size(): number {
    return this.byName.size;
  }

  /** `sched.actor`: create (get-or-create by name), get, kill. */
  onRequest(m: ActorRequest, reply: string | undefined): void {
    if (!this.d.isClient(m.client, m.auth)) {
      this.d.untrusted("sched.actor");
      const e = Errors.UnknownClient(m.client);
      return this.respond(reply, { ok: false, code: e.code, message: e.message });
    }
    if (m.name !== undefined && !isSubjectToken(m.name)) {
      const e = Errors.BadOption("actor name", m.name, "letters, digits, '_' and '-'");
      return this.respond(reply, { ok: false, code: e.code, message: e.message });
    }
    const rec = m.name === undefined ? undefined : this.byName.get(m.name);
    if (m.op === "kill") {
      if (!rec) return this.respond(reply, fail(Errors.ActorNotFound(m.name ?? "")));
      this.kill(rec, `killed by client ${m.client}`);
      return this.respond(reply, { ok: true, actor: this.address(rec) });
    }
    if (rec) {
      if (this.state(rec) === "running") return this.respond(reply, { ok: true, actor: { ...this.address(rec), created: false } });
      if (reply) rec.waiters.push(reply);
      return;
    }
    if (m.op === "get" || !m.cls) return this.respond(reply, fail(Errors.ActorNotFound(m.name ?? "")));
    this.create(m, reply);
  }

  private create(m: ActorRequest, reply: string | undefined): void {
    const id = randomId(8);
    const every = m.snapshotEvery;
    const rec: ActorRec = {
      id,
      name: m.name ?? `actor-${id}`,
      owner: m.client,
      detached: m.detached === true,
      cls: m.cls!,
      module: m.module,
      args: m.args ?? [],
      snapshotEvery: every && every.calls >= 0 && every.ms >= 0 ? every : DEFAULT_SNAPSHOT_EVERY,
      key: randomId(16),
      methods: [],
      execName: "",
      attempt: 0,
      calls: 0,
      rate: 0,
      beatAt: 0,
      waiters: reply ? [reply] : [],
      created: true,
      life: undefined as unknown as ActorRec["life"],
    };
    const restartMax = Math.max(0, Math.floor(Number(m.restart?.max ?? 0)) || 0);
    rec.life = createActor(
      actorMachine.provide({
        actions: {
          place: () => queueMicrotask(() => this.place(rec)),
          announce: (_, params) => this.announce(rec, params.state),
        },
      }),
      { input: { restartMax, ...this.d.life } },
    );
    this.byName.set(rec.name, rec);
    this.byId.set(rec.id, rec);
    rec.life.start();
  }

  /** Asks the least loaded executor (by actors, then tasks) to start the actor. */
  private place(rec: ActorRec): void {
    const snap = rec.life.getSnapshot();
    if (snap.status !== "active" || !this.placing(rec)) return;
    const counts = new Map<string, number>();
    for (const r of this.byId.values()) if (r.life.getSnapshot().context.exec) counts.set(r.life.getSnapshot().context.exec, (counts.get(r.life.getSnapshot().context.exec) ?? 0) + 1);
    const candidates = this.d.executors.accepting();
    if (candidates.length === 0) return void rec.life.send({ type: "RETRY" });
    const host = candidates.reduce((a, b) => ((counts.get(b.id) ?? 0) < (counts.get(a.id) ?? 0) ? b : a));
    const attempt = ++rec.attempt;
    rec.placingOn = host.id;
    const ctx = snap.context;
    const msg: ExecActor = {
      op: "start",
      actor: rec.id,
      name: rec.name,
      inc: ctx.inc,
      key: rec.key,
      cls: rec.cls,
      ...(rec.module ? { module: rec.module } : {}),
      args: rec.args,
      ...(rec.snapshot ? { state: rec.snapshot.bytes } : {}),
      snapshotEvery: rec.snapshotEvery,
      auth: host.auth,
    };
    this.d.tx.request<ExecActorReply>(this.d.subjects.exec(host.id), msg, START_TIMEOUT_MS).then(
      (r) => {
        if (attempt !== rec.attempt || !this.placing(rec)) return;
        rec.placingOn = undefined;
        if (!r.ok) return void rec.life.send({ type: "FAILED", reason: `${r.error.name}: ${r.error.message}` });
        rec.methods = r.methods;
        rec.execName = host.name;
        rec.life.send({ type: "PLACED", exec: host.id });
      },
      (e: unknown) => {
        if (attempt !== rec.attempt || !this.placing(rec)) return;
        rec.placingOn = undefined;
        this.d.log.warn(`actor ${rec.name}: executor ${host.name} did not start it (${(e as Error).message}); trying again`);
        rec.life.send({ type: "RETRY" });
      },
    );
  }

  private placing(rec: ActorRec): boolean {
    const s = this.state(rec);
    return s === "placing" || s === "restarting";
  }

  /** Tells clients (and the event log) the actor's new state; answers waiting requests; forgets a gone actor. */
  private announce(rec: ActorRec, state: ActorStatus["state"]): void {
    // Entry actions run before the snapshot changes: read it once the transition is done.
    queueMicrotask(() => {
      const c = rec.life.getSnapshot().context;
      const execName = rec.execName;
      const status: ActorStatus = { actor: rec.id, name: rec.name, state, inc: c.inc, exec: c.exec, execName, ...(c.reason && state !== "running" ? { reason: c.reason } : {}) };
      this.d.tx.send(this.d.subjects.status(rec.id), status);
      this.d.emit({ type: "actor", name: rec.name, state, executor: execName, ...(status.reason ? { reason: status.reason } : {}) });
      this.d.log.info(`actor ${rec.name} ${state}${execName ? ` (${execName})` : ""}${status.reason ? `: ${status.reason}` : ""}`);
      if (state === "running") {
        for (const w of rec.waiters.splice(0)) this.respond(w, { ok: true, actor: { ...this.address(rec), created: rec.created } });
        rec.created = false;
      } else if (state === "lost" || state === "killed") {
        // Never ran: it could not start (its constructor threw, or no executor took it).
        const e = rec.execName === "" ? Errors.ActorStartFailed(rec.name, rec.execName, c.reason) : Errors.ActorLost(rec.name, rec.execName, c.reason);
        for (const w of rec.waiters.splice(0)) this.respond(w, fail(e, rec.execName));
        this.forget(rec);
      }
    });
  }

  private kill(rec: ActorRec, reason: string): void {
    const host = rec.life.getSnapshot().context.exec || rec.placingOn;
    rec.life.send({ type: "KILL", reason });
    const e = host ? this.d.executors.byId(host) : undefined;
    if (e) this.stopOn(e, rec, reason);
  }

  private stopOn(e: ExecutorRec, rec: ActorRec, reason: string): void {
    const msg: ExecActor = { op: "stop", actor: rec.id, name: rec.name, inc: rec.life.getSnapshot().context.inc, reason, auth: e.auth };
    this.d.tx.request<ExecActorReply>(this.d.subjects.exec(e.id), msg, 5000).catch(() => {});
  }

  private forget(rec: ActorRec): void {
    if (this.byName.get(rec.name) === rec) this.byName.delete(rec.name);
    this.byId.delete(rec.id);
    if (rec.snapshot) this.d.data.release(ownerOf(rec), [rec.snapshot.hash]);
    rec.life.stop();
  }

  /** An executor died (or left): its actors restart elsewhere or are lost; a placement on it is tried again. */
  hostLost(execId: string, reason: string): void {
    for (const rec of [...this.byId.values()]) {
      if (rec.life.getSnapshot().context.exec === execId) rec.life.send({ type: "HOST_LOST", exec: execId, reason: `its executor ${rec.execName} ${reason}` });
      else if (rec.placingOn === execId && this.placing(rec)) {
        rec.attempt++;
        rec.placingOn = undefined;
        rec.life.send({ type: "RETRY" });
      }
    }
  }

  /** A client's lease ended: the actors it created without `detached` go with it. */
  ownerGone(client: string, why: string): void {
    for (const rec of [...this.byId.values()]) if (rec.owner === client && !rec.detached) this.kill(rec, `its owner client ${client} ${why}`);
  }

  /** `sched.snapshot`: the host's newest snapshot, kept in the data store (the previous one released). */
  onSnapshot(m: ActorSnapshot): void {
    const rec = this.byId.get(m.actor);
    const e = this.d.executors.byId(m.exec);
    if (!rec || !e || e.auth !== m.auth) return this.d.untrusted("sched.snapshot");
    const ctx = rec.life.getSnapshot().context;
    if (ctx.exec !== m.exec || ctx.inc !== m.inc) return; // an older incarnation's: not the state to restore
    if (rec.snapshot && rec.snapshot.inc === m.inc && rec.snapshot.calls >= m.calls) return;
    const hash = createHash("sha256").update(m.state).digest("hex");
    const owner = ownerOf(rec);
    const r = this.d.data.put({ client: owner, hash, size: m.state.byteLength, index: 0, chunks: 1, bytes: m.state });
    if (!r.ok || !r.have) return this.d.log.warn(`actor ${rec.name}: snapshot of ${m.state.byteLength} bytes not stored`);
    if (rec.snapshot && rec.snapshot.hash !== hash) this.d.data.release(owner, [rec.snapshot.hash]);
    rec.snapshot = { hash, bytes: m.state, inc: m.inc, calls: m.calls };
  }

  /** Call counts from a host's heartbeat: calls per second for the dashboard and info. */
  heartbeat(m: Heartbeat): void {
    if (!m.actors) return;
    const now = Date.now();
    for (const pair of m.actors) {
      if (!Array.isArray(pair)) continue;
      const rec = this.byId.get(String(pair[0]));
      const calls = Number(pair[1]);
      if (!rec || rec.life.getSnapshot().context.exec !== m.id || !Number.isFinite(calls)) continue;
      if (rec.beatAt && now > rec.beatAt && calls >= rec.calls) rec.rate = ((calls - rec.calls) * 1000) / (now - rec.beatAt);
      rec.calls = calls;
      rec.beatAt = now;
    }
  }

  info(): ActorInfo[] {
    return [...this.byName.values()].map((r) => ({
      id: r.id,
      name: r.name,
      state: this.state(r),
      executor: r.execName,
      executorId: r.life.getSnapshot().context.exec,
      owner: r.owner,
      detached: r.detached,
      restarts: r.life.getSnapshot().context.restarts,
      calls: r.calls,
      rate: Math.round(r.rate * 10) / 10,
      snapshot: r.snapshot?.bytes.byteLength ?? 0,
      snapshotCalls: r.snapshot?.calls ?? 0,
    }));
  }

  stop(): void {
    for (const r of this.byId.values()) r.life.stop();
  }

  private state(rec: ActorRec): string {
    const v = rec.life.getSnapshot().value;
    return typeof v === "string" ? v : Object.keys(v)[0]!;
  }

  private address(rec: ActorRec): ActorAddress {
    const c = rec.life.getSnapshot().context;
    return { id: rec.id, name: rec.name, state: this.state(rec), inc: c.inc, exec: c.exec, execName: rec.execName, key: rec.key, methods: rec.methods };
  }

  private respond(reply: string | undefined, r: ActorReply): void {
    if (reply) this.d.tx.send(reply, r);
  }
}

/** The data-store owner of an actor's snapshot: no client id can take this form (see isClientId). */
const ownerOf = (rec: ActorRec) => `~actor.${rec.id}`;

function fail(e: { code: ErrorCode; message: string }, executor?: string): ActorReply {
  return { ok: false, code: e.code, message: e.message, ...(executor ? { executor } : {}) };
}
