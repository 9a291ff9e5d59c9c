/**
 * `GET /metrics`: the monitor's counters and the scheduler's cluster info in the Prometheus text
 * format (workers and executors by state, tasks by state and totals, the task duration histogram,
 * per-function totals, restarts, memory, CPU, bytes moved, scattered data held, jobs, clients).
 */
import type { ClusterInfo, ExecutorInfo, FnDef } from "../../runtime/protocol.ts";
import { DURATION_BUCKETS } from "./dashboard/views.ts";
import { fnLabel, type Monitor } from "./monitor.ts";

export function prometheusText(mon: Monitor, info: ClusterInfo, fnDef: (hash: string) => FnDef | undefined): string {
  const m = new PromWriter();
  const workers = [...info.workers, ...(info.departed ?? [])];
  const wStates: Record<string, number> = { running: 0, paused: 0, restarting: 0, gone: 0 };
  for (const w of workers) wStates[w.state] = (wStates[w.state] ?? 0) + 1;
  m.family("tsdask_workers", "gauge", "Workers by state.");
  for (const [state, n] of Object.entries(wStates)) m.sample("tsdask_workers", { state }, n);
  const eStates: Record<string, number> = { running: 0, paused: 0, suspect: 0, retiring: 0, joining: 0 };
  let running = 0;
  let queuedOnExecutors = 0;
  for (const w of info.workers)
    for (const e of w.executors) {
      eStates[e.state] = (eStates[e.state] ?? 0) + 1;
      running += e.running;
      queuedOnExecutors += e.queued;
    }
  m.family("tsdask_executors", "gauge", "Executor processes by state.");
  for (const [state, n] of Object.entries(eStates)) m.sample("tsdask_executors", { state }, n);
  m.family("tsdask_tasks", "gauge", "Tasks by state: queued on the scheduler, assigned to an executor (processing there: running or waiting in its queue).");
  m.sample("tsdask_tasks", { state: "queued" }, info.tasks.queued);
  m.sample("tsdask_tasks", { state: "assigned" }, info.tasks.assigned);
  m.sample("tsdask_tasks", { state: "running" }, running);
  m.sample("tsdask_tasks", { state: "waiting" }, queuedOnExecutors);
  m.counter("tsdask_tasks_completed_total", "Tasks finished (succeeded or failed).", mon.completed);
  m.counter("tsdask_tasks_failed_total", "Tasks that failed.", mon.failed);
  m.counter("tsdask_tasks_stolen_total", "Tasks taken back from an executor to run elsewhere.", mon.stolen);
  m.counter("tsdask_tasks_retried_total", "Tasks re-queued because their executor died or left.", mon.retried);
  m.counter("tsdask_tasks_duplicate_total", "Completions for tasks not (or no longer) assigned to the reporter.", info.tasks.duplicates);
  if (info.trust) {
    m.family("tsdask_forged_total", "counter", "Messages dropped as not bound to the scheduler (wrong token, replay), and result rows dropped for a bad ticket, by where.");
    for (const where of ["scheduler", "executors", "clients"] as const) m.sample("tsdask_forged_total", { where }, info.trust[where]);
    m.family("tsdask_rival_schedulers", "gauge", "Other scheduler instances heard on this cluster recently (should be 0).");
    m.sample("tsdask_rival_schedulers", {}, info.trust.rivals.length);
  }
  m.family("tsdask_task_duration_seconds", "histogram", "Task run time on the executor (per completion batch: each batch's tasks counted at their mean).");
  let cum = 0;
  for (let i = 0; i < DURATION_BUCKETS.length; i++) {
    cum += mon.durationBuckets[i]!;
    m.sample("tsdask_task_duration_seconds_bucket", { le: String(DURATION_BUCKETS[i]) }, cum);
  }
  cum += mon.durationBuckets[DURATION_BUCKETS.length]!;
  m.sample("tsdask_task_duration_seconds_bucket", { le: "+Inf" }, cum);
  m.sample("tsdask_task_duration_seconds_sum", {}, mon.durationSum);
  m.sample("tsdask_task_duration_seconds_count", {}, mon.durationCount);
  m.family("tsdask_function_tasks_total", "counter", "Tasks finished per function.");
  for (const [hash, f] of mon.perFn) m.sample("tsdask_function_tasks_total", { function: fnLabel(fnDef(hash), hash), hash: hash.slice(0, 12) }, f.count);
  m.family("tsdask_function_seconds_total", "counter", "Time spent in tasks per function.");
  for (const [hash, f] of mon.perFn) m.sample("tsdask_function_seconds_total", { function: fnLabel(fnDef(hash), hash), hash: hash.slice(0, 12) }, f.ms / 1000);
  m.family("tsdask_executor_restarts_total", "counter", "Executor processes restarted by their worker, by reason.");
  m.sample("tsdask_executor_restarts_total", { reason: "memory" }, mon.memoryRestarts);
  m.sample("tsdask_executor_restarts_total", { reason: "crash" }, mon.restarts - mon.memoryRestarts);
  const rows: [Record<string, string>, ExecutorInfo, number][] = [];
  for (const w of info.workers) for (const e of w.executors) rows.push([{ worker: w.name, executor: e.name }, e, w.memoryLimit]);
  m.family("tsdask_executor_memory_bytes", "gauge", "Resident memory of each executor process.");
  for (const [l, e] of rows) m.sample("tsdask_executor_memory_bytes", l, e.rss);
  m.family("tsdask_executor_memory_limit_bytes", "gauge", "Memory limit of each executor process (0: none).");
  for (const [l, , lim] of rows) m.sample("tsdask_executor_memory_limit_bytes", l, lim);
  m.family("tsdask_executor_cpu_percent", "gauge", "CPU use of each executor process (100 = one core).");
  for (const [l, e] of rows) m.sample("tsdask_executor_cpu_percent", l, e.cpu ?? 0);
  m.family("tsdask_scheduler_memory_bytes", "gauge", "Scheduler process memory.");
  m.sample("tsdask_scheduler_memory_bytes", { kind: "rss" }, info.scheduler.rss);
  m.sample("tsdask_scheduler_memory_bytes", { kind: "heap" }, info.scheduler.heapUsed);
  const b = mon.bytes();
  m.family("tsdask_bytes_total", "counter", "NATS message bytes received and sent, by the scheduler and by the executors.");
  m.sample("tsdask_bytes_total", { process: "scheduler", direction: "in" }, b.schedulerIn);
  m.sample("tsdask_bytes_total", { process: "scheduler", direction: "out" }, b.schedulerOut);
  m.sample("tsdask_bytes_total", { process: "executors", direction: "in" }, b.executorsIn);
  m.sample("tsdask_bytes_total", { process: "executors", direction: "out" }, b.executorsOut);
  m.family("tsdask_data_values", "gauge", "Scattered values (and large task values) held in the scheduler's memory.");
  m.sample("tsdask_data_values", {}, info.data.values);
  m.family("tsdask_data_bytes", "gauge", "Bytes of the values held in the scheduler's memory.");
  m.sample("tsdask_data_bytes", {}, info.data.bytes);
  const jobs = mon.jobViews();
  m.family("tsdask_jobs", "gauge", "Jobs (client map/submit calls) known to the scheduler, by state.");
  m.sample("tsdask_jobs", { state: "running" }, jobs.filter((j) => j.state === "running").length);
  m.sample("tsdask_jobs", { state: "finished" }, jobs.filter((j) => j.state === "finished").length);
  m.family("tsdask_clients", "gauge", "Clients that registered with the scheduler.");
  m.sample("tsdask_clients", {}, info.clients);
  m.family("tsdask_scheduler_start_time_seconds", "gauge", "When the scheduler started (Unix time).");
  m.sample("tsdask_scheduler_start_time_seconds", {}, info.scheduler.startedAt / 1000);
  return m.text();
}

/** Writes the Prometheus text format. */
class PromWriter {
  private readonly lines: string[] = [];
  family(name: string, type: "gauge" | "counter" | "histogram", help: string) {
    this.lines.push(`# HELP ${name} ${help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`, `# TYPE ${name} ${type}`);
  }
  counter(name: string, help: string, v: number) {
    this.family(name, "counter", help);
    this.sample(name, {}, v);
  }
  sample(name: string, labels: Record<string, string>, v: number) {
    const l = Object.entries(labels);
    const ls = l.length ? `{${l.map(([k, x]) => `${k}="${x.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`).join(",")}}` : "";
    this.lines.push(`${name}${ls} ${fmt(v)}`);
  }
  text() {
    return this.lines.join("\n") + "\n";
  }
}

function fmt(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(12)));
}
