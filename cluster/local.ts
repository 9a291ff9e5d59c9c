/**
 * A private cluster on this machine: nats-server on a free loopback port, a scheduler and one
 * worker, with a fresh cluster name. The composition root: used by `ts-dask up`, and by
 * `Client.connect()` with no address through runtime/local-cluster.ts (importing this module
 * provides it; the client layer itself imports no actor). `stop()` leaves no process behind (nats-server is tethered to this process, and
 * executors exit when their supervisor's IPC channel closes, even if this process is killed).
 *
 * A start is parallel: the executor processes and nats-server are started first, and the
 * scheduler's and supervisor's modules (nats.js, xstate, ~50 files) load while they boot — so
 * importing this module (every `import "ts-dask"` does) does not load them.
 */
import { rm } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { consoleLogger, silentLogger } from "../runtime/actor.ts";
import { randomBytes } from "node:crypto";
import { randomId } from "../runtime/ids.ts";
import { Link } from "../runtime/link.ts";
import { subjects } from "../runtime/protocol.ts";
import { startupMark } from "../runtime/startup-trace.ts";
import { startNatsServer, type NatsServer } from "../runtime/nats-server.ts";
import type { Transport } from "../runtime/transport.ts";
import type { Scheduler } from "../actors/scheduler/scheduler.ts";
import type { Supervisor } from "../actors/supervisor/supervisor.ts";
import { forkExecutor, Standby, STANDBY_DELAY_MS } from "../actors/supervisor/standby.ts";
import type { Dashboard } from "../actors/scheduler/observation/dashboard/server.ts";
import { provideLocalClusters, type LocalClusterHandle, type LocalClusterOptions } from "../runtime/local-cluster.ts";

export type { LocalClusterOptions } from "../runtime/local-cluster.ts";

export class LocalCluster implements LocalClusterHandle {
  private constructor(
    /** NATS URL to connect to (includes no token; see {@link token}). */
    readonly url: string,
    readonly cluster: string,
    readonly token: string | undefined,
    /** The in-process link between the scheduler and the client that embeds this cluster (runtime/link.ts). */
    readonly link: Link | undefined,
    readonly scheduler: Scheduler,
    readonly worker: Supervisor,
    private readonly nats: NatsServer,
    private readonly schedTx: Transport,
    /** The scheduler's dashboard (/, /metrics, /health), when `dashboard` was given. */
    readonly dashboard?: Dashboard,
    /** The worker directory, when this cluster made it for itself (a private name): removed by stop(). */
    private readonly ownDirectory?: string,
  ) {}

  clientTransport(inboxPrefix: string): Transport | undefined {
    if (!this.link) return undefined;
    const tx = this.schedTx.share("ts-dask client", inboxPrefix);
    tx.joinLink(this.link, "client");
    return tx;
  }

  /** PIDs of the processes this cluster started: nats-server and the executors. */
  pids(): number[] {
    const execs = this.worker.executors.map((e) => e.child?.pid).filter((p): p is number => !!p);
    return [this.nats.pid, ...execs];
  }

  /** A connect string that includes the token, for other machines (`--lan`). */
  get connectString(): string {
    return this.token ? this.url.replace("nats://", `nats://${this.token}@`) : this.url;
  }

  static async start(opts: LocalClusterOptions = {}): Promise<LocalCluster> {
    const token = opts.lan ? randomBytes(16).toString("hex") : undefined;
    const cluster = opts.cluster ?? `local-${randomId(4)}`;
    const nprocs = opts.nprocs ?? availableParallelism();
    const localDirectory = opts.localDirectory ?? join(tmpdir(), "ts-dask", cluster);
    const memoryLimit = opts.memoryLimit ?? 0;
    // The executor processes boot while nats-server and the scheduler start (standby.ts), and
    // this process loads the actors' modules meanwhile.
    const standby = new Standby(() => forkExecutor({ localDirectory }, memoryLimit));
    standby.fill(nprocs);
    startupMark("cluster", "executors-forked");
    const natsStarting = startNatsServer({ host: opts.lan ? "0.0.0.0" : "127.0.0.1", port: opts.port, token, jetstream: opts.jetstream });
    const modules = actorModules(!!opts.dashboard);
    let nats: NatsServer;
    let m: Awaited<typeof modules>;
    try {
      [nats, m] = await Promise.all([natsStarting, modules]);
    } catch (e) {
      standby.stop();
      await natsStarting.then((n) => n.stop(), () => {});
      throw e;
    }
    const { Scheduler, Supervisor, Transport, startDashboard } = m;
    startupMark("cluster", "nats-server-and-modules-ready");
    const url = opts.lan ? nats.url.replace("0.0.0.0", "127.0.0.1") : nats.url;
    const log = (who: string) => (opts.quiet ? silentLogger : consoleLogger(who));
    let schedTx: Transport | undefined;
    let scheduler: Scheduler | undefined;
    const link = opts.link === false ? undefined : new Link();
    try {
      schedTx = await Transport.connect({ servers: url, token, inboxPrefix: subjects(cluster).inbox, name: "ts-dask scheduler" });
      if (link) schedTx.joinLink(link, "server");
      scheduler = await Scheduler.start(schedTx, { cluster, log: log("[scheduler]"), maxValueBytes: opts.maxValueBytes, clientGraceMs: opts.clientGraceMs });
      startupMark("cluster", "scheduler-started");
      const worker = await Supervisor.start({
        servers: url,
        token,
        cluster,
        name: opts.name ?? "local",
        nprocs,
        nthreads: opts.nthreads ?? 1,
        memoryLimit,
        ...(opts.resources ? { resources: opts.resources } : {}),
        deathTimeoutMs: 60_000,
        localDirectory,
        log: log(`[${opts.name ?? "local"}]`),
        standby,
        standbyDelayMs: STANDBY_DELAY_MS,
      });
      await worker.ready;
      startupMark("cluster", "executors-ready");
      const dashboard = opts.dashboard && startDashboard ? await startDashboard(scheduler.monitor, { address: opts.dashboard, log: log("[scheduler]") }) : undefined;
      // A generated cluster name is never used again: its uploads and installs go with it.
      const own = opts.cluster === undefined && opts.localDirectory === undefined ? localDirectory : undefined;
      return new LocalCluster(url, cluster, token, link, scheduler, worker, nats, schedTx, dashboard, own);
    } catch (e) {
      standby.stop();
      await scheduler?.stop();
      await schedTx?.close();
      await nats.stop();
      throw e;
    }
  }

  /** Stops the worker (and its executors), the scheduler and nats-server. */
  async stop(): Promise<void> {
    await this.worker.shutdown("local cluster stopped");
    await this.dashboard?.close();
    await this.scheduler.stop();
    await this.schedTx.close();
    await this.nats.stop();
    if (this.ownDirectory) await rm(this.ownDirectory, { recursive: true, force: true }).catch(() => {});
  }
}

// What `client.localCluster` shows of it: the whole local cluster (the client layer only names the handle).
declare module "../runtime/local-cluster.ts" {
  interface LocalClusterHandle {
    readonly scheduler: Scheduler;
    readonly worker: Supervisor;
    /** The scheduler's dashboard (/, /metrics, /health), when `dashboard` was given. */
    readonly dashboard?: Dashboard;
    /** PIDs of the processes this cluster started: nats-server and the executors. */
    pids(): number[];
    /** A connect string that includes the token, for other machines (`--lan`). */
    readonly connectString: string;
  }
}

/** The modules a start needs once nats-server runs: loaded on the first start, while the processes boot. */
async function actorModules(dashboard: boolean) {
  const [{ Scheduler }, { Supervisor }, { Transport }, dash] = await Promise.all([
    import("../actors/scheduler/scheduler.ts"),
    import("../actors/supervisor/supervisor.ts"),
    import("../runtime/transport.ts"),
    dashboard ? import("../actors/scheduler/observation/dashboard/server.ts") : undefined,
  ]);
  return { Scheduler, Supervisor, Transport, startDashboard: dash?.startDashboard };
}

// Client.connect() with no address starts one of these (runtime/local-cluster.ts).
provideLocalClusters((o) => LocalCluster.start(o));
