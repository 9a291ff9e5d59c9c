/**
 * Choosing the backend of a workload: `backend: "local" | "cluster"` or a backend object, per call
 * or for a whole block of code with {@link withBackend} (joblib's `with parallel_backend("dask"):`).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Client, ClientOptions } from "../../client/client.ts";
import { Errors } from "../../runtime/errors.ts";
import { LocalPool } from "../local/pool.ts";
import { ClusterBackend } from "./cluster.ts";
import type { Backend } from "./types.ts";

/** Where a workload runs. */
export interface BackendOptions {
  /**
   * `"local"`: child processes of this machine (started for the call, `nJobs` of them);
   * `"cluster"`: a ts-dask cluster (`client`, or a new client of `address`; no address: a private
   * local cluster); or a {@link Backend} you manage ({@link LocalPool}, {@link ClusterBackend}).
   * Default: `"cluster"` when `client` is given, else the enclosing {@link withBackend}, else `"local"`.
   */
  backend?: "local" | "cluster" | Backend;
  /** The cluster's client (implies `backend: "cluster"`). */
  client?: Client;
  /** NATS address for `backend: "cluster"` without a client (a client is connected and closed for the call). */
  address?: string;
  /** Options for the client connected for `address`. */
  clientOptions?: ClientOptions;
  /** For `backend: "local"`: processes (joblib's n_jobs; -1 one per core). */
  nJobs?: number;
  /**
   * Worker resources each batch holds on the cluster, as `client.with({ resources })` (e.g.
   * `{ GPU: 1 }`: batches run only on executors of workers started with `--resources GPU=…`).
   * The cluster backend only: `backend: "local"` (or a {@link LocalPool}) refuses them with
   * `ResourcesNeedCluster` rather than run every call at once on this machine.
   */
  resources?: Record<string, number>;
}

/** Defaults set by {@link withBackend}, plus `scatter` values that every workload inside also scatters. */
export interface BackendDefaults extends BackendOptions {
  scatter?: readonly unknown[];
}

const context = new AsyncLocalStorage<BackendDefaults>();

/**
 * Runs `fn` with `defaults` as the backend options of every parallel()/best()/gridSearchCV() inside
 * it (their own options win). The switch the story needs: the same code, local or on the cluster.
 *
 * @example
 * // joblib: with parallel_backend("dask", scatter=[refData]): Parallel(...)(...)
 * await withBackend({ client, scatter: [refData] }, () => parallel({}, calls));
 */
export function withBackend<T>(defaults: BackendDefaults, fn: () => T): T {
  return context.run({ ...context.getStore(), ...defaults }, fn);
}

/** The options in force: `opts` over the enclosing {@link withBackend}'s. */
export function effectiveOptions<O extends BackendOptions & { scatter?: readonly unknown[] }>(opts: O): O {
  const d = context.getStore();
  if (!d) return opts;
  const scatter = d.scatter || opts.scatter ? [...(d.scatter ?? []), ...(opts.scatter ?? [])] : undefined;
  const merged = { ...d, ...stripUndefined(opts), scatter } as O;
  // An explicit backend of the call overrides the context's client.
  if (opts.backend && opts.backend !== "cluster" && !opts.client) delete (merged as BackendOptions).client;
  return merged;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** A backend for one call, and how to release it (a no-op for backends the caller manages). */
export interface OpenBackend {
  backend: Backend;
  release(): Promise<void>;
}

/** Opens the backend that `opts` asks for (see {@link BackendOptions}). */
export async function openBackend(opts: BackendOptions): Promise<OpenBackend> {
  const b = opts.backend ?? (opts.client ? "cluster" : "local");
  const r = opts.resources;
  if (typeof b === "object") {
    if (r === undefined) return { backend: b, release: async () => {} };
    if (!(b instanceof ClusterBackend)) throw Errors.ResourcesNeedCluster(b.name, needsText(r));
    return { backend: new ClusterBackend(b.client.with({ resources: r })), release: async () => {} };
  }
  if (b === "local") {
    if (r !== undefined) throw Errors.ResourcesNeedCluster('"local"', needsText(r));
    const pool = await LocalPool.start({ nJobs: opts.nJobs });
    return { backend: pool, release: () => pool.close() };
  }
  if (b === "cluster") {
    if (opts.client) return { backend: new ClusterBackend(r === undefined ? opts.client : opts.client.with({ resources: r })), release: async () => {} };
    const cb = await ClusterBackend.connect(opts.address, opts.clientOptions);
    if (r === undefined) return { backend: cb, release: () => cb.close() };
    try {
      return { backend: new ClusterBackend(cb.client.with({ resources: r })), release: () => cb.close() };
    } catch (e) {
      await cb.close();
      throw e;
    }
  }
  throw Errors.BadOption("backend", b, '"local", "cluster" or a Backend object');
}

function needsText(r: unknown): string {
  try {
    return JSON.stringify(r);
  } catch {
    return String(r);
  }
}
