// ts-dask's declarations name Node's types (NodeJS, Buffer, node:stream): kept in the emitted .d.ts
// (preserve) so a consumer whose tsconfig lists no `types` (TypeScript 6+'s default) still loads them.
/// <reference types="node" preserve="true" />
/**
 * ts-dask: a compute cluster for TypeScript in the spirit of Dask distributed.
 *
 * @example
 * import { Client } from "ts-dask";
 * const client = await Client.connect();            // private local cluster
 * const squares = await client.gather(client.map((x: number) => x * x, [1, 2, 3]));
 * await client.close();
 */
export { Client, type ActorOptions, type ActorProxy, type ClientOptions, type DurableOptions, type MapOptions, type ReturnWhen } from "./client/client.ts";
export { Future } from "./client/future.ts";
export type { Wire } from "./client/wire-types.ts";
export type { InstallOptions, InstallReport, UploadReport } from "./client/uploads.ts";
export { progress, type ProgressOptions, type ProgressSummary } from "./client/progress.ts";
export { DataRef } from "./runtime/data-ref.ts";
// Also provides Client.connect()'s private local cluster (runtime/local-cluster.ts).
export { LocalCluster, type LocalClusterOptions } from "./cluster/local.ts";
export { ActorError, Errors, TaskError, TsDaskError, type ErrorCode } from "./runtime/errors.ts";
export { PROTOCOL_VERSION, subjects } from "./runtime/protocol.ts";
/** Decodes a message of a public subject (docs/subjects.md: `out.<name>`, `events`, …) with ts-dask's msgpack extensions (typed arrays, Map, Set, BigInt, Error). */
export { decode as decodeMessage } from "./runtime/codec.ts";
export type * from "./runtime/protocol.ts";
/** A worker as `client.info()` and `ts-dask info` show it (protocol.ts `WorkerInfo`; the name `WorkerInfo` here is getWorker()'s, below). */
export type { WorkerInfo as ClusterWorkerInfo } from "./runtime/protocol.ts";
export { TSDASK_VERSION } from "./runtime/version.ts";
export { authFromSources, type NatsAuth } from "./runtime/nats-auth.ts";
export { getWorker, type WorkerInfo } from "./runtime/worker-context.ts";
export { Scheduler, type SchedulerOptions } from "./actors/scheduler/scheduler.ts";
export { Supervisor, type SupervisorOptions } from "./actors/supervisor/supervisor.ts";
export { startScheduler, startWorker, type StartSchedulerOptions, type StartWorkerOptions, type EmbeddedScheduler, type EmbeddedWorker, type Logger } from "./actors/embed.ts";
export * from "./workloads/index.ts";
