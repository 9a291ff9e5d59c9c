/**
 * User actors (issue 14), the client's side: `client.actor(Class, args, opts)`,
 * `client.getActor(name)`, `client.killActor(name)` and the typed proxy they return.
 *
 * A method call on the proxy is a message to the executor hosting the actor
 * (`actor.<id>.calls`), batched with this client's other calls to it until the event loop is next
 * free; answers come back on `actres.<clientId>`. The scheduler tells clients when the actor moves
 * (`actor.<id>.status`): calls made while it restarts wait for it, calls that were in flight when
 * its host died reject with `ActorLost` (never sent again: at most once).
 */
import type { BoundRoute } from "../runtime/route.ts";
import { routes } from "../runtime/routes.ts";
import { encode, findUnencodable } from "../runtime/codec.ts";
import { ActorError, Errors, TsDaskError } from "../runtime/errors.ts";
import type { ActorAddress, ActorCalls, ActorReplies, ActorReply, ActorRequest, ActorStatus, ActorSubjects } from "../runtime/protocol.ts";
import { toClassDef } from "../runtime/shipping/index.ts";
import type { Sub, Transport } from "../runtime/transport.ts";

/** Options of {@link Client.actor}. */
export interface ActorOptions {
  /**
   * A cluster-wide name: any client can then find it with `getActor(name)`, and `actor()` with a
   * name that exists returns the existing actor (get-or-create). Letters, digits, `_`, `-`.
   */
  name?: string;
  /** Re-create it on another executor when its host dies, at most `max` times (default: never). */
  restart?: { max: number };
  /** Live until `client.killActor(name)`, not only as long as the creating client's lease. */
  detached?: boolean;
  /**
   * When an actor whose class has `snapshot()` is snapshotted: after `calls` calls (default 10), or
   * `seconds` after the first call not yet in a snapshot (default 1). 0 turns either off.
   */
  snapshotEvery?: { calls?: number; seconds?: number };
  /** How long to wait for the actor to start (default 35 s). */
  timeoutMs?: number;
}

/**
 * The proxy of an actor whose instance type is `T`: each method becomes an async method (its call
 * is a message to the actor), and each other member an awaitable read (`await counter.total`).
 */
export type ActorProxy<T> = {
  readonly [K in keyof T as K extends string ? K : never]: T[K] extends (...a: infer A) => infer R ? (...a: A) => Promise<Awaited<R>> : Promise<Awaited<T[K]>>;
};

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  method: string;
  inc: number;
}

interface Queued extends Pending {
  id: number;
  args: unknown[];
  get: boolean;
}

/** What the client knows of one actor; proxies of the same actor share it. */
class Entry {
  state: string;
  methods: Set<string>;
  readonly pending = new Map<number, Pending>();
  queue: Queued[] = [];
  /** Why it is gone for good (then every call rejects at once). */
  gone?: TsDaskError;
  sub?: Sub;
  constructor(public addr: ActorAddress) {
    this.state = addr.state;
    this.methods = new Set(addr.methods);
  }
}

/** Names probed by `await`, JSON, inspection and test tools: not actor members. */
const PROBES = new Set(["then", "toJSON", "constructor", "asymmetricMatch", "$$typeof", "nodeType", "inspect"]);

export interface ActorClientDeps {
  tx: Transport;
  subjects: ActorSubjects;
  clientId: string;
  auth: string;
  /** The client's `Actor.serve`: subscribes to one route of the table (runtime/routes.ts). */
  serve: <M>(r: BoundRoute<M>, handler: (m: M) => void) => Sub;
}

export class ActorClient {
  private readonly byId = new Map<string, Entry>();
  private repliesSub?: Sub;
  private nextId = 1;
  private flushing = false;

  constructor(private readonly d: ActorClientDeps) {}

  async create<T>(cls: Function, args: unknown[], opts: ActorOptions): Promise<ActorProxy<T>> {
    if (!Array.isArray(args)) throw Errors.BadOption("client.actor(Class, args)", args, "an array of constructor arguments");
    const { fn, module } = toClassDef(cls);
    try {
      encode(args);
    } catch (e) {
      throw Errors.NotSerializable(`An argument of ${cls.name || "the actor's class"}`, findUnencodable(args, "args") ?? (e as Error).message);
    }
    const max = opts.restart?.max;
    if (max !== undefined && !(Number.isInteger(max) && max >= 0)) throw Errors.BadOption("restart.max", max, "a whole number ≥ 0");
    const every = opts.snapshotEvery;
    const req: ActorRequest = {
      op: "create",
      client: this.d.clientId,
      auth: this.d.auth,
      cls: fn,
      ...(module ? { module } : {}),
      args,
      ...(opts.name !== undefined ? { name: opts.name } : {}),
      ...(max !== undefined ? { restart: { max } } : {}),
      ...(opts.detached ? { detached: true } : {}),
      ...(every ? { snapshotEvery: { calls: every.calls ?? 10, ms: Math.round((every.seconds ?? 1) * 1000) } } : {}),
    };
    return this.open<T>(req, opts.timeoutMs);
  }

  get<T>(name: string, timeoutMs?: number): Promise<ActorProxy<T>> {
    return this.open<T>({ op: "get", client: this.d.clientId, auth: this.d.auth, name }, timeoutMs);
  }

  async kill(name: string): Promise<void> {
    const r = await this.d.tx.request<ActorReply>(this.d.subjects.control, { op: "kill", client: this.d.clientId, auth: this.d.auth, name } satisfies ActorRequest, 10_000);
    if (!r.ok) throw refusal(r, name);
  }

  private async open<T>(req: ActorRequest, timeoutMs = 35_000): Promise<ActorProxy<T>> {
    this.repliesSub ??= this.d.serve(routes.actorReplies.at(this.d.clientId), (m) => this.onReplies(m));
    let r: ActorReply;
    try {
      r = await this.d.tx.request<ActorReply>(this.d.subjects.control, req, timeoutMs);
    } catch (e) {
      if ((e as { code?: string }).code === "NoReply") throw Errors.RequestTimedOut(`client.actor(${req.name ?? ""})`, timeoutMs);
      throw e;
    }
    if (!r.ok) throw refusal(r, req.name ?? "");
    let entry = this.byId.get(r.actor.id);
    if (!entry) {
      entry = new Entry(r.actor);
      this.byId.set(r.actor.id, entry);
      const e = entry;
      entry.sub = this.d.serve(routes.actorStatus.at(r.actor.id), (s) => this.onStatus(e, s));
    }
    return proxyOf<T>(entry, (method, args, get) => this.call(entry!, method, args, get));
  }

  private call(e: Entry, method: string, args: unknown[], get: boolean): Promise<unknown> {
    if (e.gone) return Promise.reject(e.gone);
    try {
      encode(args);
    } catch (err) {
      return Promise.reject(Errors.NotSerializable(`An argument of ${e.addr.name}.${method}()`, findUnencodable(args, "args") ?? (err as Error).message));
    }
    return new Promise((resolve, reject) => {
      e.queue.push({ id: this.nextId++, method, args, get, resolve, reject, inc: 0 });
      this.soon();
    });
  }

  private soon() {
    if (this.flushing) return;
    this.flushing = true;
    setImmediate(() => this.flush());
  }

  /** One message per actor with every call queued for it (an actor that is restarting keeps its queue). */
  private flush() {
    this.flushing = false;
    for (const e of this.byId.values()) {
      if (!e.queue.length || e.state !== "running") continue;
      const q = e.queue;
      e.queue = [];
      const msg: ActorCalls = { client: this.d.clientId, key: e.addr.key, inc: e.addr.inc, ids: [], methods: [], args: [] };
      q.forEach((c, i) => {
        msg.ids.push(c.id);
        msg.methods.push(c.method);
        msg.args.push(c.args);
        if (c.get) (msg.get ??= []).push(i);
        e.pending.set(c.id, { resolve: c.resolve, reject: c.reject, method: c.method, inc: e.addr.inc });
      });
      try {
        this.d.tx.send(this.d.subjects.calls(e.addr.id), msg);
      } catch (err) {
        for (const c of q) {
          e.pending.delete(c.id);
          c.reject(err);
        }
      }
    }
  }

  private onReplies(m: ActorReplies) {
    const e = this.byId.get(m.actor);
    if (!e) return;
    const errs = new Map((m.errors ?? []).map((x) => [x.i, x]));
    m.ids.forEach((id, i) => {
      const p = e.pending.get(id);
      if (!p) return;
      e.pending.delete(id);
      const x = errs.get(i);
      if (!x) return p.resolve(m.values[i]);
      if (x.code === "ActorLost") p.reject(Errors.ActorLost(e.addr.name, m.worker, x.message));
      else p.reject(Errors.ActorCallFailed(e.addr.name, p.method, m.worker, x.name, x.message, x.stack));
    });
  }

  private onStatus(e: Entry, s: ActorStatus) {
    if (s.inc < e.addr.inc) return;
    const reason = s.reason ?? s.state;
    if (s.state === "running") {
      // Calls sent to an earlier incarnation (its "restarting" was missed) are not answered by this one.
      for (const [id, p] of e.pending) {
        if (p.inc >= s.inc) continue;
        e.pending.delete(id);
        p.reject(Errors.ActorLost(e.addr.name, e.addr.execName, "it was restarted on another executor"));
      }
      e.addr = { ...e.addr, inc: s.inc, exec: s.exec, execName: s.execName, state: "running" };
      e.state = "running";
      this.soon();
      return;
    }
    // Calls sent to an incarnation that ended were not run twice: they fail (at most once).
    for (const [id, p] of e.pending) {
      if (s.state === "restarting" && p.inc >= s.inc) continue;
      e.pending.delete(id);
      p.reject(Errors.ActorLost(e.addr.name, s.execName, s.state === "restarting" ? `${reason}; it is restarting on another executor` : reason));
    }
    if (s.state === "restarting") {
      e.state = "restarting";
      e.addr = { ...e.addr, inc: s.inc };
      return;
    }
    this.end(e, Errors.ActorLost(e.addr.name, s.execName, reason));
  }

  /** The actor is gone for good (lost, killed, or this client or its scheduler went away). */
  private end(e: Entry, err: TsDaskError) {
    e.gone = err;
    e.state = "gone";
    for (const p of e.pending.values()) p.reject(err);
    for (const q of e.queue) q.reject(err);
    e.pending.clear();
    e.queue = [];
    e.sub?.unsubscribe();
  }

  /** Every actor this client uses is gone (the client closed, or the scheduler restarted and forgot them). */
  endAll(reason: string) {
    for (const e of this.byId.values()) if (!e.gone) this.end(e, Errors.ActorLost(e.addr.name, e.addr.execName, reason));
    this.byId.clear();
  }
}

function refusal(r: Extract<ActorReply, { ok: false }>, name: string): TsDaskError {
  if (r.code.startsWith("Actor")) return new ActorError(r.code, r.message, name, r.executor ?? "", r.message);
  return new TsDaskError(r.code, r.message);
}

function proxyOf<T>(e: Entry, call: (method: string, args: unknown[], get: boolean) => Promise<unknown>): ActorProxy<T> {
  const methods = new Map<string, (...a: unknown[]) => Promise<unknown>>();
  return new Proxy(Object.create(null) as object, {
    get(_, key) {
      if (typeof key === "symbol" || PROBES.has(key)) return undefined;
      if (e.methods.has(key)) {
        let f = methods.get(key);
        if (!f) methods.set(key, (f = (...a: unknown[]) => call(key, a, false)));
        return f;
      }
      return call(key, [], true);
    },
    has: (_, key) => typeof key === "string" && e.methods.has(key),
    set: () => false,
    defineProperty: () => false,
    deleteProperty: () => false,
  }) as ActorProxy<T>;
}
