/**
 * The scheduler's HTTP side and events, as an operator's tools see them: `ts-dask scheduler`
 * with `--dashboard-address`, a `ts-dask worker` with 2 executors, `/metrics` read by a Prometheus
 * text-format parser, `/health`, and the `events` subject read by a plain NATS subscriber
 * (`nats` + `@msgpack/msgpack`, nothing of ts-dask).
 */
import { decode } from "@msgpack/msgpack";
import { connect, type Msg, type NatsConnection } from "nats";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Client, type TsDaskError } from "../index.ts";
import { encode } from "../runtime/codec.ts";
import type { Transport } from "../runtime/transport.ts";
import { cli, stopAllCli } from "./helpers/cli.ts";
import { cleanup, childExit, startTestNats, waitFor, withTimeout } from "./helpers/cluster.ts";
import { localUrl, Metrics } from "./helpers/dashboard.ts";

type Ev = { type: string; t: number; [k: string]: unknown };

/** A plain NATS subscriber on the cluster's events subject. */
class Subscriber {
  readonly events: Ev[] = [];
  private waiters: (() => void)[] = [];
  private constructor(readonly nc: NatsConnection) {}
  static async start(url: string, subject: string) {
    const s = new Subscriber(await connect({ servers: url }));
    s.nc.subscribe(subject, {
      callback: (_e, m) => {
        s.events.push(decode(m.data) as Ev);
        for (const w of s.waiters.splice(0)) w();
      },
    });
    await s.nc.flush();
    return s;
  }
  /** Resolves with the events matching `pred` once there are `n` (an event, not a poll). */
  async until(pred: (e: Ev) => boolean, n = 1, timeoutMs = 30_000): Promise<Ev[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hits = this.events.filter(pred);
      if (hits.length >= n) return hits;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} event(s); saw ${JSON.stringify(this.events.map((e) => e.type))}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, deadline - Date.now() + 1);
        this.waiters.push(() => (clearTimeout(t), r()));
      });
    }
  }
}

const t = suite<{ url: string; dash: string; sub: Subscriber; client: Client }>("metrics");

t.before(async (ctx) => {
  const nats = await startTestNats();
  ctx.url = nats.url;
  ctx.sub = await Subscriber.start(ctx.url, "tsdask.m1.events");
  const sched = cli(["scheduler", "--nats", ctx.url, "--cluster", "m1", "--dashboard-address", "127.0.0.1:0"]);
  const m = await sched.waitFor(/dashboard at (http:\/\/\S+)/);
  ctx.dash = localUrl(m[1]!);
  cli(["worker", ctx.url, "--cluster", "m1", "--nprocs", "2", "--name", "W", "--memory-limit", "1GB", "--local-directory", "/tmp/ts-dask-test-metrics"]);
  await ctx.sub.until((e) => e.type === "worker-joined" && e.name === "W");
  await ctx.sub.until((e) => e.type === "executor-joined", 2);
  ctx.client = await withTimeout(Client.connect(ctx.url, { cluster: "m1" }), 20_000, "client connect");
});

t.after(async (ctx) => {
  await ctx.client?.close();
  await ctx.sub?.nc.close();
  await stopAllCli();
  await cleanup();
});

t("GET /health: ok, with the cluster's workers and executors", async ({ dash }) => {
  const r = await fetch(new URL("health", dash));
  assert.is(r.status, 200);
  const h = (await r.json()) as { status: string; cluster: string; workers: number; executors: number; nats: boolean };
  assert.is(h.status, "ok");
  assert.is(h.cluster, "m1");
  assert.is(h.workers, 1);
  assert.is(h.executors, 2);
  assert.ok(h.nats);
  assert.is((await fetch(new URL("nope", dash))).status, 404);
});

t("GET /metrics: every series is there and the values move during a run; the run's events arrive", async ({ dash, client, sub }) => {
  // Executors report memory and CPU in heartbeats (every 500 ms): wait for the first ones.
  let before!: Metrics;
  await waitFor(async () => (before = await Metrics.fetch(dash)).family("tsdask_executor_memory_bytes").metrics.every((s) => Number(s.value) > 0), {
    timeoutMs: 10_000,
    label: "executor heartbeats with memory",
  });
  for (const name of [
    "tsdask_workers",
    "tsdask_executors",
    "tsdask_tasks",
    "tsdask_tasks_completed_total",
    "tsdask_tasks_failed_total",
    "tsdask_tasks_stolen_total",
    "tsdask_tasks_retried_total",
    "tsdask_task_duration_seconds",
    "tsdask_executor_restarts_total",
    "tsdask_executor_memory_bytes",
    "tsdask_executor_memory_limit_bytes",
    "tsdask_executor_cpu_percent",
    "tsdask_scheduler_memory_bytes",
    "tsdask_bytes_total",
    "tsdask_jobs",
  ]) before.family(name);
  // prom-client's standard metrics of the scheduler's process (the scheduler here is `ts-dask scheduler`).
  for (const name of ["process_cpu_seconds_total", "process_resident_memory_bytes", "process_start_time_seconds", "nodejs_eventloop_lag_seconds", "nodejs_heap_size_used_bytes", "nodejs_gc_duration_seconds", "nodejs_version_info"]) before.family(name);
  assert.ok(before.value("process_resident_memory_bytes") > 10e6, "the scheduler's RSS");
  assert.ok(before.value("process_cpu_seconds_total") > 0, "the scheduler's CPU time");
  assert.is(before.family("nodejs_gc_duration_seconds").type, "HISTOGRAM");
  assert.ok(Math.abs(before.value("process_start_time_seconds") - before.value("tsdask_scheduler_start_time_seconds")) < 30, "the process started with the scheduler");
  assert.is(before.family("tsdask_task_duration_seconds").type, "HISTOGRAM");
  assert.is(before.family("tsdask_tasks_completed_total").type, "COUNTER");
  assert.is(before.value("tsdask_workers", { state: "running" }), 1);
  assert.is(before.value("tsdask_executors", { state: "running" }), 2);
  assert.is(before.family("tsdask_executor_memory_bytes").metrics.length, 2);
  for (const s of before.family("tsdask_executor_memory_bytes").metrics) assert.ok(Number(s.value) > 10e6, "executor RSS is reported");
  assert.is(before.value("tsdask_executor_memory_limit_bytes", { executor: "W-0" }), 1e9);
  const c0 = before.value("tsdask_tasks_completed_total");
  const bytes0 = before.value("tsdask_bytes_total", { process: "scheduler", direction: "in" });

  // 3000 tasks of ~2 ms on 2 executors: ~3 s; six of them throw.
  const N = 3000;
  const work = (x: number) => {
    const end = Date.now() + 2;
    while (Date.now() < end);
    if (x % 500 === 3) throw new RangeError(`bad ${x}`);
    return x;
  };
  const futures = client.map(work, Array.from({ length: N }, (_, i) => i));
  const started = (await sub.until((e) => e.type === "job-started" && e.total === N))[0]!;
  assert.is(started.kind, "map");
  assert.is(started.name, "work");

  // Mid-run: some done, the rest still queued or assigned, CPU visible.
  let mid: Metrics | undefined;
  await waitFor(
    async () => {
      const m = await Metrics.fetch(dash);
      const done = m.value("tsdask_tasks_completed_total") - c0;
      if (done > 0 && done < N) mid = m;
      return mid !== undefined;
    },
    { timeoutMs: 30_000, label: "tsdask_tasks_completed_total to move while the job runs" },
  );
  const pending = mid!.value("tsdask_tasks", { state: "queued" }) + mid!.value("tsdask_tasks", { state: "assigned" });
  assert.ok(pending > 0, "tasks not completed yet are queued or assigned");
  assert.is(mid!.value("tsdask_jobs", { state: "running" }), 1);

  const values = await withTimeout(client.gather(futures, { errors: "skip" }), 60_000, "the job");
  assert.is(values.length, N - 6);
  // The scheduler hears of the last completions just after the client: the job-finished event says when.
  const finished = (await sub.until((e) => e.type === "job-finished" && e.job === started.job))[0]!;
  assert.is(finished.total, N);
  assert.is(finished.errors, 6);
  const after = await Metrics.fetch(dash);
  assert.is(after.value("tsdask_tasks_completed_total") - c0, N);
  assert.is(after.value("tsdask_tasks_failed_total"), 6);
  assert.ok(after.value("tsdask_tasks_completed_total") > mid!.value("tsdask_tasks_completed_total"));
  const hist = after.family("tsdask_task_duration_seconds").metrics[0]!;
  assert.is(Number(hist.count), after.value("tsdask_tasks_completed_total"));
  assert.is(Number(hist.buckets!["+Inf"]), Number(hist.count));
  assert.ok(Number(hist.buckets!["0.001"]) < Number(hist.count), "2 ms tasks are above the 1 ms bucket");
  assert.ok(Number(hist.sum) >= N * 0.002 * 0.9, `histogram sum ${hist.sum} s covers ~${N} × 2 ms`);
  assert.is(after.value("tsdask_function_tasks_total", { function: "work" }), N);
  assert.ok(after.value("tsdask_bytes_total", { process: "scheduler", direction: "in" }) > bytes0, "bytes moved grow");
  assert.ok(after.value("tsdask_bytes_total", { process: "executors", direction: "out" }) > 0);
  assert.is(after.value("tsdask_jobs", { state: "finished" }), 1);
  assert.is(after.value("tsdask_tasks", { state: "queued" }), 0);

  const erred = await sub.until((e) => e.type === "task-erred" && e.job === started.job);
  assert.is(erred.reduce((n, e) => n + (e.count as number), 0), 6, "every failure is in a task-erred event, aggregated per batch");
  const err = erred[0]!.error as { name: string; message: string };
  assert.is(err.name, "RangeError");
  assert.match(err.message, /^bad \d+$/);
  assert.match(String(erred[0]!.worker), /^W-[01]$/);
  for (const e of sub.events) assert.type(e.t, "number");
});

t("an executor killed mid-run: restart and re-queued tasks are counted, and announced", async ({ dash, client, sub }) => {
  const info = await client.info();
  const victim = info.workers[0]!.executors.find((e) => e.name === "W-0")!;
  const slow = (x: number) => new Promise<number>((r) => setTimeout(() => r(x), 50));
  const futures = client.map(slow, Array.from({ length: 120 }, (_, i) => i));
  // Once results flow, both executors hold tasks.
  for await (const _ of client.asCompleted(futures.slice(0, 4))) break;
  process.kill(victim.pid, "SIGKILL");
  const killed = (await sub.until((e) => e.type === "killed-worker" && e.id === victim.id))[0]!;
  assert.ok((killed.requeued as number) > 0, "the dead executor's tasks were re-queued");
  assert.is(killed.failed, 0, "a first death fails nothing (allowed failures)");
  const restarted = (await sub.until((e) => e.type === "executor-restarted" && e.id === victim.id))[0]!;
  assert.is(restarted.memory, false);
  assert.match(String(restarted.reason), /SIGKILL/);
  const out = await withTimeout(client.gather(futures), 60_000, "the job after the kill");
  assert.is(out.length, 120);
  await sub.until((e) => e.type === "executor-joined" && e.name === "W-0", 2);
  const m = await Metrics.fetch(dash);
  assert.is(m.value("tsdask_executor_restarts_total", { reason: "crash" }), 1);
  assert.is(m.value("tsdask_executor_restarts_total", { reason: "memory" }), 0);
  assert.ok(m.value("tsdask_tasks_retried_total") >= (killed.requeued as number));
});

t("a task that keeps killing its executor: KilledWorker in task-erred and killed-worker events, counted as failed", async ({ dash, client, sub }) => {
  const before = await Metrics.fetch(dash);
  const crashy = (x: number) => {
    if (x === 5) process.exit(7);
    return x;
  };
  const futures = client.map(crashy, Array.from({ length: 20 }, (_, i) => i));
  const started = (await sub.until((e) => e.type === "job-started" && e.name === "crashy"))[0]!;
  const err = await withTimeout(futures[5]!.exception(), 90_000, "the crashing task to fail");
  assert.is(err?.code, "KilledWorker");
  const erred = (await sub.until((e) => e.type === "task-erred" && e.job === started.job))[0]!;
  assert.is((erred.error as { name: string }).name, "KilledWorker");
  assert.is(erred.count, 1);
  const deaths = await sub.until((e) => e.type === "killed-worker" && (e.failed as number) > 0);
  assert.is(deaths[0]!.failed, 1);
  assert.match(String(deaths[0]!.reason), /exited with code 7/);
  await sub.until((e) => e.type === "job-finished" && e.job === started.job && e.errors === 1);
  const after = await Metrics.fetch(dash);
  assert.is(after.value("tsdask_tasks_failed_total") - before.value("tsdask_tasks_failed_total"), 1);
  assert.ok(after.value("tsdask_executor_restarts_total", { reason: "crash" }) - before.value("tsdask_executor_restarts_total", { reason: "crash" }) >= 3);
  await withTimeout(client.gather(futures, { errors: "skip" }), 60_000, "the others");
});

t("a worker that stops says goodbye: worker-left, and it is listed as gone", async ({ url, dash, sub }) => {
  const w = cli(["worker", url, "--cluster", "m1", "--nprocs", "1", "--name", "Short"]);
  await sub.until((e) => e.type === "worker-joined" && e.name === "Short");
  await sub.until((e) => e.type === "executor-joined" && e.name === "Short-0");
  assert.is(await withTimeout(w.stop("SIGTERM"), 30_000, "worker stop"), 0);
  await childExit(w.proc);
  await sub.until((e) => e.type === "worker-left" && e.name === "Short");
  const m = await Metrics.fetch(dash);
  assert.is(m.value("tsdask_workers", { state: "gone" }), 1);
  assert.is(m.value("tsdask_workers", { state: "running" }), 1);
  const snap = (await (await fetch(new URL("api/snapshot", dash))).json()) as { workers: { name: string; state: string }[] };
  assert.equal(snap.workers.find((x) => x.name === "Short")?.state, "gone");
});

t("a reply after its request gave up: counted by the client, shown by `ts-dask info` and /metrics", async ({ url, dash, client }) => {
  // A peer that answers only once the client's request has timed out (real NATS, no ts-dask in it).
  const nc = await connect({ servers: url });
  let asked!: (m: Msg) => void;
  const request = new Promise<Msg>((r) => (asked = r));
  nc.subscribe("test.late-replies", { max: 1, callback: (_e, m) => asked(m) });
  await nc.flush();
  const tx = (client as unknown as { tx: Transport }).tx;
  const before = await Metrics.fetch(dash);
  assert.is(before.value("tsdask_late_replies_total", { where: "clients" }), 0);
  const gaveUp = tx.request("test.late-replies", {}, 300).then(
    () => assert.unreachable("answered in time"),
    (e: TsDaskError) => e.code,
  );
  const m = await withTimeout(request, 10_000, "the request at the late peer");
  assert.is(await gaveUp, "NoReply");
  m.respond(encode({ late: true }));
  await nc.flush();
  await waitFor(() => tx.requests.lateReplies === 1, { timeoutMs: 10_000, label: "the client counts the late reply" });
  // Reported with the client's next lease renewal (every ~1.25 s with the default 5 s grace).
  await waitFor(async () => (await Metrics.fetch(dash)).value("tsdask_late_replies_total", { where: "clients" }) === 1, { timeoutMs: 30_000, label: "/metrics counts it" });
  const after = await Metrics.fetch(dash);
  assert.is(after.value("tsdask_late_replies_total", { where: "scheduler" }), 0);
  const info = cli(["info", url, "--cluster", "m1"]);
  assert.is(await info.exited, 0);
  assert.match(info.output(), "late replies (arrived after their request gave up, dropped): 0 at the scheduler, 1 at clients, 0 at executors");
  const json = cli(["info", url, "--cluster", "m1", "--json"]);
  assert.is(await json.exited, 0);
  assert.equal(JSON.parse(json.output()).lateReplies, { scheduler: 0, clients: 1, executors: 0 });
  await nc.close();
});

t.run();
