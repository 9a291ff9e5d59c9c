/**
 * The seam between the client layer and the composition root: `Client.connect()` with no address
 * starts a private local cluster, but client/ imports only runtime/. The local cluster
 * (cluster/local.ts, which starts a scheduler, a worker and the dashboard) provides itself
 * here when it is imported — `index.ts` does, so every user of the package has it.
 */
import { Errors } from "./errors.ts";
import type { Link } from "./link.ts";
import type { Transport } from "./transport.ts";

export interface LocalClusterOptions {
  /** Executor processes (default: one per core). */
  nprocs?: number;
  /** Tasks at once per executor (default 1). */
  nthreads?: number;
  /** Bytes per executor, 0 for none (default). */
  memoryLimit?: number;
  /** What each executor offers to tasks that need resources, e.g. `{ GPU: 1 }` (as `ts-dask worker --resources`). */
  resources?: Record<string, number>;
  /** Worker name (default `local`). */
  name?: string;
  /** NATS port (default: a free one). */
  port?: number;
  /** Listen on every interface, protected by a generated token (default: loopback only). */
  lan?: boolean;
  /** Run nats-server with JetStream (needed by durable outputs, `{ publish, durable }`); its store is a temporary directory removed on stop. Default false. */
  jetstream?: boolean;
  /** Worker files (default: a temp directory). */
  localDirectory?: string;
  /** No log lines from the scheduler and worker (default false). */
  quiet?: boolean;
  /** Dashboard address (`127.0.0.1:8787`, `:0` for a free port); default `none` (off). `ts-dask up` turns it on. */
  dashboard?: string;
  /** The scheduler's cap on one stored value in bytes (scattered, or a large task argument or result); default 1 GiB. */
  maxValueBytes?: number;
  /** Cluster name (the subject namespace; default a fresh `local-xxxxxxxx`). */
  cluster?: string;
  /** How long the scheduler keeps a silent client's work (default 5 s; see SchedulerOptions.clientGraceMs). */
  clientGraceMs?: number;
  /**
   * The embedding client talks to the scheduler through an in-process link instead of through
   * nats-server (runtime/link.ts; default true). `false` sends everything over NATS, as a client
   * in another process would (for comparisons).
   */
  link?: boolean;
}

/** What the client keeps of the local cluster it started. */
export interface LocalClusterHandle {
  /** NATS URL to connect to (includes no token; see {@link token}). */
  readonly url: string;
  readonly cluster: string;
  readonly token: string | undefined;
  /** The in-process link to the scheduler (runtime/link.ts), unless `link: false`: the embedding client joins it. */
  readonly link?: Link;
  /**
   * The embedding client's transport, unless `link: false`: the scheduler's NATS connection shared
   * (Transport.share), joined to {@link link} as its client side.
   */
  clientTransport?(inboxPrefix: string): Transport | undefined;
  /** Stops the worker (and its executors), the scheduler and nats-server. */
  stop(): Promise<void>;
}

let provider: ((opts: LocalClusterOptions) => Promise<LocalClusterHandle>) | undefined;

/** Called by the local cluster's module when it loads. */
export function provideLocalClusters(start: (opts: LocalClusterOptions) => Promise<LocalClusterHandle>): void {
  provider = start;
}

/** Starts a private local cluster; {@link Errors.NoLocalCluster} when nothing provided one. */
export function startLocalCluster(opts: LocalClusterOptions): Promise<LocalClusterHandle> {
  if (!provider) return Promise.reject(Errors.NoLocalCluster());
  return provider(opts);
}
