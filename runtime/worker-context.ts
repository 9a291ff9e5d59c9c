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
}

let cached: WorkerInfo | undefined;

/** The executor running this task; throws `NotInTask` outside an executor or local pool process. */
export function getWorker(): WorkerInfo {
  if (cached) return cached;
  const env = process.env;
  const c = readExecutorConfig(env);
  if (c) {
    return (cached = { name: c.name, worker: c.workerName, cluster: c.cluster, localDirectory: c.localDirectory, pid: process.pid });
  }
  if (env.TSDASK_WORKER_NAME) {
    return (cached = { name: env.TSDASK_WORKER_NAME, worker: "local", cluster: "", localDirectory: env.TSDASK_LOCAL_DIR ?? "", pid: process.pid });
  }
  throw Errors.NotInTask("getWorker()");
}
