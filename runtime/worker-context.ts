// ts-dask's declarations name Node's types (NodeJS, Buffer, node:stream): kept in the emitted .d.ts
// (preserve) so a consumer whose tsconfig lists no `types` (TypeScript 6+'s default) still loads them.
/// <reference types="node" preserve="true" />
/**
 * Where am I running? Inside a task, {@link getWorker} names the executor (as Dask's
 * `get_worker()`): for logs, per-executor caches, or files in the worker's local directory.
 * Light on purpose (no NATS, no client): tasks import it as `ts-dask/worker`.
 *
 * @example
 * // a function shipped by source imports it dynamically:
 * client.submit(async () => (await import("ts-dask/worker")).getWorker().name);
 */
import { Errors } from "./errors.ts";
import { readExecutorConfig } from "./ipc.ts";

/**
 * Where the executor process puts its client factory (actors/executor/main.ts). A global symbol:
 * a task may load this module through another path (`ts-dask/worker`) than the executor did.
 */
const CLIENT_FACTORY = Symbol.for("ts-dask.workerClientFactory");

/**
 * The type getWorker().client() resolves to. runtime/ imports nothing above it, so the client
 * layer fills this in by declaration merging (client/client.ts: `interface WorkerClientType {
 * client: Client }`); the executor process provides the value (setWorkerClientFactory).
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface WorkerClientType {}
export type WorkerClient = WorkerClientType extends { client: infer C } ? C : unknown;
type Factory = () => Promise<WorkerClient>;

/** Called once by the executor process: how {@link WorkerInfo.client} connects. */
export function setWorkerClientFactory(f: Factory): void {
  let shared: Promise<WorkerClient> | undefined;
  (globalThis as Record<symbol, unknown>)[CLIENT_FACTORY] = () =>
    (shared ??= f().catch((e: unknown) => {
      shared = undefined;
      throw e;
    }));
}

/** The executor (or local pool process) running the current task. */
export interface WorkerInfo {
  /** The executor's name, e.g. `MyWorker-0` (`local-0` in a local process pool). */
  name: string;
  /** The worker (supervisor) it belongs to, e.g. `MyWorker` (`local` in a local pool). */
  worker: string;
  /** The cluster namespace ("" in a local pool). */
  cluster: string;
  /** Where the worker keeps uploaded code and installed packages. */
  localDirectory: string;
  pid: number;
  /**
   * A client of this executor's cluster (Dask's `get_client()`): inside a task or an actor's
   * method, to call actors (`getActor`) or submit tasks. One per executor process, connected on
   * first use and kept while the process lives (actors it creates live as long as that, or are
   * `detached`). Only on executors: in a local process pool it throws `NotInTask`.
   */
  client(): Promise<WorkerClient>;
}

let cached: WorkerInfo | undefined;

/** The executor running this task; throws `NotInTask` outside an executor or local pool process. */
export function getWorker(): WorkerInfo {
  if (cached) return cached;
  const env = process.env;
  const c = readExecutorConfig(env);
  if (c) {
    return (cached = { name: c.name, worker: c.workerName, cluster: c.cluster, localDirectory: c.localDirectory, pid: process.pid, client: workerClient });
  }
  if (env.TSDASK_WORKER_NAME) {
    return (cached = { name: env.TSDASK_WORKER_NAME, worker: "local", cluster: "", localDirectory: env.TSDASK_LOCAL_DIR ?? "", pid: process.pid, client: workerClient });
  }
  throw Errors.NotInTask("getWorker()");
}

function workerClient(): Promise<WorkerClient> {
  const f = (globalThis as Record<symbol, Factory | undefined>)[CLIENT_FACTORY];
  return f ? f() : Promise.reject(Errors.NotInTask("getWorker().client() (it needs an executor of a cluster)"));
}
