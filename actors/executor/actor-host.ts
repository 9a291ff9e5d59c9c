/**
 * User actors (issue 14), the executor's side: the instances this process hosts. The scheduler
 * starts and stops them (`exec.<id>.actor`, with this executor's token); clients send method
 * calls straight here (`actor.<actorId>.calls`, with the actor's key and incarnation) and get the
 * answers on `actres.<clientId>`, batched per client.
 *
 * Order: one call at a time per actor, in the order calls arrive here (so one client's calls run in
 * the order it made them; calls of different clients interleave in arrival order). A call is run at
 * most once: nothing is retried, and a call for an older incarnation is answered `ActorLost`.
 * Snapshots: after `snapshotEvery.calls` calls, or `snapshotEvery.ms` after the first call not yet
 * in a snapshot, `snapshot()` runs between two calls and its value goes to the scheduler.
 */
import type { Logger } from "../../runtime/actor.ts";
import { decode, encode } from "../../runtime/codec.ts";
import type { ActorCalls, ActorReplies, ActorSnapshot, ActorSubjects, ExecActor, ExecActorReply, FnDef, ModuleDef, RemoteError, SnapshotEvery } from "../../runtime/protocol.ts";
import type { Sub, Transport } from "../../runtime/transport.ts";
import { errorInfo } from "./runner.ts";
import { Errors, remoteError, type ErrorCode } from "../../runtime/errors.ts";

type Instance = Record<string, unknown>;

interface Hosted {
  id: string;
  name: string;
  key: string;
  inc: number;
  inst: Instance;
  sub: Sub;
  /** The call queue: each call (and snapshot) runs after the previous one settled. */
  chain: Promise<void>;
  calls: number;
  sinceSnapshot: number;
  every: SnapshotEvery;
  timer?: NodeJS.Timeout;
  stopped?: string;
}

export interface ActorHostDeps {
  tx: Transport;
  subjects: ActorSubjects;
  execId: string;
  execName: string;
  /** This executor's registration token (snapshots carry it). */
  auth: () => string;
  /** Loads a shipped class (a function definition, by source or module reference). */
  load: (def: FnDef, module?: ModuleDef) => Promise<Function | Error>;
  /** Subscribes to one actor's calls (`routes.actorCalls.at(actorId)`). */
  listen: (actorId: string, handler: (m: ActorCalls) => void) => Sub;
  /** A call batch that is not this actor's (wrong key): counted as forged. */
  forged: (kind: string) => void;
  log: Logger;
}

export class ActorHost {
  private readonly hosted = new Map<string, Hosted>();
  private readonly out = new Map<string, ActorReplies>();
  private flushing = false;

  constructor(private readonly d: ActorHostDeps) {}

  get size(): number {
    return this.hosted.size;
  }

  /** [actor id, calls so far] of each hosted actor, for heartbeats. */
  counts(): [string, number][] | undefined {
    if (this.hosted.size === 0) return undefined;
    return [...this.hosted.values()].map((h) => [h.id, h.calls]);
  }

  /** `exec.<id>.actor` from our scheduler. */
  async onExec(m: ExecActor): Promise<ExecActorReply> {
    if (m.op === "stop") {
      const h = this.hosted.get(m.actor);
      if (h) this.stopOne(h, m.reason ?? "stopped");
      return { ok: true, methods: [] };
    }
    const old = this.hosted.get(m.actor);
    if (old && old.inc === m.inc) return { ok: true, methods: methodNames(old.inst) };
    if (old) this.stopOne(old, "replaced by a newer incarnation");
    try {
      if (!m.cls || !m.key) throw new TypeError("start without a class or key");
      const C = await this.d.load(m.cls, m.module);
      if (C instanceof Error) throw C;
      const inst = Reflect.construct(C, m.args ?? []) as Instance;
      let restored = false;
      if (m.state !== undefined && typeof inst.restore === "function") {
        await (inst.restore as (s: unknown) => unknown).call(inst, decode(m.state));
        restored = true;
      }
      const h: Hosted = {
        id: m.actor,
        name: m.name,
        key: m.key,
        inc: m.inc,
        inst,
        chain: Promise.resolve(),
        calls: 0,
        sinceSnapshot: 0,
        every: m.snapshotEvery ?? { calls: 10, ms: 1000 },
        sub: undefined as unknown as Sub,
      };
      h.sub = this.d.listen(m.actor, (c) => this.onCalls(h, c));
      this.hosted.set(m.actor, h);
      return { ok: true, methods: methodNames(inst), restored };
    } catch (e) {
      return { ok: false, error: errorInfo(e, "") };
    }
  }

  /** Every hosted actor stops (this executor stops, or follows another scheduler). */
  stopAll(reason: string): void {
    for (const h of [...this.hosted.values()]) this.stopOne(h, reason);
    this.flush();
  }

  private stopOne(h: Hosted, reason: string): void {
    h.stopped = reason;
    clearTimeout(h.timer);
    h.sub.unsubscribe();
    if (this.hosted.get(h.id) === h) this.hosted.delete(h.id);
  }

  private onCalls(h: Hosted, m: ActorCalls): void {
    if (m.key !== h.key) return this.d.forged("actor calls");
    const n = Math.min(m.ids.length, m.methods.length, m.args.length);
    const gets = m.get ? new Set(m.get) : undefined;
    for (let i = 0; i < n; i++) {
      const id = m.ids[i]!;
      if (m.inc !== h.inc || h.stopped) {
        this.fail(m.client, h, id, "ActorLost", h.stopped ?? `the call was for incarnation ${m.inc}, this is ${h.inc} (the actor restarted)`);
        continue;
      }
      const method = String(m.methods[i]);
      const args = Array.isArray(m.args[i]) ? m.args[i]! : [];
      const get = gets?.has(i) === true;
      h.chain = h.chain.then(() => this.call(h, m.client, id, method, args, get));
    }
  }

  private async call(h: Hosted, client: string, id: number, method: string, args: unknown[], get: boolean): Promise<void> {
    if (h.stopped) return this.fail(client, h, id, "ActorLost", h.stopped);
    try {
      let value: unknown;
      if (get) value = await h.inst[method];
      else {
        const f = h.inst[method];
        if (typeof f !== "function" || method === "constructor") throw Errors.NoSuchMethod(h.name, method);
        value = await (f as (...a: unknown[]) => unknown).apply(h.inst, args);
      }
      this.reply(client, h, id, value);
    } catch (e) {
      const info = errorInfo(e, "");
      this.reply(client, h, id, null, { ...info, code: info.code || "ActorCallFailed" });
    }
    h.calls++;
    h.sinceSnapshot++;
    await this.maybeSnapshot(h);
  }

  private async maybeSnapshot(h: Hosted): Promise<void> {
    if (typeof h.inst.snapshot !== "function" || h.stopped) return;
    if (h.every.calls > 0 && h.sinceSnapshot >= h.every.calls) return this.snapshot(h);
    if (h.every.ms > 0 && h.sinceSnapshot === 1 && h.timer === undefined) {
      h.timer = setTimeout(() => {
        h.timer = undefined;
        h.chain = h.chain.then(() => this.snapshot(h));
      }, h.every.ms);
      h.timer.unref();
    }
  }

  /** Runs `snapshot()` (between calls) and sends its value to the scheduler. */
  private async snapshot(h: Hosted): Promise<void> {
    if (h.stopped || h.sinceSnapshot === 0) return;
    clearTimeout(h.timer);
    h.timer = undefined;
    h.sinceSnapshot = 0;
    try {
      const state = encode(await (h.inst.snapshot as () => unknown).call(h.inst));
      const msg: ActorSnapshot = { exec: this.d.execId, actor: h.id, inc: h.inc, calls: h.calls, state, auth: this.d.auth() };
      this.d.tx.send(this.d.subjects.snapshot, msg);
    } catch (e) {
      this.d.log.warn(`actor ${h.name}: snapshot() failed, the previous one is kept: ${(e as Error).message}`);
    }
  }

  private fail(client: string, h: Hosted, id: number, code: ErrorCode, message: string): void {
    this.reply(client, h, id, null, { code, name: code, message, stack: "" });
  }

  /** Answers travel per client, batched until the event loop is next free. */
  private reply(client: string, h: Hosted, id: number, value: unknown, error?: Omit<RemoteError, "i">): void {
    const key = `${client}\n${h.id}`;
    let b = this.out.get(key);
    if (!b) this.out.set(key, (b = { actor: h.id, worker: this.d.execName, ids: [], values: [] }));
    if (error) (b.errors ??= []).push({ ...error, i: b.ids.length });
    b.ids.push(id);
    b.values.push(value);
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushing = false;
    for (const [key, b] of this.out) {
      const client = key.slice(0, key.indexOf("\n"));
      try {
        this.d.tx.send(this.d.subjects.replies(client), b);
      } catch {
        // One value did not encode (or the batch is too large): each row on its own, failures as errors.
        for (let i = 0; i < b.ids.length; i++) {
          const err = b.errors?.find((e) => e.i === i);
          const one: ActorReplies = { actor: b.actor, worker: b.worker, ids: [b.ids[i]!], values: [err ? null : b.values[i]] };
          if (err) one.errors = [{ ...err, i: 0 }];
          try {
            this.d.tx.send(this.d.subjects.replies(client), one);
          } catch (e) {
            this.d.tx.send(this.d.subjects.replies(client), { ...one, values: [null], errors: [remoteError(Errors.NotSerializable("The call's result", (e as Error).message))] });
          }
        }
      }
    }
    this.out.clear();
  }
}

/** The methods of an instance: functions along its prototype chain, below Object.prototype. */
export function methodNames(inst: object): string[] {
  const out = new Set<string>();
  for (let p = Object.getPrototypeOf(inst); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const k of Object.getOwnPropertyNames(p)) {
      const d = Object.getOwnPropertyDescriptor(p, k);
      if (k !== "constructor" && d && typeof d.value === "function") out.add(k);
    }
  }
  for (const k of Object.keys(inst)) if (typeof (inst as Record<string, unknown>)[k] === "function") out.add(k);
  return [...out];
}
