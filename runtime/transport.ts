/**
 * The NATS adapter: the only module that imports `nats`, so a switch to the v3 packages
 * (`@nats-io/transport-node`) touches one file. Messages are msgpack (runtime/codec.ts).
 */
import { connect, createInbox, type NatsConnection, type Subscription } from "nats";
import { decode, encode } from "./codec.ts";
import { Errors } from "./errors.ts";
import { probeNats } from "./nats-probe.ts";

export interface TransportOptions {
  /** `nats://host:port`, or several separated by commas. */
  servers: string;
  /** Connection name shown by the NATS server's monitoring. */
  name?: string;
  token?: string;
  /** Keep retrying the first connect (daemons) instead of failing at once (clients). */
  waitOnFirstConnect?: boolean;
  /** How often to ping the server; a dead server is noticed after ~2 missed pings. */
  pingIntervalMs?: number;
  reconnectTimeWaitMs?: number;
}

/** Connection status changes an actor may react to. */
export type TransportStatus = "disconnected" | "reconnected" | "closed";

export type Handler = (data: Uint8Array, reply: string | undefined, subject: string) => void;

/** A live subscription; `unsubscribe()` is idempotent. */
export interface Sub {
  unsubscribe(): void;
}

export class Transport {
  /** The server's max_payload: no single message may be larger. */
  readonly maxPayload: number;
  private readonly statusListeners = new Set<(s: TransportStatus) => void>();

  private constructor(private readonly nc: NatsConnection) {
    this.maxPayload = nc.info?.max_payload ?? 1024 * 1024;
    void this.watchStatus();
    void nc.closed().then(() => this.emit("closed"));
  }

  /** Connects to NATS. Fails with {@link Errors.ConnectFailed} (unless `waitOnFirstConnect`). */
  static async connect(opts: TransportOptions): Promise<Transport> {
    const { servers, token, user, pass } = credentials(opts.servers);
    // Something else on that port: say so now, instead of a TIMEOUT after 20 s and a socket left open.
    const probe = await probeNats(servers[0]!);
    if (typeof probe === "object") throw Errors.NotNats(servers[0]!, probe.other);
    try {
      const nc = await connect({
        servers,
        name: opts.name,
        token: opts.token ?? token,
        user,
        pass,
        maxReconnectAttempts: -1,
        reconnectTimeWait: opts.reconnectTimeWaitMs ?? 250,
        reconnectJitter: 100,
        pingInterval: opts.pingIntervalMs ?? 5_000,
        maxPingOut: 2,
        waitOnFirstConnect: opts.waitOnFirstConnect ?? false,
        noAsyncTraces: true,
        // Large batches are flushed by the client library as they come; keep its buffer generous.
        pedantic: false,
      });
      return new Transport(nc);
    } catch (e) {
      if (/authorization/i.test((e as Error).message)) throw Errors.AuthFailed(servers.join(","));
      throw Errors.ConnectFailed(servers.join(","), (e as Error).message);
    }
  }

  /** Encodes and publishes. Throws {@link Errors.PayloadTooLarge} when the message exceeds max_payload. */
  send(subject: string, value: unknown, reply?: string): void {
    this.publish(subject, encode(value), reply);
  }

  publish(subject: string, data: Uint8Array, reply?: string): void {
    if (data.byteLength > this.maxPayload) throw Errors.PayloadTooLarge(`A message on ${subject}`, data.byteLength, this.maxPayload);
    this.nc.publish(subject, data, reply ? { reply } : undefined);
  }

  /** Subscribes with a callback (cheaper than an async iterator on hot subjects). */
  subscribe(subject: string, handler: Handler, opts?: { queue?: string }): Sub {
    const sub: Subscription = this.nc.subscribe(subject, {
      queue: opts?.queue,
      callback: (err, msg) => {
        if (err) return;
        handler(msg.data, msg.reply, msg.subject);
      },
    });
    return { unsubscribe: () => { if (!sub.isClosed()) sub.unsubscribe(); } };
  }

  /** Request/reply with msgpack on both sides. Rejects on timeout or when nobody listens. */
  async request<T>(subject: string, value: unknown, timeoutMs: number): Promise<T> {
    const msg = await this.nc.request(subject, encode(value), { timeout: timeoutMs, noMux: false });
    return decode<T>(msg.data);
  }

  /**
   * A request whose answer must pass `accept`: every reply until the first accepted one (or the
   * timeout) is read. Any peer may answer a request on a shared NATS; with plain {@link request}
   * the fastest answer wins, a stranger's included. Replies that do not decode are skipped.
   */
  requestWhere<T>(subject: string, value: unknown, timeoutMs: number, accept: (reply: T) => boolean): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const finish = (err: unknown, v?: T) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        sub.unsubscribe();
        if (err) reject(err);
        else resolve(v!);
      };
      const sub = this.nc.subscribe(createInbox(), {
        callback: (err, msg) => {
          if (err) return finish(err);
          if (msg.data.length === 0 && msg.headers?.code === 503) return finish(Object.assign(new Error("no responders"), { code: "503" }));
          let r: T;
          try {
            r = decode<T>(msg.data);
          } catch {
            return;
          }
          if (accept(r)) finish(undefined, r);
        },
      });
      const timer = setTimeout(() => finish(Object.assign(new Error(`request on ${subject} timed out`), { code: "TIMEOUT" })), timeoutMs);
      try {
        this.publish(subject, encode(value), sub.getSubject());
      } catch (e) {
        finish(e);
      }
    });
  }

  /** True when the error from {@link request} means "no subscriber" (503) or a timeout. */
  static isNoAnswer(e: unknown): boolean {
    const code = (e as { code?: string })?.code;
    return code === "503" || code === "TIMEOUT" || code === "408";
  }

  onStatus(listener: (s: TransportStatus) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  /** Waits until everything published so far reached the server. */
  flush(): Promise<void> {
    return this.nc.flush();
  }

  /** Bytes and messages this connection received and sent so far (the NATS client's counters). */
  stats(): { inBytes: number; outBytes: number; inMsgs: number; outMsgs: number } {
    return this.nc.stats();
  }

  get isClosed(): boolean {
    return this.nc.isClosed();
  }

  /** Flushes and closes (drain would wait for in-flight handlers; we stop them ourselves). */
  async close(): Promise<void> {
    if (this.nc.isClosed()) return;
    try {
      await this.nc.flush();
    } catch {
      /* the server may be gone already */
    }
    await this.nc.close();
  }

  /** The server's address as connected, for messages. */
  get server(): string {
    return this.nc.getServer();
  }

  private emit(s: TransportStatus) {
    for (const l of this.statusListeners) l(s);
  }

  private async watchStatus() {
    for await (const s of this.nc.status()) {
      // Debug events (pingTimer, reconnecting every wait) are noise here: keep the three that matter.
      if (s.type === "disconnect") this.emit("disconnected");
      else if (s.type === "reconnect") this.emit("reconnected");
    }
  }
}

/**
 * Splits credentials out of server URLs, which nats.js ignores: `nats://TOKEN@host:4222` (what
 * `ts-dask up --lan` prints) or `nats://user:pass@host:4222`.
 */
export function credentials(serverList: string): { servers: string[]; token?: string; user?: string; pass?: string } {
  let token: string | undefined;
  let user: string | undefined;
  let pass: string | undefined;
  const servers = serverList.split(",").map((raw) => {
    const s = raw.trim();
    const m = /^([a-z]+:\/\/)([^@/]+)@(.*)$/i.exec(s);
    if (!m) return s;
    const [name, pw] = m[2]!.split(":").map(decodeURIComponent);
    if (pw === undefined) token = name;
    else (user = name), (pass = pw);
    return m[1]! + m[3]!;
  });
  return { servers, token, user, pass };
}
