/**
 * The NATS adapter: the only module that imports `nats`, so a switch to the v3 packages
 * (`@nats-io/transport-node`) touches one file. Messages are msgpack (runtime/codec.ts).
 */
import { readFileSync } from "node:fs";
import { checkServerIdentity } from "node:tls";
import { connect, createInbox, credsAuthenticator, DiscardPolicy, nanos, nkeyAuthenticator, RetentionPolicy, StorageType, type ConnectionOptions, type NatsConnection, type Subscription } from "nats";
import { decode, decodeViews, encode, Encoded } from "./codec.ts";
import { Errors, TsDaskError } from "./errors.ts";
import { checkAuth, credentials, hostOf, refusal, wantsTls, type NatsAuth } from "./nats-auth.ts";
import { probeNats } from "./nats-probe.ts";
import { HOP_TRACE, hopReceived, hopSent } from "./hop-trace.ts";
import type { Link } from "./link.ts";
import { ReplyMux } from "./reply-mux.ts";

const always = () => true;

/** A nats.js connection, for programs that embed the scheduler ({@link Transport.wrap}); the one place `nats` is imported. */
export type { NatsConnection } from "nats";

export interface TransportOptions {
  /**
   * `nats://host:port` or `tls://host:port` (TLS required), or several separated by commas (the
   * nodes of a NATS cluster): tried in that order, the others on failure.
   */
  servers: string;
  /** Connection name shown by the NATS server's monitoring. */
  name?: string;
  token?: string;
  /** Credentials and TLS (runtime/nats-auth.ts); `token` above and credentials in the URL also count. */
  auth?: NatsAuth;
  /** Prefix of reply subjects (default `_INBOX`); ts-dask actors use their cluster's, see `subjects().inbox`. */
  inboxPrefix?: string;
  /** Keep retrying the first connect (daemons) instead of failing at once (clients). */
  waitOnFirstConnect?: boolean;
  /** How often to ping the server; a dead server is noticed after ~2 missed pings. */
  pingIntervalMs?: number;
  reconnectTimeWaitMs?: number;
}

/** Connection status changes an actor may react to. */
export type TransportStatus = "disconnected" | "reconnected" | "closed";

export type Handler = (data: Uint8Array, reply: string | undefined, subject: string) => void;

/** A JetStream stream's retention limits (-1: none). */
export interface StreamLimits {
  maxAgeMs: number;
  maxBytes: number;
  maxMessages: number;
}

/** A live subscription; `unsubscribe()` is idempotent. */
export interface Sub {
  unsubscribe(): void;
}

export class Transport {
  /** The server's max_payload: no single message may be larger. */
  readonly maxPayload: number;
  private readonly statusListeners = new Set<(s: TransportStatus) => void>();

  private constructor(
    private readonly nc: NatsConnection,
    /** The connection's name, for messages. */
    private readonly connName = "this process",
    /** Where replies to this connection's requests arrive (TransportOptions.inboxPrefix). */
    private readonly inboxPrefix = "",
    /** False for a connection the embedding program shares with us ({@link Transport.wrap}): close() leaves it open. */
    private readonly owned = true,
  ) {
    this.maxPayload = nc.info?.max_payload ?? 1024 * 1024;
    void this.watchStatus();
    void nc.closed().then(() => {
      this.mux?.close();
      this.emit("closed");
    });
  }

  /**
   * Connects to NATS. Fails with {@link Errors.ConnectFailed} (unless `waitOnFirstConnect`). A
   * refused credential ({@link Errors.AuthFailed}) or a failed TLS check ({@link Errors.TlsFailed})
   * fails at once even with `waitOnFirstConnect`: retrying would only repeat the refusal.
   */
  static async connect(opts: TransportOptions): Promise<Transport> {
    const { servers, token, user, pass, tls } = credentials(opts.servers);
    const auth: NatsAuth = { ...opts.auth };
    if (opts.token ?? token) auth.token = opts.token ?? token;
    if (user !== undefined && auth.user === undefined && auth.token === undefined) (auth.user = user), (auth.password = pass);
    if (tls) auth.tls = true;
    checkAuth(auth);
    // Something else on that port: say so now, instead of a TIMEOUT after 20 s and a socket left open.
    const probe = await probeNats(servers[0]!);
    if (typeof probe === "object") throw Errors.NotNats(servers[0]!, probe.other);
    const shown = servers.join(",");
    const base: ConnectionOptions = {
      servers,
      name: opts.name,
      ...(opts.inboxPrefix ? { inboxPrefix: opts.inboxPrefix } : {}),
      ...securityOptions(auth, servers),
      // Servers in the order given (list the nearest NATS node first); nats.js would shuffle them.
      noRandomize: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: opts.reconnectTimeWaitMs ?? 250,
      reconnectJitter: 100,
      pingInterval: opts.pingIntervalMs ?? 5_000,
      maxPingOut: 2,
      noAsyncTraces: true,
      // Large batches are flushed by the client library as they come; keep its buffer generous.
      pedantic: false,
    };
    try {
      // One plain attempt first: a refusal (credentials, TLS) is final and reported now; only an
      // unreachable server is worth waiting for.
      return new Transport(await connect({ ...base, waitOnFirstConnect: false }), opts.name, opts.inboxPrefix);
    } catch (e) {
      const refused = refusal(e, shown, auth);
      if (refused) throw refused;
      if (!opts.waitOnFirstConnect) throw Errors.ConnectFailed(shown, (e as Error).message);
    }
    try {
      return new Transport(await connect({ ...base, waitOnFirstConnect: true }), opts.name, opts.inboxPrefix);
    } catch (e) {
      throw refusal(e, shown, auth) ?? Errors.ConnectFailed(shown, (e as Error).message);
    }
  }

  /** The in-process link this connection takes part in (runtime/link.ts), and on which side. */
  private link: Link | undefined;
  private linkSide: "server" | "client" | undefined;

  /**
   * Joins an in-process link (runtime/link.ts): as its `server` (the embedded scheduler's
   * connection: what it subscribes to without wildcards is also served through the link, and its
   * publishes to the client's link inboxes are handed over) or its `client` (the embedding
   * client's connection: its messages to subjects the server side serves, and their replies, take
   * the link). Subscriptions made before this call are not linked: join before subscribing.
   */
  joinLink(link: Link, side: "server" | "client"): void {
    this.link = link;
    this.linkSide = side;
  }

  /** Whether a message to `subject` from this connection now goes through the link. */
  linked(subject: string): boolean {
    return this.linkSide === "client" && this.link!.serves(subject);
  }

  /** Encodes and publishes. Throws {@link Errors.PayloadTooLarge} when the message exceeds max_payload. */
  send(subject: string, value: unknown, reply?: string): void {
    this.publish(subject, encode(value), reply);
  }

  /**
   * Publishes raw bytes. After close() the message is dropped and counted ({@link droppedAfterClose}):
   * nobody can hear it, and an answer that is ready only then (an upload still fanning out when an
   * embedded cluster shuts down) must not throw CONNECTION_CLOSED out of a handler's promise and
   * take the whole process down.
   */
  publish(subject: string, data: Uint8Array, reply?: string): void {
    if (data.byteLength > this.maxPayload) throw Errors.PayloadTooLarge(`A message on ${subject}`, data.byteLength, this.maxPayload);
    if (this.nc.isClosed()) return void this.droppedAfterClose++;
    if (this.link) {
      if (this.linkSide === "client" ? this.link.toServer(subject, data, reply) : this.link.toClient(subject, data)) return;
      if (reply && this.linkSide === "server" && this.link.needsBridge(reply)) this.bridge(reply);
    }
    if (HOP_TRACE) hopSent(subject, data.byteLength);
    this.nc.publish(subject, data, reply ? { reply } : undefined);
  }
  /** Answers on NATS to a link inbox (a request the scheduler passed on to an executor) go into the link. */
  private bridge(inbox: string) {
    const link = this.link!;
    const sub = this.nc.subscribe(inbox, { callback: (err, msg) => void (err || link.toClient(inbox, msg.data)) });
    link.bridged(inbox, () => sub.unsubscribe());
  }

  /** Messages published after close() and dropped (see {@link publish}). */
  droppedAfterClose = 0;

  /** Whether the server runs JetStream (its INFO says so): durable outputs need it. */
  get hasJetStream(): boolean {
    return (this.nc.info as { jetstream?: boolean } | undefined)?.jetstream === true;
  }

  /**
   * Makes sure a JetStream stream named `name` stores `subject` (limits retention, file storage,
   * oldest discarded first). An existing stream is left as it is (its limits may be someone's
   * choice); resolves "created" or "exists".
   */
  async ensureStream(name: string, subject: string, limits: StreamLimits): Promise<"created" | "exists"> {
    const jsm = await this.nc.jetstreamManager();
    try {
      await jsm.streams.info(name);
      return "exists";
    } catch (e) {
      if ((e as { api_error?: { code?: number } }).api_error?.code !== 404) throw e; // JetStream's "stream not found"
    }
    await jsm.streams.add({
      name,
      subjects: [subject],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: nanos(limits.maxAgeMs),
      max_bytes: limits.maxBytes,
      max_msgs: limits.maxMessages,
    });
    return "created";
  }

  /**
   * Publishes into JetStream and resolves once the stream has stored it. `msgID` makes a repeat
   * (a retried publish) a no-op within the stream's duplicate window.
   */
  async publishStored(subject: string, data: Uint8Array, msgID: string): Promise<void> {
    if (data.byteLength > this.maxPayload) throw Errors.PayloadTooLarge(`A message on ${subject}`, data.byteLength, this.maxPayload);
    await this.nc.jetstream().publish(subject, data, { msgID });
  }

  /**
   * Subscribes with a callback (cheaper than an async iterator on hot subjects). An error of the
   * subscription itself (the server refused it, e.g. a permissions violation) is never dropped:
   * it goes to `opts.onError` as {@link Errors.SubscriptionFailed}, else to stderr. `unlinked`: a
   * subject others listen on too (Route.fanOut) is not served through the in-process link, whose
   * client would then reach this subscriber alone. `ownInbox` (Route.ownInbox): only this client
   * listens on the subject, so what its embedded scheduler publishes there takes the link too.
   */
  subscribe(subject: string, handler: Handler, opts?: { queue?: string; unlinked?: boolean; ownInbox?: boolean; onError?: (e: TsDaskError) => void }): Sub {
    const sub: Subscription = this.nc.subscribe(subject, {
      queue: opts?.queue,
      callback: (err, msg) => {
        if (err) {
          const e = Errors.SubscriptionFailed(subject, this.connName, err.message);
          if (opts?.onError) opts.onError(e);
          else console.error(e.message);
          return;
        }
        if (!HOP_TRACE) return handler(msg.data, msg.reply, msg.subject);
        const done = hopReceived(msg.subject, msg.data.byteLength);
        handler(msg.data, msg.reply, msg.subject);
        done();
      },
    });
    const unlink =
      this.linkSide === "server" && !opts?.unlinked
        ? this.link!.serve(subject, handler)
        : this.linkSide === "client" && opts?.ownInbox
          ? this.link!.openInbox(subject, (data, _reply, s) => handler(data, undefined, s))
          : undefined;
    return {
      unsubscribe: () => {
        unlink?.();
        if (!sub.isClosed()) sub.unsubscribe();
      },
    };
  }

  /**
   * Request/reply with msgpack on both sides. Rejects on timeout ({@link Errors.NoReply}) or when
   * nobody listens ({@link Errors.NoResponders}). With `views`, typed arrays in the reply view it
   * (codec.ts decodeViews): for replies whose bytes the caller copies at once (a value's chunks).
   */
  request<T>(subject: string, value: unknown, timeoutMs: number, opts?: { views?: boolean }): Promise<T> {
    return this.requestWhere<T>(subject, value, timeoutMs, always, opts);
  }

  /**
   * A request whose answer must pass `accept`: every reply until the first accepted one (or the
   * timeout) is read. Any peer may answer a request on a shared NATS; with plain {@link request}
   * the fastest answer wins, a stranger's included. Replies that do not decode are skipped.
   * Replies arrive on the connection's one wildcard inbox subscription (runtime/reply-mux.ts), or
   * through the in-process link when the scheduler it embeds serves `subject`: no SUB/UNSUB per
   * request either way. A close while waiting rejects with {@link Errors.RequestClosed}. `value`
   * may be {@link Encoded} (bytes the caller encoded already, e.g. to check their size): sent as they are.
   */
  requestWhere<T>(subject: string, value: unknown, timeoutMs: number, accept: (reply: T) => boolean, opts?: { views?: boolean }): Promise<T> {
    const views = opts?.views === true;
    const take = (data: Uint8Array): { value: T } | undefined => {
      let r: T;
      try {
        r = views ? decodeViews<T>(data) : decode<T>(data);
      } catch {
        return undefined;
      }
      return accept(r) ? { value: r } : undefined;
    };
    const mux = this.replies();
    const linked = this.linked(subject);
    const req = mux.expect<T>(subject, timeoutMs, take, linked);
    // Through the in-process link when the scheduler it embeds serves the subject.
    if (linked) {
      const token = req.token;
      mux.onEnd(token, this.link!.openInbox(req.reply, (data) => mux.deliver(token, data)));
    }
    try {
      this.publish(subject, value instanceof Encoded ? value.bytes : encode(value), req.reply);
    } catch (e) {
      mux.fail(req.token, e instanceof TsDaskError ? e : Errors.NotSerializable(`A request on ${subject}`, (e as Error).message));
    }
    return req.answer;
  }

  private mux: ReplyMux | undefined;
  /** This connection's replies to its requests (made on first use). */
  private replies(): ReplyMux {
    return (this.mux ??= new ReplyMux(createInbox(this.inboxPrefix), createInbox(this.inboxPrefix), (subject, callback) => {
      const sub = this.nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err) return callback(err, undefined);
          if (HOP_TRACE) hopReceived(msg.subject, msg.data.length);
          callback(undefined, { subject: msg.subject, data: msg.data, noResponders: msg.data.length === 0 && msg.headers?.code === 503 });
        },
      });
      return { unsubscribe: () => void (sub.isClosed() || sub.unsubscribe()) };
    }, this.connName));
  }

  /**
   * Requests of this connection: waiting for their answer now, replies dropped because no request
   * waited for them any more (after a timeout, or a second answer), and wildcard inbox
   * subscriptions made (1 once a request went over NATS).
   */
  get requests(): { pending: number; lateReplies: number; inboxSubscriptions: number } {
    const m = this.mux;
    return { pending: m?.pending ?? 0, lateReplies: m?.late ?? 0, inboxSubscriptions: m?.subscriptions ?? 0 };
  }

  /** True when the error from {@link request} means "no subscriber", a timeout, or the connection closed while waiting. */
  static isNoAnswer(e: unknown): boolean {
    const code = (e as { code?: string })?.code;
    return code === "NoReply" || code === "NoResponders" || code === "RequestClosed";
  }

  /** True when the error from {@link request} means nobody subscribes the subject (its peer's connection is closed or closing). */
  static isNoResponders(e: unknown): boolean {
    return (e as { code?: string })?.code === "NoResponders";
  }

  /** True when the error from {@link request} means our own connection closed while it waited. */
  static isRequestClosed(e: unknown): boolean {
    return (e as { code?: string })?.code === "RequestClosed";
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

  /**
   * Uses a NATS connection the embedding program already has (nats.js v2 `connect()`), shared:
   * {@link close} flushes it but leaves it open (its owner closes it). Replies to our requests use
   * the connection's own inbox prefix.
   */
  static wrap(nc: NatsConnection, name = "this process"): Transport {
    return new Transport(nc, name, "", false);
  }

  /**
   * Another actor of this process on the same NATS connection (the embedding client beside its
   * scheduler, cluster/local.ts): one socket, so an executor's results for the client and its
   * completions for the scheduler arrive in one read, in the order sent. {@link close} of the
   * share flushes but leaves the connection to its owner.
   */
  share(name: string, inboxPrefix = ""): Transport {
    return new Transport(this.nc, name, inboxPrefix, false);
  }

  /** Flushes and closes (drain would wait for in-flight handlers; we stop them ourselves). */
  async close(): Promise<void> {
    this.mux?.close();
    if (this.nc.isClosed()) return;
    try {
      await this.nc.flush();
    } catch {
      /* the server may be gone already */
    }
    if (this.owned) await this.nc.close();
  }

  /** The server's address as connected, for messages. */
  get server(): string {
    return this.nc.getServer();
  }

  /**
   * The NATS node this connection is on now (protocol.ts `NatsNode`): the server's configured
   * `server_name`, else its address. Follows reconnects to another node of a NATS cluster.
   */
  get node(): string {
    const info = this.nc.info;
    const name = info?.server_name;
    return name && name !== info?.server_id ? name : this.nc.getServer();
  }

  private readonly refusedSubjects = new Set<string>();

  /** A subject the server's permissions refuse: said once per subject on stderr (nats.js would drop it silently). */
  private permissionRefused(s: { permissionContext?: { operation: string; subject: string } }) {
    const ctx = s.permissionContext;
    if (!ctx) return;
    const what = `${ctx.operation} ${ctx.subject}`;
    if (this.refusedSubjects.has(what)) return;
    this.refusedSubjects.add(what);
    console.error(Errors.PermissionRefused(this.nc.getServer(), this.connName, what).message);
  }

  private emit(s: TransportStatus) {
    for (const l of this.statusListeners) l(s);
  }

  private async watchStatus() {
    for await (const s of this.nc.status()) {
      // Debug events (pingTimer, reconnecting every wait) are noise here: keep the three that matter.
      if (s.type === "disconnect") this.emit("disconnected");
      else if (s.type === "reconnect") this.emit("reconnected");
      else if (s.type === "error") this.permissionRefused(s as { permissionContext?: { operation: string; subject: string } });
    }
  }
}

/** nats.js options for {@link NatsAuth}: secrets, authenticators, TLS (files read here). */
function securityOptions(auth: NatsAuth, servers: string[]): Partial<ConnectionOptions> {
  const o: Partial<ConnectionOptions> = {};
  if (auth.token !== undefined) o.token = auth.token;
  if (auth.user !== undefined) (o.user = auth.user), (o.pass = auth.password);
  if (auth.nkeySeedFile) o.authenticator = nkeyAuthenticator(new TextEncoder().encode(readFileSync(auth.nkeySeedFile, "utf8").trim()));
  if (auth.credsFile) o.authenticator = credsAuthenticator(new Uint8Array(readFileSync(auth.credsFile)));
  if (wantsTls(auth)) {
    // Node verifies the certificate's chain. Its name check gets the server's DNS name from nats.js,
    // but "localhost" for an IP address (nats.js passes no servername for IPs): check the
    // certificate against the hosts as given instead, IP addresses included.
    const hosts = servers.map((u) => hostOf(u)).filter((h): h is string => !!h);
    o.tls = {
      ...(auth.tlsCaFile ? { caFile: auth.tlsCaFile } : {}),
      ...(auth.tlsCertFile ? { certFile: auth.tlsCertFile, keyFile: auth.tlsKeyFile } : {}),
      checkServerIdentity: (_name: string, cert: Parameters<typeof checkServerIdentity>[1]) => {
        let first: Error | undefined;
        for (const h of hosts) {
          const err = checkServerIdentity(h, cert);
          if (!err) return undefined;
          first ??= err;
        }
        return first;
      },
    } as ConnectionOptions["tls"];
  }
  return o;
}
