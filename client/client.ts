/**
 * The client: submit/map/gather/asCompleted/wait/importModule over NATS, as Dask's `Client`.
 * It is an actor too. The class is built in layers, one concern each:
 *   client-state.ts    the tables and helpers the layers share (jobs, submitter, data, tokens)
 *   client-session.ts  registration, lease, reconnects, results and logs, close()
 *   client-tasks.ts    submit / map / with / gather / asCompleted / wait / cancel / flush
 *   client.ts          this file: connect, importModule, uploadFile / install, scatter / release,
 *                      run / runOn / runOnScheduler, restart, info, user actors
 *
 * Handler index (subject → method, file):
 *   results.<clientId>       onResults              client-session.ts
 *   log.<clientId>           onLog                  client-session.ts
 *   alive                    inline in start()      client-session.ts
 *   actres.<clientId>        ActorClient.onReplies  actors.ts
 *   actor.<actorId>.status   ActorClient.onStatus   actors.ts
 */
import { dirname, resolve as resolvePath } from "node:path";
import { fileURLToPath } from "node:url";
import { Errors, TsDaskError } from "../runtime/errors.ts";
import type {
  RestartRequest,
  ClusterInfo,
  InfoRequest,
  RestartReply,
} from "../runtime/protocol.ts";
import { bundleModule } from "../runtime/shipping/bundle.ts";
import { makeModuleHandle } from "../runtime/shipping/remote-ref.ts";
import { clientScope } from "../runtime/nats-auth.ts";
import { subjects } from "../runtime/protocol.ts";
import { Transport } from "../runtime/transport.ts";
import { ownDirs } from "../runtime/self.ts";
import { ERROR } from "./jobs.ts";
import { startLocalCluster, type LocalClusterHandle } from "../runtime/local-cluster.ts";
import { runOnExecutors, runOnScheduler } from "./remote-run.ts";
import { install, uploadFile, type InstallOptions, type InstallReport, type UploadReport } from "./uploads.ts";
import { DataRef } from "../runtime/data-ref.ts";
import type { ClientOptions } from "./options.ts";
import { DEFAULT_MAX_VALUE_BYTES } from "./large-values.ts";
import type { Result } from "./wire-types.ts";
import { type ActorOptions, type ActorProxy } from "./actors.ts";
import { startupMark } from "../runtime/startup-trace.ts";
import { ClientTasks } from "./client-tasks.ts";

export type { ClientOptions, DurableOptions, MapOptions, ReturnWhen, TaskOptions } from "./options.ts";
export type { ActorOptions, ActorProxy } from "./actors.ts";

type AnyFn = (...args: any[]) => unknown;

// getWorker().client() (runtime/worker-context.ts) resolves to a Client: runtime/ cannot import it.
declare module "../runtime/worker-context.ts" {
  interface WorkerClientType {
    client: Client;
  }
}

export class Client extends ClientTasks {
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
      const inboxPrefix = subjects(cluster).inboxOf(scope);
      // The scheduler this process embeds is reached without a trip through nats-server, and its
      // NATS connection is shared (runtime/link.ts); otherwise a connection of our own.
      const tx = local?.clientTransport?.(inboxPrefix) ?? (await Transport.connect({ servers, token, auth, inboxPrefix, name: "ts-dask client" }));
      const c = new Client(tx, cluster, local, cap, scope, opts.sameHostScatter ?? true);
      await c.start(servers, opts);
      startupMark("client", "connected");
      return c;
    } catch (e) {
      await local?.stop();
      throw e;
    }
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

  /**
   * A workload run's scatter (the cluster backend of `parallel()`, `best()`, `gridSearchCV`): as
   * {@link scatter}, but held for the run only: released by {@link endScatterLease} once no run
   * uses it, unless this client also scattered the value itself (then it stays until {@link release}).
   * @internal
   */
  scatterLease<T>(value: T, opts: { broadcast?: boolean } = {}): Promise<DataRef<T>> {
    this.assertOpen();
    return this.scattered.lease(value, !!opts.broadcast);
  }

  /** Ends a run's hold on values from {@link scatterLease} (anything else is ignored). @internal */
  endScatterLease(refs: readonly unknown[]): void {
    if (this.closed) return;
    this.scattered.endLease(refs.filter((r): r is DataRef => r instanceof DataRef));
  }

  // --- cancel / info / close ------------------------------------------------------------------

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

  /** Workers, executors, versions and queue lengths, as the scheduler sees them. */
  info(opts: InfoRequest = {}): Promise<ClusterInfo> {
    return this.tx.request<ClusterInfo>(this.subjects.info, opts, 5000);
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

}

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
