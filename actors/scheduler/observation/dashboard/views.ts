/**
 * The shapes the dashboard page and `ts-dask info` read: the live snapshot (task stream, jobs,
 * history, worker rows) and the worker table's columns. Built by monitor.ts.
 */
import type { ActorInfo, ClusterEvent } from "../../../../runtime/protocol.ts";
import type { WorkerRow } from "../../../../runtime/cluster-info.ts";
// The worker table is shared with `ts-dask info`: it lives in runtime/cluster-info.ts.
export { byNodeText, WORKER_COLUMNS, workerRow, workerRows, type WorkerRow } from "../../../../runtime/cluster-info.ts";

/** Upper bounds (seconds) of the task duration histogram. */
export const DURATION_BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300];

/** One bar of the task stream: tasks of one function finished by one executor in one stretch. */
export interface StreamEntry {
  id: number;
  /** Bumped when the entry is created or extended: what a delta has to re-send. */
  v: number;
  /** Executor name (`<worker>-<i>`): one row per name, kept across restarts. */
  exec: string;
  fn: string;
  /** Epoch ms on the scheduler's clock. */
  start: number;
  end: number;
  count: number;
  errors: number;
  /** Milliseconds spent inside the tasks (the rest of [start, end] × threads is overhead or idle). */
  busy: number;
  threads: number;
}

export interface JobView {
  key: string;
  client: string;
  job: number;
  name: string;
  /** "map" (one client call), "submit" (single submits of one function, pooled). */
  kind: "map" | "submit";
  total: number;
  done: number;
  errors: number;
  state: "running" | "finished";
  startedAt: number;
  finishedAt?: number;
  /** Tasks per second, recent. */
  rate: number;
  /** Seconds left at the current rate (undefined when unknown). */
  eta?: number;
}

/** Per-second history point: [epoch s, tasks/s, failed/s, cluster CPU %, memory bytes, memory limit bytes]. */
export type HistoryPoint = [number, number, number, number, number, number];

export interface Snapshot {
  t: number;
  /** Stream version: pass it back as `sinceSeq` for the next delta. */
  seq: number;
  cluster: string;
  /** `node`: the Node.js version; `nats`: the NATS node the scheduler is connected to. */
  scheduler: { host: string; instance: string; version: string; node: string; startedAt: number; rss: number; nats?: string };
  /** Clients by the NATS node they are connected to. */
  clientNodes?: Record<string, number>;
  totals: {
    workers: number;
    executors: number;
    clients: number;
    queued: number;
    /** Queue entries by priority, and queued tasks waiting for worker resources (issue 15). */
    byPriority?: Record<string, number>;
    needingResources?: number;
    assigned: number;
    running: number;
    completed: number;
    failed: number;
    stolen: number;
    retried: number;
    restarts: number;
    memoryRestarts: number;
    bytesIn: number;
    bytesOut: number;
  };
  workers: WorkerRow[];
  jobs: JobView[];
  fns: { hash: string; name: string; count: number; meanMs: number; errors: number }[];
  /** Stream entries changed since `since` (all of the window when since = 0). */
  stream: StreamEntry[];
  streamMs: number;
  /** History points after `since` (all when 0). */
  history: HistoryPoint[];
  events: (ClusterEvent & { t: number })[];
  /** User actors (issue 14): host, state, calls and calls/s each. */
  actors: ActorInfo[];
}
