/**
 * `GET /metrics` through prom-client: one `Registry` per scheduler holding the cluster's metrics
 * (workers and executors by state, tasks by state and totals, the task duration histogram,
 * per-function totals, restarts, memory, CPU, bytes moved, scattered data held, jobs, clients) and
 * prom-client's standard `process_*` / `nodejs_*` metrics of the scheduler's process.
 *
 * Nothing here runs per task. The values live where the scheduler keeps them anyway (the monitor's
 * counters, `info()`), and each metric's `collect()` copies them into prom-client at scrape time.
 * The registry, and prom-client itself (~100–300 ms to load), are created on the first scrape, so
 * a cluster nobody scrapes pays nothing, not even the default metrics' event-loop sampler.
 *
 * The task duration histogram is the one metric prom-client does not build: executors report
 * durations per completion batch (count and total per function), and prom-client's
 * `Histogram.observe` takes one observation per call (~250 ns each, measured), which per task is
 * ~5 % of the whole per-task cost of an embedded cluster. The monitor counts each batch's tasks
 * into its buckets at once; `BatchHistogram` hands those counts to the registry in prom-client's
 * own histogram shape, and the registry writes them out with everything else.
 */
import type { Counter, Gauge, Registry } from "prom-client";
import { lazyRequire } from "../../../runtime/lazy.ts";
import type { ClusterInfo, FnDef } from "../../../runtime/protocol.ts";
import { DURATION_BUCKETS, type JobView } from "./dashboard/views.ts";
import { fnLabel } from "./fn-label.ts";

/** What the metrics read of the scheduler's monitor (monitor.ts implements it; no import back). */
export interface MetricsSource {
  readonly completed: number;
  readonly failed: number;
  readonly retried: number;
  readonly restarts: number;
  readonly memoryRestarts: number;
  readonly stolen: number;
  readonly durationBuckets: Float64Array;
  readonly durationSum: number;
  readonly durationCount: number;
  readonly perFn: ReadonlyMap<string, { count: number; ms: number; errors: number }>;
  bytes(): { in: number; out: number; schedulerIn: number; schedulerOut: number; executorsIn: number; executorsOut: number };
  jobViews(): JobView[];
}

const prom = lazyRequire<typeof import("prom-client")>("prom-client");

/** What one scrape reads once and every metric's `collect()` shares. */
interface Scrape {
  info: ClusterInfo;
  jobs: JobView[];
  bytes: ReturnType<MetricsSource["bytes"]>;
}

type Labels = Record<string, string>;
type Fill = (s: Scrape, put: (labels: Labels, v: number) => void) => void;

/** The scheduler's `/metrics`: `text()` renders the Prometheus text format. */
export class SchedulerMetrics {
  private registry: Registry | undefined;
  private scrape: Scrape | undefined;

  constructor(
    private readonly mon: MetricsSource,
    private readonly info: () => ClusterInfo,
    private readonly fnDef: (hash: string) => FnDef | undefined,
  ) {}

  /** The content type of `text()` (Prometheus text format 0.0.4). */
  get contentType(): string {
    return prom().Registry.PROMETHEUS_CONTENT_TYPE;
  }

  /** Every metric, now, in the Prometheus text format. */
  async text(): Promise<string> {
    const registry = (this.registry ??= this.build());
    this.scrape = { info: this.info(), jobs: this.mon.jobViews(), bytes: this.mon.bytes() };
    return registry.metrics();
  }

  private build(): Registry {
    const { Registry: Reg, Gauge: G, Counter: C, collectDefaultMetrics } = prom();
    const registry = new Reg();
    collectDefaultMetrics({ register: registry });
    const mon = this.mon;
    const current = (): Scrape => this.scrape!;
    const gauge = (name: string, help: string, labelNames: string[], fill: Fill) =>
      new G({
        name,
        help,
        labelNames,
        registers: [registry],
        collect(this: Gauge) {
          this.reset(); // label sets that are gone (an executor that left) go with it
          fill(current(), (l, v) => this.set(l, v));
        },
      });
    const counter = (name: string, help: string, labelNames: string[], fill: Fill) =>
      new C({
        name,
        help,
        labelNames,
        registers: [registry],
        collect(this: Counter) {
          // The monitor holds the running totals; the counter shows them as they are now.
          this.reset();
          fill(current(), (l, v) => this.inc(l, Math.max(0, v)));
        },
      });
    const executors = (s: Scrape) => s.info.workers.flatMap((w) => w.executors.map((e) => ({ w, e, labels: { worker: w.name, executor: e.name } })));

    gauge("tsdask_workers", "Workers by state.", ["state"], (s, put) => {
      const n: Record<string, number> = { running: 0, paused: 0, restarting: 0, gone: 0 };
      for (const w of [...s.info.workers, ...(s.info.departed ?? [])]) n[w.state] = (n[w.state] ?? 0) + 1;
      for (const [state, v] of Object.entries(n)) put({ state }, v);
    });
    gauge("tsdask_executors", "Executor processes by state.", ["state"], (s, put) => {
      const n: Record<string, number> = { running: 0, paused: 0, suspect: 0, retiring: 0, joining: 0 };
      for (const { e } of executors(s)) n[e.state] = (n[e.state] ?? 0) + 1;
      for (const [state, v] of Object.entries(n)) put({ state }, v);
    });
    gauge("tsdask_tasks", "Tasks by state: queued on the scheduler, assigned to an executor (processing there: running or waiting in its queue).", ["state"], (s, put) => {
      let running = 0;
      let waiting = 0;
      for (const { e } of executors(s)) (running += e.running), (waiting += e.queued);
      put({ state: "queued" }, s.info.tasks.queued);
      put({ state: "assigned" }, s.info.tasks.assigned);
      put({ state: "running" }, running);
      put({ state: "waiting" }, waiting);
    });
    counter("tsdask_tasks_completed_total", "Tasks finished (succeeded or failed).", [], (_s, put) => put({}, mon.completed));
    counter("tsdask_tasks_failed_total", "Tasks that failed.", [], (_s, put) => put({}, mon.failed));
    counter("tsdask_tasks_stolen_total", "Tasks taken back from an executor to run elsewhere.", [], (_s, put) => put({}, mon.stolen));
    counter("tsdask_tasks_retried_total", "Tasks re-queued because their executor died or left.", [], (_s, put) => put({}, mon.retried));
    counter("tsdask_tasks_duplicate_total", "Completions for tasks not (or no longer) assigned to the reporter.", [], (s, put) => put({}, s.info.tasks.duplicates));
    counter("tsdask_forged_total", "Messages dropped as not bound to the scheduler (wrong token, replay), and result rows dropped for a bad ticket, by where.", ["where"], (s, put) => {
      if (s.info.trust) for (const where of ["scheduler", "executors", "clients"] as const) put({ where }, s.info.trust[where]);
    });
    counter("tsdask_late_replies_total", "Replies that arrived after their request gave up (timed out, or answered already), dropped, by where: the scheduler's own, and what its clients and executors report.", ["where"], (s, put) => {
      if (s.info.lateReplies) for (const where of ["scheduler", "clients", "executors"] as const) put({ where }, s.info.lateReplies[where]);
    });
    gauge("tsdask_rival_schedulers", "Other scheduler instances heard on this cluster recently (should be 0).", [], (s, put) => {
      if (s.info.trust) put({}, s.info.trust.rivals.length);
    });
    registry.registerMetric(new BatchHistogram("tsdask_task_duration_seconds", "Task run time on the executor (per completion batch: each batch's tasks counted at their mean).", mon) as never);
    counter("tsdask_function_tasks_total", "Tasks finished per function.", ["function", "hash"], (_s, put) => {
      for (const [hash, f] of mon.perFn) put({ function: fnLabel(this.fnDef(hash), hash), hash: hash.slice(0, 12) }, f.count);
    });
    counter("tsdask_function_seconds_total", "Time spent in tasks per function.", ["function", "hash"], (_s, put) => {
      for (const [hash, f] of mon.perFn) put({ function: fnLabel(this.fnDef(hash), hash), hash: hash.slice(0, 12) }, f.ms / 1000);
    });
    counter("tsdask_executor_restarts_total", "Executor processes restarted by their worker, by reason.", ["reason"], (_s, put) => {
      put({ reason: "memory" }, mon.memoryRestarts);
      put({ reason: "crash" }, mon.restarts - mon.memoryRestarts);
    });
    gauge("tsdask_executor_memory_bytes", "Resident memory of each executor process.", ["worker", "executor"], (s, put) => {
      for (const { e, labels } of executors(s)) put(labels, e.rss);
    });
    gauge("tsdask_executor_memory_limit_bytes", "Memory limit of each executor process (0: none).", ["worker", "executor"], (s, put) => {
      for (const { w, labels } of executors(s)) put(labels, w.memoryLimit);
    });
    gauge("tsdask_executor_cpu_percent", "CPU use of each executor process (100 = one core).", ["worker", "executor"], (s, put) => {
      for (const { e, labels } of executors(s)) put(labels, e.cpu ?? 0);
    });
    gauge("tsdask_scheduler_memory_bytes", "Scheduler process memory.", ["kind"], (s, put) => {
      put({ kind: "rss" }, s.info.scheduler.rss);
      put({ kind: "heap" }, s.info.scheduler.heapUsed);
    });
    counter("tsdask_bytes_total", "NATS message bytes received and sent, by the scheduler and by the executors.", ["process", "direction"], (s, put) => {
      put({ process: "scheduler", direction: "in" }, s.bytes.schedulerIn);
      put({ process: "scheduler", direction: "out" }, s.bytes.schedulerOut);
      put({ process: "executors", direction: "in" }, s.bytes.executorsIn);
      put({ process: "executors", direction: "out" }, s.bytes.executorsOut);
    });
    gauge("tsdask_data_values", "Scattered values (and large task values) held in the scheduler's memory.", [], (s, put) => put({}, s.info.data.values));
    gauge("tsdask_data_bytes", "Bytes of the values held in the scheduler's memory.", [], (s, put) => put({}, s.info.data.bytes));
    gauge("tsdask_jobs", "Jobs (client map/submit calls) known to the scheduler, by state.", ["state"], (s, put) => {
      put({ state: "running" }, s.jobs.filter((j) => j.state === "running").length);
      put({ state: "finished" }, s.jobs.filter((j) => j.state === "finished").length);
    });
    gauge("tsdask_clients", "Clients that registered with the scheduler.", [], (s, put) => put({}, s.info.clients));
    gauge("tsdask_scheduler_start_time_seconds", "When the scheduler started (Unix time).", [], (s, put) => put({}, s.info.scheduler.startedAt / 1000));
    return registry;
  }
}

/**
 * The task duration histogram in the shape prom-client's own `Histogram#get()` returns (bucket,
 * sum and count values), read from the monitor's bucket counts; see the file's comment for why.
 */
class BatchHistogram {
  readonly type = "histogram";
  readonly aggregator = "sum";
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly mon: MetricsSource,
  ) {}

  async get() {
    const { durationBuckets: b, durationSum, durationCount } = this.mon;
    const values: { labels: Labels; value: number; metricName: string }[] = [];
    let cum = 0;
    for (let i = 0; i < DURATION_BUCKETS.length; i++) {
      cum += b[i]!;
      values.push({ labels: { le: String(DURATION_BUCKETS[i]) }, value: cum, metricName: `${this.name}_bucket` });
    }
    cum += b[DURATION_BUCKETS.length]!;
    values.push({ labels: { le: "+Inf" }, value: cum, metricName: `${this.name}_bucket` });
    values.push({ labels: {}, value: durationSum, metricName: `${this.name}_sum` });
    values.push({ labels: {}, value: durationCount, metricName: `${this.name}_count` });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    // The monitor's counts are the cluster's record; resetMetrics() does not clear them.
  }
}
