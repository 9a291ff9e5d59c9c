/**
 * The shapes the dashboard page and `ts-dask info` read: the live snapshot (task stream, jobs,
 * history, worker rows) and the worker table's columns. Built by monitor.ts.
 */
import type { ActorInfo, ClusterEvent, ClusterInfo, WorkerInfo } from "../../../runtime/protocol.ts";

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

export interface WorkerRow {
  name: string;
  host: string;
  /**
   * The NATS node(s) it is connected to (protocol.ts NatsNode): its supervisor's, then any other
   * node one of its executors is on (`n2; executors also on n1`), "?" when not known.
   */
  nats: string;
  executors: number;
  nprocs: number;
  nthreads: number;
  state: string;
  /** Mean CPU % of the worker's executors (100 = one core each). */
  cpu: number;
  rss: number;
  /** memoryLimit × executors (0 = no limit). */
  memoryLimit: number;
  running: number;
  queued: number;
  done: number;
  restarts: number;
  versions: string;
  /** Worker resources, free / offered over its executors (`GPU 0/1, MEM 8e9/8e9`), "-" for none. */
  resources: string;
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

/** One worker as a table row (shared by the dashboard and `ts-dask info`). */
export function workerRow(w: WorkerInfo): WorkerRow {
  let cpu = 0;
  let rss = 0;
  let running = 0;
  let queued = 0;
  let done = 0;
  for (const e of w.executors) {
    cpu += e.cpu ?? 0;
    rss += e.rss;
    running += e.running;
    queued += e.queued;
    done += e.done;
  }
  return {
    resources: resourcesCell(w),
    name: w.name,
    host: w.host,
    nats: natsCell(w),
    executors: w.executors.length,
    nprocs: w.nprocs,
    nthreads: w.nthreads,
    state: w.state,
    cpu: w.executors.length ? cpu / w.executors.length : 0,
    rss,
    memoryLimit: w.memoryLimit * Math.max(w.executors.length, w.state === "gone" ? 0 : w.nprocs),
    running,
    queued,
    done: w.done ?? done,
    restarts: w.restarts ?? 0,
    versions: `ts-dask ${w.hello.version} · Node ${w.hello.node}`,
  };
}

/** The worker table's NATS cell: the supervisor's node, then other nodes its executors are on. */
function natsCell(w: WorkerInfo): string {
  if (w.state === "gone") return "-";
  const own = w.nats ?? "?";
  const others = [...new Set(w.executors.map((e) => e.nats ?? "?"))].filter((n) => n !== own).sort();
  return others.length ? `${own}; executors also on ${others.join(", ")}` : own;
}

/** "n1: 2, n3: 1": clients (or anything counted) by NATS node. */
export function byNodeText(counts: Record<string, number> | undefined): string {
  return Object.entries(counts ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([n, c]) => `${n}: ${c}`)
    .join(", ");
}

/** Columns of the worker table, in order: [key, title]. The dashboard and `ts-dask info` use these. */
export const WORKER_COLUMNS: [keyof WorkerRow | "memory" | "tasks", string][] = [
  ["name", "worker"],
  ["host", "host"],
  ["nats", "NATS node"],
  ["executors", "executors"],
  ["nthreads", "threads"],
  ["state", "state"],
  ["cpu", "CPU"],
  ["memory", "memory"],
  ["tasks", "running / queued"],
  ["done", "done"],
  ["resources", "resources (free / total)"],
  ["versions", "versions"],
];

/** `GPU 0/1, MEM 8e9/8e9`: per resource, free / offered summed over the worker's executors. */
function resourcesCell(w: WorkerInfo): string {
  if (!w.resources) return "-";
  const n = w.executors.length;
  return Object.entries(w.resources)
    .map(([k, v]) => `${k} ${amount(w.executors.reduce((a, e) => a + (e.resourcesFree?.[k] ?? v), 0))}/${amount(v * n)}`)
    .join(", ");
}

/** 1, 0.5, 8e9: short enough for a table cell. */
function amount(x: number): string {
  return Math.abs(x) < 1e6 ? String(+x.toPrecision(6)) : (+x.toPrecision(6)).toExponential().replace("e+", "e");
}

/** Every worker of `info` as a table row, the departed ones (state gone) last. */
export function workerRows(info: ClusterInfo): WorkerRow[] {
  return [...info.workers, ...(info.departed ?? [])].map((w) => workerRow(w));
}
