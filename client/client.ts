/**
 * The client: submit/map/gather/asCompleted/wait/importModule over NATS, as Dask's `Client`.
 * It is an actor too: results arrive on `results.<clientId>` (→ onResults) and task console
 * output on `log.<clientId>` (→ onLog).
 */
import { dirname, resolve as resolvePath } from "node:path";
import { fileURLToPath } from "node:url";
import { Actor, consoleLogger, silentLogger } from "../runtime/actor.ts";
import { encode, findUnencodable } from "../runtime/codec.ts";
import { Errors, TaskError, TsDaskError } from "../runtime/errors.ts";
import { randomId } from "../runtime/ids.ts";
import type { RestartRequest, ClusterInfo, FnDef, InfoRequest, LogLines, ModuleDef, RegisterClient, RemoteError, RestartReply, SchedulerAlive, RegisterReply, Results } from "../runtime/protocol.ts";
import { bundleModule } from "../runtime/shipping/bundle.ts";
import { makeModuleHandle } from "../runtime/shipping/remote-ref.ts";
import { toFnDef } from "../runtime/shipping/index.ts";
import { clientScope, redactUrl } from "../runtime/nats-auth.ts";
import { clientIdOf, subjects } from "../runtime/protocol.ts";
import { routes } from "../runtime/routes.ts";
import { Outputs, type OutputStream } from "./outputs.ts";
import { Transport } from "../runtime/transport.ts";
import { ownDirs } from "../runtime/self.ts";
import { hello, versionWarning } from "../runtime/version.ts";
import { Future } from "./future.ts";
import { CANCELLED, ERROR, FINISHED, Job, JobIndex } from "./jobs.ts";
import { LostResultsWatch } from "./lost-results.ts";
import { startLocalCluster, type LocalClusterHandle, type LocalClusterOptions } from "../runtime/local-cluster.ts";
import { Submitter, type Piece } from "./submitter.ts";
import { createActor, type ActorRefFrom } from "xstate";
import { connectionMachine } from "./connection.machine.ts";
import { ScatteredValues } from "./scatter.ts";
import { nameOf, runOnExecutors, runOnScheduler } from "./remote-run.ts";
import { install, uploadFile, type InstallOptions, type InstallReport, type UploadReport } from "./uploads.ts";
import type { DataRef } from "../runtime/data-ref.ts";
import { asCompleted, wait } from "./waiting.ts";
import type { ClientOptions, DurableOptions, MapOptions, ReturnWhen, TaskOptions } from "./options.ts";
import { DEFAULT_MAX_VALUE_BYTES, LargeArgs, LargeResult, LargeResults } from "./large-values.ts";
import { checkArgs, checkMap } from "./arg-shapes.ts";
import type { Args, Iterables, Result } from "./wire-types.ts";
import { DedupTable, explicitKey, planMap, pureKey } from "./dedup.ts";
import { encodeLarge } from "../runtime/codec.ts";
import { newTicketSecret, TicketKey } from "../runtime/tickets.ts";
import { SchedulerWatch } from "../runtime/scheduler-watch.ts";
import { actorSubjects } from "../runtime/protocol.ts";
import { ActorClient, type ActorOptions, type ActorProxy } from "./actors.ts";
import { startupMark } from "../runtime/startup-trace.ts";

export type { ClientOptions, DurableOptions, MapOptions, ReturnWhen, TaskOptions } from "./options.ts";
export type { ActorOptions, ActorProxy } from "./actors.ts";

type AnyFn = (...args: any[]) => unknown;

// getWorker().client() (runtime/worker-context.ts) resolves to a Client: runtime/ cannot import it.
declare module "../runtime/worker-context.ts" {
  interface WorkerClientType {
    client: Client;
  }
}

export class Client extends Actor {
  /** `<random>`, or `<scope>.<random>` (protocol.ts clientIdOf; {@link ClientOptions.scope}). */
  readonly id: string;
  private readonly jobs = new JobIndex();
  private readonly submitter: Submitter;
  private nextKey = 0;
  private closed = false;
  /** Values scattered by this client (scatter.ts): identity cache, and what to upload again. */
  private readonly scattered: ScatteredValues;
  /** Large results held by the scheduler until gathered; `pure`/`key` deduplication. */
  private readonly largeResults: LargeResults;
  /** Named outputs (`{ publish }`): settled rows published for any subscriber (outputs.ts). */
  private readonly outputs: Outputs;
  /** Large arguments stored apart (their shared ones are restored for a restarted scheduler). */
  private readonly largeArgs: LargeArgs;
  private readonly dedup = new DedupTable();
  /** Functions already warned about an undefined argument (once each). */
  private readonly warnedUndefined = new Set<string>();
  /** Results received for futures already settled (re-runs after a failure): dropped, counted. */
  duplicates = 0;
  /** Set when the scheduler runs another ts-dask version (same protocol): the warning printed at connect ({@link Errors.VersionMismatch}). */
  versionWarning: string | undefined;
  /** Result rows that settled a future (each future's one result). */
  resolved = 0;
  /** Result rows received on this client's results subject, whatever became of them: each is then counted once as
   * {@link resolved}, {@link duplicates}, {@link forged}, or re-submitted under the call's `retries`. */
  received = 0;
  /** Result rows dropped for a missing or wrong ticket (forged, or not dispatched by our scheduler). */
  forged = 0;
  /** This client's token and result-ticket key, given to the scheduler at registration (issue 11). */
  private readonly auth = randomId(16);
  private readonly ticketSecret = newTicketSecret();
  private readonly tickets = new TicketKey(this.ticketSecret);
  private ticketBad = new Uint8Array(64);
  /** The scheduler followed; another one's beats are ignored while it lives (scheduler-watch.ts). */
  private readonly watch = new SchedulerWatch(3000);
  /** User actors this client created or looked up (actors.ts). */
  private readonly actorClient: ActorClient;

  private constructor(
    tx: Transport,
    cluster: string,
    private readonly local: LocalClusterHandle | undefined,
    /** The cap on one encoded value (see {@link ClientOptions.maxValueBytes}). */
    readonly maxValueBytes: number,
    scope: string | undefined,
  ) {
    super(tx, cluster, silentLogger);
    this.id = clientIdOf(randomId(), scope);
    const largeArgs = (this.largeArgs = new LargeArgs(tx, this.subjects, this.id, maxValueBytes, this.auth));
    this.largeResults = new LargeResults(tx, this.subjects, this.id, this.auth);
    this.outputs = new Outputs(tx, this.subjects, this.id, this.log);
    this.scattered = new ScatteredValues(tx, this.subjects, this.id, this.log, this.auth);
    this.actorClient = new ActorClient({ tx, subjects: actorSubjects(cluster), clientId: this.id, auth: this.auth, serve: (r, handler) => this.serve(r, handler) });
    this.submitter = new Submitter({
      offload: (p, size) => largeArgs.offload(p, size),
      rowBudget: largeArgs.budget,
      tx,
      subject: this.subjects.submit,
      clientId: this.id,
      auth: this.auth,
      accepts: (instance) => this.watch.accepts(instance),
      cancelRows: (job, rows) => this.cancelRows(job, rows),
      onUnsent: (rows, err) => {
        for (const { job, row } of rows) job.settle(row, ERROR, undefined, new TaskError(err.code ?? "TaskFailed", err.message, job.keyName(row), ""));
      },
    });
  }

  /**
   * Connects to a cluster. With no address, starts a private one on this machine (nats-server on
   * a free loopback port, a scheduler, and a worker with one executor per core), stopped by
   * {@link close}.
   *
   * @example
   * const client = await Client.connect();                         // private local cluster
   * const client = await Client.connect("nats://10.0.0.5:4222");   // a running cluster
   */
  static async connect(address?: string, opts: ClientOptions = {}): Promise<Client> {
    startupMark("client", "connect");
    let local: LocalClusterHandle | undefined;
    let servers = address;
    let cluster = opts.cluster ?? "default";
    let token = opts.token;
    const cap = opts.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
    if (!(Number.isInteger(cap) && cap > 0)) throw Errors.BadOption("maxValueBytes", opts.maxValueBytes, "a whole number of bytes > 0");
    if (!servers) {
      // Its only client is this process, which a long synchronous stretch of the script can keep
      // from renewing its lease (the cluster dies with the process anyway): a long grace period.
      local = await startLocalCluster({ clientGraceMs: 60_000, ...opts.local, quiet: opts.local?.quiet ?? true });
      servers = local.url;
      cluster = local.cluster;
      token = local.token;
    }
    try {
      const auth = local ? undefined : opts.auth;
      const scope = local ? undefined : clientScope(opts.scope, auth, servers);
      const tx = await Transport.connect({ servers, token, auth, inboxPrefix: subjects(cluster).inboxOf(scope), name: "ts-dask client" });
      const c = new Client(tx, cluster, local, cap, scope);
      await c.start(servers, opts);
      startupMark("client", "connected");
      return c;
    } catch (e) {
      await local?.stop();
      throw e;
    }
  }

  /** The client's logger is silent (bad input is only counted), but a lost subscription is said aloud. */
  protected override onSubscriptionError(e: TsDaskError): void {
    super.onSubscriptionError(e);
    console.error(e.message);
  }

  private async start(servers: string, opts: ClientOptions) {
    this.serve(routes.results.at(this.id), (m) => this.onResults(m));
    this.serve(routes.alive, (m) => {
      // Another instance, ours silent for the dead window: register there now. The move (and its
      // one re-submission) happens when it answers (renewLease); a rival's beats change nothing.
      if (this.watch.alive(m.instance) === "new" && this.watch.current) this.renewLease();
    });
    this.tx.onStatus((st) => {
      if (st === "disconnected") this.connection?.send({ type: "DISCONNECTED" });
      if (st === "reconnected") this.connection?.send({ type: "RECONNECTED" });
    });
    if (opts.forwardLogs !== false) this.serve(routes.log.at(this.id), (m) => this.onLog(m));
    let r: RegisterReply;
    try {
      r = await this.tx.request<RegisterReply>(this.subjects.register, this.registration(), opts.connectTimeoutMs ?? 5000);
    } catch (e) {
      await this.tx.close();
      if (Transport.isNoAnswer(e)) throw Errors.NoScheduler(this.cluster, redactUrl(servers));
      throw e;
    }
    if (!r.ok) {
      await this.tx.close();
      // The scheduler's refusal, under its own code (ProtocolMismatch, ClientIdTaken…).
      throw new TsDaskError(r.code, r.message);
    }
    this.watch.adopt(r.scheduler);
    this.watch.heartbeat(r.heartbeatMs);
    this.versionWarning = versionWarning("This client", hello(), r.hello);
    if (this.versionWarning) console.warn(this.versionWarning);
    // Created only once registered: a machine left running after a failed connect would keep
    // its (never firing) give-up timer, and the process, alive.
    this.connection = createActor(
      connectionMachine.provide({
        actions: {
          resubmitPending: () => this.resubmitPending("reconnected"),
          failPending: ({ context }) => this.failPending(context.reason),
        },
      }),
      { input: { giveUpAfterMs: opts.giveUpAfterMs } },
    );
    this.connection.subscribe({ complete: () => void this.close() });
    this.connection.start();
    this.connection.send({ type: "CONNECTED" });
    this.leaseEvery(r.leaseMs);
  }

  /**
   * Renews the lease a few times within the scheduler's grace period (every second for the default
   * 5 s, every 15 s for a private cluster's 60 s): each renewal is a round trip that wakes three
   * processes. A scheduler's restart is heard from its `alive` beats at once, not from a renewal.
   */
  private leaseEvery(graceMs: number | undefined) {
    const ms = Math.min(MAX_LEASE_RENEW_MS, Math.max(LEASE_RENEW_MS, Math.floor((graceMs ?? 0) / 4)));
    if (this.leaseTimer && ms === this.leaseMs) return;
    clearInterval(this.leaseTimer);
    clearTimeout(this.reportTimer);
    this.leaseMs = ms;
    this.leaseTimer = setInterval(() => this.renewLease(), ms);
    this.leaseTimer.unref();
  }

  private reportTimer: NodeJS.Timeout | undefined;
  /**
   * Renews within a second when there is news for the scheduler (forged rows: info, metrics and
   * events show them), however long the lease's period.
   */
  private reportSoon() {
    if (this.reportTimer || this.closed) return;
    this.reportTimer = setTimeout(() => {
      this.reportTimer = undefined;
      this.renewLease();
    }, LEASE_RENEW_MS);
    this.reportTimer.unref();
  }

  /** Re-registers (the client's lease). A scheduler that did not know us lost our work: re-submit it. */
  private renewLease() {
    if (this.closed) return;
    this.tx
      // Only our scheduler's answer, or a new one's once ours is silent, is believed.
      .requestWhere<RegisterReply>(this.subjects.register, this.registration(), LEASE_RENEW_MS * 2, (r) => r?.ok === true && this.watch.accepts(r.scheduler))
      .then((r) => {
        if (!r.ok) return;
        // A move re-submits even if the new scheduler already saw us: its `fresh` may have gone
        // to an answer we did not believe yet (while the old one still beat).
        const moved = this.watch.adopt(r.scheduler);
        this.watch.heartbeat(r.heartbeatMs);
        this.leaseEvery(r.leaseMs);
        // A new scheduler knows none of the actors: their hosts ended them when they followed it.
        if (moved && !this.closed) this.actorClient.endAll("the scheduler restarted (actors do not survive it)");
        if (!moved && !r.fresh && this.lostResults.observe(this.waitingRows(), typeof r.held === "number" ? r.held : undefined, this.submitter.isIdle)) {
          this.resubmitPending("results the scheduler sent never arrived (it holds fewer of our tasks than we wait for)");
        }
        if ((moved || r.fresh) && !this.closed) {
          this.submitter.forgetDefinitions();
          this.largeArgs.restoreShared();
          void this.scattered.uploadAgain().then(() => {
            this.resubmitPending("the scheduler did not know this client (restarted, or the lease had expired)");
            // Executors keep what they have; this is for workers that join the new scheduler later.
            return this.replayUploads();
          });
        }
      })
      .catch(() => {}); // no scheduler right now: the next renewal tries again
  }

  private leaseTimer: NodeJS.Timeout | undefined;
  private leaseMs = LEASE_RENEW_MS;

  private registration(): RegisterClient {
    return { kind: "client", hello: hello(), id: this.id, auth: this.auth, secret: this.ticketSecret, maxValueBytes: this.maxValueBytes, nats: this.tx.node, ...(this.forged ? { forged: this.forged } : {}) };
  }

  /** The private cluster started by `connect()` with no address (undefined otherwise). */
  get localCluster(): LocalClusterHandle | undefined {
    return this.local;
  }

  /** The NATS address of the cluster (the embedded one's when started by connect()). */
  get address(): string {
    return this.local?.url ?? this.tx.server;
  }

  // --- submit / map ---------------------------------------------------------------------------

  /**
   * Runs `fn(...args)` on the cluster. `fn` is a self-contained function (it travels by source)
   * or an export of {@link importModule} (by reference).
   * @throws `ClosureCaptured` / `FunctionNotShippable` / `NotSerializable` before anything is sent.
   */
  submit<F extends AnyFn>(fn: F, ...args: Args<Parameters<F>>): Future<Result<F>> {
    this.assertOpen();
    const { fn: def, module } = toFnDef(fn);
    const values = args.map((a) => (a instanceof Future ? null : a));
    checkArgs(values, nameOf(def), this.warnedUndefined);
    let encoded: Uint8Array;
    try {
      encoded = encode(values);
    } catch (e) {
      throw Errors.NotSerializable(`An argument of ${def.kind === "src" ? def.name || "the function" : def.exportName}`, findUnencodable(args, "args") ?? (e as Error).message);
    }
    // Sizes are known from the encode above: large ones travel apart (LargeArgs), too large ones fail now.
    if (encoded.byteLength > this.maxValueBytes) {
      args.forEach((a, i) => {
        const size = a instanceof Future ? 0 : encodeLarge(a).byteLength;
        if (size > this.maxValueBytes) throw Errors.ValueTooLarge(`Argument ${i + 1} of ${nameOf(def)}`, size, this.maxValueBytes);
      });
    }
    const o = this.defaults;
    let dk: string | undefined;
    if (o.pure || o.key !== undefined) {
      dk = o.key === undefined ? pureKey(def.hash, args, encoded) : explicitKey(typeof o.key === "function" ? String(o.key(...args)) : String(o.key));
      const hit = this.dedup.get(dk);
      if (hit) return new Future<Result<F>>(this, hit.job, hit.row);
    }
    const job = this.newJob(1, nameOf(def), o);
    if (dk) this.dedup.set(dk, job, 0);
    if (o.publish !== undefined) this.outputs.attach(job, o.publish);
    const piece = { job, fn: def, module, cols: args.map((a) => [a]), timeout: o.timeout, priority: o.priority, resources: o.resources };
    if (args.some((a) => a instanceof Future)) this.afterDependencies(job, piece, args as unknown[]);
    else this.launch(job, piece);
    return new Future<Result<F>>(this, job, 0);
  }

  /**
   * Applies `fn` to every item (or to items of several iterables in lockstep, as Dask's map).
   * Returns one Future per item, in input order. Items travel in batches; each is its own task.
   *
   * @example
   * const futures = client.map((x: number) => x * x, [1, 2, 3]);
   * await client.gather(futures); // [1, 4, 9]
   */
  // Typed so that what is passed matches what the function takes: one iterable per parameter, or
  // with `{ args }` the leading parameters from iterables and the rest from `args`.
  map<P extends unknown[], R>(fn: (...a: P) => R, ...iterables: Iterables<P>): Future<Result<(...a: P) => R>>[];
  map<P extends unknown[], A extends unknown[], R>(fn: (...a: [...P, ...A]) => R, ...rest: [...Iterables<P>, MapOptions & { args: Args<A> }]): Future<Result<(...a: P) => R>>[];
  map<P extends unknown[], R>(fn: (...a: P) => R, ...rest: [...Iterables<P>, MapOptions]): Future<Result<(...a: P) => R>>[];
  /** A function of no parameters, called once per item (the item is not passed). */
  map<R>(fn: () => R, items: ArrayLike<unknown> | Iterable<unknown>, opts?: MapOptions): Future<Result<() => R>>[];
  map<F extends AnyFn>(fn: F, ...iterables: (ArrayLike<unknown> | Iterable<unknown> | MapOptions | undefined)[]): Future<Result<F>>[] {
    this.assertOpen();
    let opts: MapOptions = {};
    const last = iterables[iterables.length - 1];
    if (last === undefined) iterables = iterables.slice(0, -1);
    else if (!isIterableLike(last)) {
      opts = last as MapOptions;
      iterables = iterables.slice(0, -1);
    }
    const cols = (iterables as (ArrayLike<unknown> | Iterable<unknown>)[]).map((it) => (isArrayLike(it) ? it : Array.from(it as Iterable<unknown>)));
    if (cols.length === 0) throw Errors.BadOption("map(fn, …iterables)", "no iterables", "at least one array or iterable of arguments");
    const n = Math.min(...cols.map((c) => c.length));
    const { fn: def, module } = toFnDef(fn);
    checkMap(cols, opts, nameOf(def), this.warnedUndefined);
    if (opts.args?.length) {
      try {
        encode(opts.args);
      } catch (e) {
        throw Errors.NotSerializable("map(…, { args })", findUnencodable(opts.args, "args") ?? (e as Error).message);
      }
    }
    if (opts.priority !== undefined && !Number.isFinite(opts.priority)) throw Errors.BadOption("priority", opts.priority, "a finite number (higher runs first)");
    checkResources(opts.resources);
    const o = { ...this.defaults, ...opts };
    if (o.publish !== undefined) {
      this.outputs.check(o.publish, o.durable);
      if (o.pure || o.key !== undefined) throw Errors.BadOption("map(…, { publish })", o.publish, "no publish together with pure or key (shared rows have no single index)");
    }
    // A copy: a large shared argument is swapped for its reference in place (LargeArgs).
    const consts = opts.args?.length ? [...opts.args] : undefined;
    if (o.pure || o.key !== undefined) return this.mapDeduplicated<Result<F>>(def, module, cols, n, consts, o);
    const job = this.newJob(n, nameOf(def), o);
    if (o.publish !== undefined) this.outputs.attach(job, o.publish);
    this.launch(job, { job, fn: def, module, cols, consts, timeout: o.timeout, priority: o.priority, resources: o.resources });
    const out = new Array<Future<Result<F>>>(n);
    for (let i = 0; i < n; i++) out[i] = new Future<Result<F>>(this, job, i);
    return out;
  }

  /** map() with `pure` or `key`: rows already alive (or repeated in this call) share one task. */
  private mapDeduplicated<T>(def: FnDef, module: ModuleDef | undefined, cols: ArrayLike<unknown>[], n: number, consts: unknown[] | undefined, o: MapOptions): Future<T>[] {
    const key = o.key;
    if (key !== undefined && typeof key !== "function") throw Errors.BadOption("map(…, { key })", key, "a function of the row's arguments returning a string");
    const rowArgs = (i: number) => cols.map((c) => c[i]);
    const keyOf = (i: number) => {
      if (key) return explicitKey(String(key(...rowArgs(i))));
      try {
        return pureKey(def.hash, consts ? [...rowArgs(i), ...consts] : rowArgs(i));
      } catch {
        return `x:${randomId(8)}`; // not encodable: its own task, which fails with NotSerializable
      }
    };
    const plan = planMap(this.dedup, n, keyOf);
    const job = this.newJob(plan.unique.length, nameOf(def), o);
    this.launch(job, { job, fn: def, module, cols: cols.map((c) => plan.unique.map((i) => c[i])), consts, timeout: o.timeout, priority: o.priority, resources: o.resources });
    plan.keys.forEach((k, u) => this.dedup.set(k, job, u));
    return plan.target.map((t) => (typeof t === "number" ? new Future<T>(this, job, t) : new Future<T>(this, t.job, t.row)));
  }

  /**
   * The same client with task options applied to every submit/map made through it.
   * @example
   * const f = client.with({ retries: 2, timeout: 5_000 }).submit(flaky, 1);
   */
  with(opts: TaskOptions): Client {
    if (opts.timeout !== undefined && !(opts.timeout > 0)) throw Errors.BadOption("timeout", opts.timeout, "a positive number of milliseconds");
    if (opts.priority !== undefined && !Number.isFinite(opts.priority)) throw Errors.BadOption("priority", opts.priority, "a finite number (higher runs first)");
    if (opts.retries !== undefined && !(Number.isInteger(opts.retries) && opts.retries >= 0)) throw Errors.BadOption("retries", opts.retries, "a whole number ≥ 0");
    checkResources(opts.resources);
    if (opts.pure !== undefined && typeof opts.pure !== "boolean") throw Errors.BadOption("pure", opts.pure, "true or false");
    if (opts.publish !== undefined) this.outputs.check(opts.publish, opts.durable);
    else if (opts.durable) throw Errors.BadOption("durable", opts.durable, "together with publish (durable stores a named output)");
    if (opts.key !== undefined && typeof opts.key !== "string" && typeof opts.key !== "function") throw Errors.BadOption("key", opts.key, "a string, or a function of the arguments returning one");
    // A view: every read and write goes to this client (one key counter, one job table), except
    // `defaults`. (Object.create would give the view its own copy of each field it assigns.)
    const defaults = { ...this.defaults, ...opts };
    return new Proxy(this, { get: (target, p) => (p === "defaults" ? defaults : Reflect.get(target, p, target)) });
  }

  private defaults: TaskOptions = {};

  /**
   * Futures as arguments: the task is submitted once they are all done, with their values in
   * their places (the values pass through this client). A failed dependency fails the task with
   * `DependencyFailed`, its error as the cause.
   */
  private afterDependencies(job: Job, piece: Omit<Piece, "from" | "to">, args: unknown[]) {
    const deps = args.filter((a): a is Future => a instanceof Future);
    // Settled, not fetched: a large result stays in the scheduler and goes on as its DataRef.
    const settled = (d: Future) => new Promise<void>((res, rej) => d.job.onSettled(d.index, (j, i) => (j.errors.has(i) ? rej(j.errors.get(i)) : res())));
    void Promise.all(deps.map(settled)).then(
      () => {
        if (job.status[0] !== 0 || this.closed) return;
        // An ungathered large result goes on as its DataRef: scheduler → executor, not through here.
        let values: unknown[];
        try {
          values = args.map((a) => (a instanceof Future ? this.largeResults.forDependency(a.job, a.index, job) : a));
        } catch (e) {
          return void job.settle(0, ERROR, undefined, Errors.DependencyFailed(job.keyName(0), e as TaskError));
        }
        this.launch(job, { ...piece, cols: values.map((v) => [v]) });
      },
      (cause: TaskError) => {
        job.settle(0, ERROR, undefined, Errors.DependencyFailed(job.keyName(0), cause));
      },
    );
  }

  private launch(job: Job, piece: Omit<Piece, "from" | "to">) {
    job.piece = piece;
    this.submitter.add({ ...piece, from: 0, to: job.size });
  }

  /**
   * @internal A named output fed by the caller (the workloads' `publish`): reserves one task key
   * as the call's `job` number. `total`: rows in the call, -1 when unknown.
   */
  openOutput(name: string, total: number, durable?: boolean | DurableOptions): OutputStream {
    this.assertOpen();
    this.outputs.check(name, durable);
    const job = this.nextKey++;
    return this.outputs.stream(name, job, total);
  }

  private newJob(n: number, name: string, opts: TaskOptions = {}): Job {
    const job = new Job(this.nextKey, n, name);
    job.retries = opts.retries ?? 0;
    this.nextKey += n;
    if (this.nextKey > 0xfffffff0) throw Errors.KeySpaceExhausted();
    this.jobs.add(job);
    return job;
  }

  // --- results --------------------------------------------------------------------------------

  private onResults(m: Results) {
    // Every row must carry the ticket our scheduler issued for it (runtime/tickets.ts): one cipher call per message.
    const n = m.keys.length;
    this.received += n;
    if (this.ticketBad.length < n) this.ticketBad = new Uint8Array(n);
    const bad = this.ticketBad;
    const failures = this.tickets.verify(m.keys, m.tickets, bad);
    if (failures < 0) {
      this.forged += n;
      this.reportSoon();
      return this.dropped("results: no valid tickets");
    }
    if (failures > 0) {
      this.forged += failures;
      this.reportSoon();
      this.dropped("results: rows with a wrong ticket");
    }
    const errs = m.errors?.length ? new Map(m.errors.map((e) => [e.i, e])) : undefined;
    let settledJobs = false;
    for (let i = 0; i < n; i++) {
      if (failures > 0 && bad[i]) {
        bad[i] = 0;
        continue;
      }
      const key = m.keys[i]!;
      const job = this.jobs.find(key);
      if (!job) {
        this.duplicates++;
        if (m.large?.includes(i)) this.largeResults.discard(key, m.values[i]);
        continue;
      }
      const row = key - job.base;
      const e = errs?.get(i);
      if (e && (e.code === "" || e.code === "TaskTimeout") && job.status[row] === 0 && job.takeRetry(row)) {
        this.submitter.add({ ...job.piece!, from: row, to: row + 1 });
        continue;
      }
      const ok = e
        ? job.settle(row, ERROR, undefined, remoteError(job, row, m.worker, e))
        : job.settle(row, FINISHED, m.large && m.large.includes(i) && job.status[row] === 0 ? this.largeResults.adopt(job, row, m.values[i]) : m.values[i]);
      if (!ok) {
        this.duplicates++;
        if (m.large?.includes(i)) this.largeResults.discard(key, m.values[i]);
      } else this.resolved++;
      if (job.remaining === 0) settledJobs = true;
    }
    if (settledJobs) this.jobs.prune();
  }

  private onLog(m: LogLines) {
    for (const [stream, text] of m.lines) {
      const line = `(${m.worker}) ${text}`;
      if (stream === 2) process.stderr.write(line + "\n");
      else process.stdout.write(line + "\n");
    }
  }

  /**
   * Uploads and installs made through this client, in order, to be made again for a scheduler
   * that restarted (it keeps them in memory only, to replay them to workers that join later).
   */
  private readonly replays = new Map<string, () => Promise<unknown>>();

  /** Repeats this client's uploadFile/install calls for a new scheduler (executors that have them skip them). */
  private async replayUploads() {
    for (const [what, send] of this.replays) {
      try {
        await send();
      } catch (e) {
        this.log.warn(`could not repeat ${what.replace(":", " ")} for the new scheduler: ${(e as Error).message}`);
      }
    }
  }

  /**
   * After a connection loss or a scheduler restart, results or submissions may have been lost:
   * every row without a result is submitted again, marked so the scheduler skips rows it still
   * holds. A row may then run twice; its future still resolves once (the later result is dropped
   * and counted in {@link duplicates}).
   */
  private resubmitPending(why: string) {
    if (this.closed) return;
    let n = 0;
    for (const job of this.jobs.pending()) {
      if (!job.piece) continue;
      for (let i = 0; i < job.size; ) {
        if (job.status[i] !== 0) {
          i++;
          continue;
        }
        let j = i;
        while (j < job.size && job.status[j] === 0) j++;
        this.submitter.add({ ...job.piece, from: i, to: j, resync: true });
        n += j - i;
        i = j;
      }
    }
    this.resubmitted += n;
    if (n) this.log.info(`${why}: re-submitted ${n} pending task(s)`);
  }

  /** The connection's lifecycle (client/connection.machine.ts). */
  private connection: ActorRefFrom<typeof connectionMachine> | undefined;

  private failPending(reason: string | null) {
    for (const job of this.jobs.pending()) {
      job.failPending((i) => Errors.ClientClosed(job.keyName(i), reason ?? undefined));
    }
  }

  /** Rows re-submitted after connection losses, scheduler restarts or lost results. */
  resubmitted = 0;
  private readonly lostResults = new LostResultsWatch();

  /** Rows of submitted jobs without a result yet (what {@link resubmitPending} would send again). */
  private waitingRows(): number {
    let n = 0;
    for (const job of this.jobs.pending()) if (job.piece) n += job.remaining;
    return n;
  }

  // --- gather / wait / asCompleted ------------------------------------------------------------

  /**
   * Waits for futures and returns their values in the same order. With `errors: "raise"`
   * (default) rejects with the first failed task's error; with `"skip"` leaves failed ones out.
   */
  async gather<T>(futures: readonly Future<T>[], opts?: { errors?: "raise" | "skip" }): Promise<T[]>;
  async gather<T>(future: Future<T>): Promise<T>;
  async gather<T>(futures: readonly Future<T>[] | Future<T>, opts: { errors?: "raise" | "skip" } = {}): Promise<T[] | T> {
    if (futures instanceof Future) return futures.result();
    if (!Array.isArray(futures) || !futures.every((f) => f instanceof Future)) throw Errors.BadOption("gather(futures)", futures, "a Future or an array of Futures");
    await Promise.all([...new Set(futures.map((f) => f.job))].map((j) => j.done()));
    const out: T[] = [];
    let fetches: Promise<void>[] | undefined;
    for (const f of futures) {
      const e = f.job.errors.get(f.index);
      if (e) {
        if (opts.errors === "skip") continue;
        throw e;
      }
      const v = f.job.values[f.index];
      if (f.job.large && v instanceof LargeResult) {
        // Held by the scheduler until now: fetched (once) and released there.
        const at = out.length;
        (fetches ??= []).push(Promise.resolve(this.largeResults.value(f.job, f.index)).then((x) => void (out[at] = x as T)));
      }
      out.push(v as T);
    }
    if (fetches) await Promise.all(fetches);
    return out;
  }

  /** Yields each future as it completes (finished, failed or cancelled), in completion order. */
  asCompleted<T>(futures: readonly Future<T>[]): AsyncGenerator<Future<T>> {
    return asCompleted(futures);
  }

  /**
   * Waits until all (`ALL_COMPLETED`), any (`FIRST_COMPLETED`) or the first failed
   * (`FIRST_EXCEPTION`) of the futures is done, or until `timeoutMs`. Returns `{ done, notDone }`.
   */
  wait<T>(futures: readonly Future<T>[], opts: { returnWhen?: ReturnWhen; timeoutMs?: number } = {}): Promise<{ done: Future<T>[]; notDone: Future<T>[] }> {
    return wait(futures, opts);
  }

  // --- modules --------------------------------------------------------------------------------

  /**
   * Bundles a side-effect-free module (its local imports included, npm imports left to the
   * workers' installed packages) and returns a typed handle whose exports can be passed to
   * submit/map; they run on the workers. The module is sent once per executor.
   *
   * @param path relative to `from` (default: the calling file's directory, else the cwd)
   * @example
   * const procs = await client.importModule<typeof import("./procs.ts")>("./procs.ts");
   * const scores = client.map(procs.score, candidates);
   */
  async importModule<T>(path: string, opts: { from?: string } = {}): Promise<T> {
    const base = opts.from ? dirOf(opts.from) : callerDir() ?? process.cwd();
    const mod = await bundleModule(resolvePath(base, path), base);
    return makeModuleHandle<T>(mod, mod.exports);
  }

  // --- code and packages on the workers -------------------------------------------------------

  /**
   * Uploads a module or package to every executor, now and whenever one joins or restarts later
   * (as Dask's `upload_file`). `path`: a `.ts`/`.js`/`.mjs` file (imported by its base name), a
   * folder with a package.json (its `name`; node_modules and .git are skipped), or a `.zip`/`.tgz`
   * of such a folder. Tasks then `await import("my_module")`, and modules loaded with
   * {@link importModule} may import it too. Uploading a changed version replaces the old one
   * everywhere, its sibling modules included (each version has its own content-hashed directory);
   * executors that had the old version are then restarted gracefully so it leaves their memory.
   * Resolves when every current executor has it; rejects with `UploadFailed` naming the executors
   * that failed (`error.report` has every executor's outcome), `UnsafeArchivePath` for an archive
   * with entries outside its folder, `BadUpload` for anything else that cannot be uploaded.
   *
   * @param path relative to `from` (default: the calling file's directory, else the cwd)
   * @example
   * await client.uploadFile("./my_module");           // a folder with package.json + index.ts
   * const r = await client.submit(async (x: number) => (await import("my_module")).foo(x), 2).result();
   */
  async uploadFile(path: string, opts: { from?: string; timeoutMs?: number } = {}): Promise<UploadReport> {
    this.assertOpen();
    const base = opts.from ? dirOf(opts.from) : callerDir() ?? process.cwd();
    const send = () => uploadFile({ tx: this.tx, subjects: this.subjects, client: this.id, auth: this.auth }, resolvePath(base, path), opts.timeoutMs ?? 180_000);
    const report = await send();
    this.replays.set(`upload:${report.name}`, send);
    return report;
  }

  /**
   * Runs `npm install <specs>` on every worker, once per machine and local directory (workers that
   * share a `--local-directory` take turns, and the second finds it done), and on every worker that
   * joins later, before its executors start. Tasks then `await import("mathjs")`. A spec naming an
   * existing package file on this machine (`./pkg-1.0.0.tgz`) is sent to the workers; other specs
   * (`"mathjs@13"`) go to npm as they are. Resolves with each worker's outcome; rejects with
   * `InstallFailed` naming the workers that failed with the tail of npm's output (`error.report`
   * has every worker's outcome).
   *
   * @example
   * const report = await client.install(["mathjs@13"]);   // { MyWorker: { ok: true, npm: true, version: "13.2.3", … } }
   */
  async install(specs: string | readonly string[], opts: InstallOptions & { from?: string } = {}): Promise<InstallReport> {
    this.assertOpen();
    const base = opts.from ? dirOf(opts.from) : callerDir() ?? process.cwd();
    const list = typeof specs === "string" ? [specs] : [...specs];
    const send = () => install({ tx: this.tx, subjects: this.subjects, client: this.id, auth: this.auth }, list, opts, (p) => resolvePath(base, p));
    const report = await send();
    this.replays.set(`install:${JSON.stringify(list)}`, send);
    return report;
  }

  // --- scattered data -------------------------------------------------------------------------

  /**
   * Stores a value once in the cluster and returns a {@link DataRef} to pass as an argument
   * instead of the value: each executor fetches it once and hands the same decoded value to every
   * task that names it. Scattering the same object (or equal bytes) twice sends it once.
   * `broadcast: true` makes every executor fetch it now rather than on first use.
   * The client keeps a reference to the value until {@link release}: if the scheduler restarts
   * (it holds scattered values in memory), the client uploads it again before re-submitting.
   *
   * @example
   * const ref = await client.scatter(new Float64Array(10_000_000));
   * const scores = client.map(score, candidates, { args: [ref] });
   */
  scatter<T>(value: T, opts: { broadcast?: boolean } = {}): Promise<DataRef<T>> {
    this.assertOpen();
    return this.scattered.scatter(value, !!opts.broadcast);
  }

  /** Lets the cluster drop scattered values this client no longer needs (one ref or several). */
  release(refs: DataRef | readonly DataRef[]): void {
    this.scattered.release(Array.isArray(refs) ? refs : [refs as DataRef]);
  }

  // --- cancel / info / close ------------------------------------------------------------------

  /** @internal A settled row's value; a large result is fetched from the scheduler (once). */
  rowValue(job: Job, row: number): unknown {
    return this.largeResults.value(job, row);
  }

  /** @internal future.release(). */
  releaseRow(job: Job, row: number): void {
    this.largeResults.release(job, row);
    this.dedup.drop(job, row);
  }

  /** @internal Cancels rows whose futures were already settled as cancelled. */
  cancelRows(job: Job, rows: number[]): void {
    const known = rows.filter((r) => job.slots[r] !== 0xffffffff);
    if (!known.length || this.closed) return;
    this.tx.send(this.subjects.cancel, {
      client: this.id,
      auth: this.auth,
      slots: Uint32Array.from(known, (r) => job.slots[r]!),
      keys: Uint32Array.from(known, (r) => job.base + r),
    });
  }

  /**
   * Runs `fn(...args)` once on every executor, outside the task queue (as Dask's `client.run`),
   * e.g. to warm a cache or ask each process something. Resolves with the values by executor
   * name; rejects with the first executor's error (a TaskError naming it).
   * @example
   * const versions = await client.run(() => process.version); // { "MyWorker-0": "v20.…", … }
   */
  async run<F extends AnyFn>(fn: F, ...args: Parameters<F>): Promise<Record<string, Result<F>>> {
    return this.runOn(undefined, fn, ...args);
  }

  /** {@link run} on the named executors only (all when `names` is undefined). */
  async runOn<F extends AnyFn>(names: readonly string[] | undefined, fn: F, ...args: Parameters<F>): Promise<Record<string, Result<F>>> {
    this.assertOpen();
    const all = (await this.info()).workers.flatMap((w) => w.executors);
    const execs = all.filter((e) => !names || names.includes(e.name));
    const unknown = names?.filter((n) => !all.some((e) => e.name === n)) ?? [];
    if (unknown.length) throw Errors.BadOption("runOn(names)", unknown, `names of current executors (${all.map((e) => e.name).join(", ") || "none"})`);
    return (await runOnExecutors(this.tx, this.subjects, { client: this.id, auth: this.auth }, execs, fn, args)) as Record<string, Result<F>>;
  }

  /**
   * Runs `fn(...args)` once in the scheduler's process, outside the task queue (as Dask's
   * `run_on_scheduler`), and resolves with its value (awaited if it is a promise). `fn` travels as
   * for submit (by source, or a module export by reference). A throw rejects with a `TaskError`
   * (`TaskFailed`, worker `scheduler`) carrying the remote stack. Keep it short: the scheduler
   * handles nothing else while synchronous code runs. The value must fit in one message.
   * @example
   * const pid = await client.runOnScheduler(() => process.pid);
   */
  async runOnScheduler<F extends AnyFn>(fn: F, ...args: Parameters<F>): Promise<Result<F>> {
    this.assertOpen();
    return (await runOnScheduler(this.tx, this.subjects, { client: this.id, auth: this.auth }, fn, args)) as Result<F>;
  }

  /**
   * Restarts every executor process of the cluster (fresh memory, modules loaded again) and fails
   * this client's pending futures with `Restarted`. Resolves when the executors are back.
   */
  async restart(opts: { timeoutMs?: number } = {}): Promise<void> {
    this.assertOpen();
    for (const job of this.jobs.pending()) {
      const rows: number[] = [];
      for (let i = 0; i < job.size; i++) if (job.status[i] === 0 && job.settle(i, ERROR, undefined, Errors.Restarted(job.keyName(i)))) rows.push(i);
      this.cancelRows(job, rows);
    }
    this.jobs.prune();
    const before = await this.info();
    const count = before.workers.reduce((a, w) => a + w.executors.length, 0);
    const { executors: old } = await this.tx.request<RestartReply>(this.subjects.restart, { client: this.id, auth: this.auth } satisfies RestartRequest, 5000);
    const gone = new Set(old);
    const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
    for (;;) {
      const now = (await this.info()).workers.flatMap((w) => w.executors);
      if (now.length >= count && now.every((e) => !gone.has(e.id))) return;
      if (Date.now() > deadline) throw Errors.RequestTimedOut("Waiting for the executors to restart", opts.timeoutMs ?? 60_000);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Cancels many futures at once. */
  cancel(futures: readonly Future[]): void {
    for (const f of futures) f.cancel();
  }

  /** Workers, executors, versions and queue lengths, as the scheduler sees them. */
  info(opts: InfoRequest = {}): Promise<ClusterInfo> {
    return this.tx.request<ClusterInfo>(this.subjects.info, opts, 5000);
  }

  /**
   * Resolves when every task submitted so far has reached the scheduler (not finished), and every
   * row of a durable output settled so far is stored in its stream (`{ publish, durable }`).
   */
  async flush(): Promise<void> {
    await this.submitter.idle();
    this.outputs.flush();
    await this.outputs.drain();
  }

  // --- user actors (issue 14; client/actors.ts) ------------------------------------------------

  /**
   * Creates an actor: an instance of `cls` built from `args` on one executor, whose methods you
   * call through the returned proxy (each call a message to that executor; one call at a time, in
   * arrival order). `cls` travels like a function: a self-contained class by source, or an export
   * of {@link importModule} by reference. With a `name` that already exists, returns that actor
   * (get-or-create). It lives as long as this client's lease, or with `detached` until
   * {@link killActor}; with `restart` it is re-created on another executor when its host dies,
   * restored from its last `snapshot()` if the class has `snapshot()`/`restore(state)`.
   *
   * @example
   * class Counter { n = 0; add(k: number) { return (this.n += k); } }
   * const c = await client.actor(Counter, [], { name: "counter" });
   * await c.add(2); // 2
   * @throws `ActorStartFailed` when the constructor throws; `ClosureCaptured` for a class that uses outer names.
   */
  actor<C extends abstract new (...a: any[]) => any>(cls: C, args: ConstructorParameters<C>, opts: ActorOptions = {}): Promise<ActorProxy<InstanceType<C>>> {
    this.assertOpen();
    return this.actorClient.create<InstanceType<C>>(cls as unknown as Function, args as unknown[], opts);
  }

  /**
   * The proxy of the actor named `name`, created by any client of the cluster.
   * @throws `ActorNotFound` when no actor has that name.
   */
  getActor<T>(name: string, opts: { timeoutMs?: number } = {}): Promise<ActorProxy<T>> {
    this.assertOpen();
    return this.actorClient.get<T>(name, opts.timeoutMs);
  }

  /** Ends the actor named `name` (detached or not); calls pending on it reject with `ActorLost`. */
  killActor(name: string): Promise<void> {
    this.assertOpen();
    return this.actorClient.kill(name);
  }

  /** Fails pending futures, disconnects, and stops the private cluster if this client started one. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.actorClient.endAll("this client closed");
    // The scheduler hears first: failing millions of pending futures takes seconds here.
    try {
      this.tx.send(this.subjects.bye, { id: this.id, kind: "client", auth: this.auth });
    } catch {
      /* gone already */
    }
    await null; // nats.js writes it out in a microtask: before the synchronous failPending below
    this.connection?.send({ type: "CLOSE" }); // → failPending
    this.submitter.close();
    clearInterval(this.leaseTimer);
    this.stopListening();
    this.outputs.flush();
    await this.outputs.drain(); // durable outputs: every stored row acknowledged
    this.watch.stop();
    await this.tx.close();
    await this.local?.stop();
  }

  private assertOpen() {
    if (this.closed) throw Errors.ClientClosed("(new task)");
  }
}

/** How often a client renews its lease with the scheduler. */
const LEASE_RENEW_MS = 1000;
/** The longest between two renewals, whatever the grace period. */
const MAX_LEASE_RENEW_MS = 15_000;

function remoteError(job: Job, row: number, worker: string, e: Omit<RemoteError, "i">): TaskError {
  const key = job.keyName(row);
  if (e.code && e.code !== "TaskFailed") return new TaskError(e.code, e.message.replace(/^Task \S+/, `Task ${key}`), key, worker, e.name, e.stack);
  const missing = /^Cannot find package '([^']+)'/.exec(e.message)?.[1];
  if (missing) return Errors.TaskPackageMissing(key, worker, missing, e.stack);
  return Errors.TaskFailed(key, worker, e.name, e.message, e.stack);
}

const isArrayLike = (v: unknown): v is ArrayLike<unknown> => Array.isArray(v) || ArrayBuffer.isView(v);
const isIterableLike = (v: unknown) => isArrayLike(v) || (typeof v === "object" && v !== null && Symbol.iterator in v);

function dirOf(from: string): string {
  const p = from.startsWith("file:") ? fileURLToPath(from) : from;
  return /\.[cm]?[jt]sx?$/.test(p) ? dirname(p) : p;
}

/** The directory of the first stack frame outside ts-dask's own code (the user's file). */
function callerDir(): string | undefined {
  const ours = ownDirs(["client", "runtime", "actors", "bundle", "index.ts", "index.js"]);
  for (const line of (new Error().stack ?? "").split("\n").slice(1)) {
    const m = /\((.*):\d+:\d+\)$/.exec(line) ?? /at (.*):\d+:\d+$/.exec(line);
    if (!m) continue;
    const file = m[1]!.startsWith("file:") ? fileURLToPath(m[1]!) : m[1]!;
    if (file.startsWith("node:") || ours.some((o) => file.startsWith(o))) continue;
    return dirname(file);
  }
  return undefined;
}

export type { TsDaskError };

/** `{ resources }` (worker resources): names of letters, digits, `_` and `-`, amounts finite and > 0. */
function checkResources(r: unknown): void {
  if (r === undefined) return;
  const bad = () => Errors.BadOption("resources", r, "an object of names (letters, digits, '_', '-') to amounts > 0, e.g. { GPU: 1 }");
  if (typeof r !== "object" || r === null || Array.isArray(r) || Object.keys(r).length === 0) throw bad();
  for (const [k, v] of Object.entries(r)) if (!/^[A-Za-z0-9_-]{1,64}$/.test(k) || typeof v !== "number" || !Number.isFinite(v) || v <= 0) throw bad();
}
