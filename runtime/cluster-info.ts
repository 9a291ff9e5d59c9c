/**
 * The cluster's state as a table, from a {@link ClusterInfo} (`sched.info`): one row per worker,
 * shared by the dashboard (actors/scheduler/observation/dashboard/) and `ts-dask info` (cli/info.ts).
 */
import type { ClusterInfo, WorkerInfo } from "./protocol.ts";

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

/** One worker as a table row (shared by the dashboard and `ts-dask info`). */
export function workerRow(w: WorkerInfo, scheduler?: string): WorkerRow {
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
    // Another ts-dask version than the scheduler's is accepted (same protocol) but marked.
    versions: `ts-dask ${w.hello.version}${scheduler !== undefined && scheduler !== w.hello.version ? ` (≠ scheduler ${scheduler})` : ""} · Node ${w.hello.node}`,
  };
}

/** The worker table's NATS cell: the supervisor's node, then other nodes its executors are on. */
function natsCell(w: WorkerInfo): string {
  if (w.state === "gone") return "-";
  const own = w.nats ?? "?";
  const others = [...new Set(w.executors.map((e) => e.nats ?? "?"))].filter((n) => n !== own).sort();
  return others.length ? `${own}; executors also on ${others.join(", ")}` : own;
}

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

/** Every worker of `info` as a table row, the departed ones (state gone) last. */
export function workerRows(info: ClusterInfo): WorkerRow[] {
  return [...info.workers, ...(info.departed ?? [])].map((w) => workerRow(w, info.scheduler.hello.version));
}
