/**
 * Running the scheduler or a worker inside another Node program (a service you already run):
 * {@link startScheduler} and {@link startWorker}, each with `stop()`. `ts-dask scheduler` and
 * `ts-dask worker` (cli/run.ts) are thin users of these two functions. Each loads the actors'
 * modules when called (a worker's executor processes are started first and boot meanwhile).
 */
import { hostname } from "node:os";
import { join } from "node:path";
import type { Dashboard } from "./scheduler/observation/dashboard/server.ts";
import type { Scheduler } from "./scheduler/scheduler.ts";
import type { Supervisor } from "./supervisor/supervisor.ts";
import type { SupervisorOutput } from "./supervisor/supervisor.machine.ts";
import { forkExecutor, Standby } from "./supervisor/standby.ts";
import { consoleLogger, type Logger } from "../runtime/actor.ts";
import { Errors } from "../runtime/errors.ts";
import { parseMemoryLimit } from "../runtime/memory.ts";
import type { NatsAuth } from "../runtime/nats-auth.ts";
import { defaultLocalDirectory } from "../runtime/platform.ts";
import { isSubjectToken, subjects } from "../runtime/protocol.ts";
import type { NatsConnection } from "../runtime/transport.ts";

export type { Logger } from "../runtime/actor.ts";

/** Options of {@link startScheduler}: `nc` (a connection to share) or `servers` (connect one). */
export interface StartSchedulerOptions {
  /** A nats.js v2 connection of the embedding program, shared (left open by `stop()`). */
  nc?: NatsConnection;
  /** Or: NATS address(es), `nats://host:4222` (comma-separated for a NATS cluster); the scheduler connects and waits for the server. */
  servers?: string;
  /** Cluster name (subject namespace). Default `"default"`. */
  cluster?: string;
  /** With `servers`: an auth token, or credentials and TLS (runtime/nats-auth.ts). */
  token?: string;
  auth?: NatsAuth;
  /** Dashboard address (`:8787`, `127.0.0.1:0` for a free port). Default: none (off). */
  dashboardAddress?: string;
  /** Cap on one stored value in bytes (default 1 GiB). */
  maxValueBytes?: number;
  /** Where log lines go: `{ info(msg), warn(msg) }`. Default: the console, prefixed `[scheduler]`. */
  log?: Logger;
}

/** A scheduler running in this process. */
export interface EmbeddedScheduler {
  readonly cluster: string;
  readonly scheduler: Scheduler;
  /** The dashboard, when `dashboardAddress` was given. */
  readonly dashboard?: Dashboard;
  /** Stops the dashboard and the scheduler; closes its NATS connection unless it was shared. */
  stop(): Promise<void>;
}

/**
 * Starts a ts-dask scheduler inside this process.
 *
 * @example
 * import { connect } from "nats";
 * const nc = await connect({ servers: "nats://127.0.0.1:4222" });
 * const sched = await startScheduler({ nc, cluster: "default", log: myLogger });
 * // … later
 * await sched.stop(); await nc.close();
 * @throws `BadOption` without `nc` or `servers`, or with a cluster name that is not a subject token.
 */
export async function startScheduler(o: StartSchedulerOptions): Promise<EmbeddedScheduler> {
  const cluster = o.cluster ?? "default";
  if (!isSubjectToken(cluster)) throw Errors.BadOption("cluster", cluster, "letters, digits, '_' and '-'");
  if (!o.nc && !o.servers) throw Errors.BadOption("startScheduler({ nc | servers })", undefined, "a NATS connection (nc) or an address (servers)");
  const log = o.log ?? consoleLogger("[scheduler]");
  const [{ Transport }, { Scheduler }] = await Promise.all([import("../runtime/transport.ts"), import("./scheduler/scheduler.ts")]);
  const tx = o.nc
    ? Transport.wrap(o.nc, "ts-dask scheduler")
    : await Transport.connect({ servers: o.servers!, token: o.token, auth: o.auth, inboxPrefix: subjects(cluster).inbox, name: "ts-dask scheduler", waitOnFirstConnect: true });
  let scheduler: Scheduler;
  try {
    scheduler = await Scheduler.start(tx, { cluster, log, maxValueBytes: o.maxValueBytes });
  } catch (e) {
    await tx.close();
    throw e;
  }
  let dashboard: Dashboard | undefined;
  const stop = async () => {
    await dashboard?.close();
    await scheduler.stop();
    await tx.close();
  };
  if (o.dashboardAddress && o.dashboardAddress !== "none") {
    try {
      const { startDashboard } = await import("./scheduler/observation/dashboard/server.ts");
      dashboard = await startDashboard(scheduler.monitor, { address: o.dashboardAddress, log });
    } catch (e) {
      await stop();
      throw e;
    }
  }
  return { cluster, scheduler, dashboard, stop };
}

/** Options of {@link startWorker}: `nc` (a connection to share), `servers`, or both. */
export interface StartWorkerOptions {
  /**
   * A nats.js v2 connection of the embedding program, shared by the worker's supervisor (left open
   * by `stop()`). The executors are processes of their own and connect themselves: to `servers`,
   * else to the server `nc` is connected to (give `token`/`auth` if that server wants credentials).
   */
  nc?: NatsConnection;
  /** NATS address(es) of the cluster, for the supervisor (without `nc`) and the executors. */
  servers?: string;
  /** Cluster name. Default `"default"`. */
  cluster?: string;
  token?: string;
  auth?: NatsAuth;
  /** Worker name; its executors are `<name>-0 …`. Default: the host name. */
  name?: string;
  /** Executor processes (default 1) and tasks at once in each (default 1). */
  nprocs?: number;
  nthreads?: number;
  /** Per executor: bytes, `"2GB"`, a fraction of the machine (`"0.5"`), `"auto"`, or 0 for none (default). */
  memoryLimit?: number | string;
  /** Give up after this long without the scheduler (default: never). */
  deathTimeoutMs?: number;
  /** What each executor offers to tasks that need resources, e.g. `{ GPU: 1, MEM: 8e9 }` (as `--resources`). */
  resources?: Record<string, number>;
  /** Where uploads and installs go (default: a directory per name under the platform's cache). */
  localDirectory?: string;
  /** Default: the console, prefixed `[<name>]`. */
  log?: Logger;
}

/** A worker (a supervisor and its executor processes) running from this process. */
export interface EmbeddedWorker {
  readonly name: string;
  readonly worker: Supervisor;
  /** Resolves when the worker has stopped (stop(), or it gave up: `exitCode` and `reason`). */
  readonly exited: Promise<SupervisorOutput>;
  /**
   * Stops gracefully: the executors hand their queued tasks back to the scheduler (they run
   * elsewhere), finish the running ones, and exit; resolves when every process is gone.
   */
  stop(): Promise<SupervisorOutput>;
}

/**
 * Starts a ts-dask worker from this process: `nprocs` executor processes (child processes of
 * this one) under a supervisor that restarts them when they die. Resolves once it has connected.
 *
 * @example
 * const w = await startWorker({ servers: "nats://127.0.0.1:4222", cluster: "default", nprocs: 2 });
 * // or sharing the program's connection: startWorker({ nc, cluster: "default", nprocs: 2 })
 * // … later
 * await w.stop();
 */
export async function startWorker(o: StartWorkerOptions): Promise<EmbeddedWorker> {
  if (!o.nc && !o.servers) throw Errors.BadOption("startWorker({ nc | servers })", undefined, "a NATS connection (nc) or an address (servers)");
  const cluster = o.cluster ?? "default";
  if (!isSubjectToken(cluster)) throw Errors.BadOption("cluster", cluster, "letters, digits, '_' and '-'");
  const name = o.name ?? hostname().replace(/[^A-Za-z0-9_-]/g, "-");
  const nprocs = o.nprocs ?? 1;
  const memoryLimit = typeof o.memoryLimit === "number" ? o.memoryLimit : parseMemoryLimit(o.memoryLimit ?? "0", nprocs);
  const localDirectory = o.localDirectory ?? join(defaultLocalDirectory(), name);
  // The executor processes boot while this process loads the supervisor's modules and connects.
  const standby = new Standby(() => forkExecutor({ localDirectory }, memoryLimit));
  standby.fill(nprocs);
  let modules: [typeof import("../runtime/transport.ts"), typeof import("./supervisor/supervisor.ts")];
  try {
    modules = await Promise.all([import("../runtime/transport.ts"), import("./supervisor/supervisor.ts")]);
  } catch (e) {
    standby.stop();
    throw e;
  }
  const [{ Transport }, { Supervisor }] = modules;
  const tx = o.nc ? Transport.wrap(o.nc, `ts-dask worker ${name}`) : undefined;
  const servers = o.servers ?? `nats://${o.nc!.getServer()}`;
  const worker = await Supervisor.start({
    ...(tx ? { tx } : {}),
    standby,
    servers,
    token: o.token,
    auth: o.auth,
    cluster,
    name,
    nprocs,
    nthreads: o.nthreads ?? 1,
    memoryLimit,
    deathTimeoutMs: o.deathTimeoutMs ?? Infinity,
    ...(o.resources ? { resources: o.resources } : {}),
    localDirectory,
    log: o.log ?? consoleLogger(`[${name}]`),
  });
  return { name, worker, exited: worker.exited, stop: () => worker.shutdown("stop requested", { graceful: true }) };
}
