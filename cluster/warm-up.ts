/**
 * The embedded process's warm-up (issue 13 item 5: a cold process's first map). `Client.connect()`
 * with no address waits ~0.2 s for its executor processes to boot, with this process's event loop
 * idle; its first real map then ran the client's and scheduler's per-task code (submitter,
 * onSubmit, the task table, takeBatch, onDone, onResults, the codec) in V8's interpreter while
 * TurboFan compiled it on partial type feedback, threw it away ("wrong map", "insufficient type
 * feedback") and compiled it again: ~0.6 CPU-s of compiling in a 100k-task map, on 2 cores that
 * the executors need. So meanwhile a scratch cluster runs a few small maps through that same
 * code: a {@link Scheduler} and a {@link Client} of their own on a private in-process bus
 * (runtime/loopback.ts) and a private link (runtime/link.ts, as the embedded client's), with
 * stand-in executors that answer each batch as an executor does (results to the client, a
 * completion to the scheduler) without running anything. Nothing reaches NATS, the real
 * scheduler, its tables or its counters; it all ends when the warm-up does.
 */
import { silentLogger } from "../runtime/actor.ts";
import { decode, encode } from "../runtime/codec.ts";
import { isTaskBatch } from "../runtime/guards.ts";
import { Link } from "../runtime/link.ts";
import { LoopbackBus } from "../runtime/loopback.ts";
import { subjects, type Done, type Heartbeat, type RegisterExecutor, type RegisterReply, type RegisterWorker, type Results } from "../runtime/protocol.ts";
import { Transport } from "../runtime/transport.ts";
import { hello } from "../runtime/version.ts";
import { Scheduler } from "../actors/scheduler/scheduler.ts";
import { Client } from "../client/client.ts";

/** The scratch cluster's name (subjects on the private bus only). */
const CLUSTER = "warm-up";
/** Stand-in executors (as many as a 2-core machine's embedded cluster has), one thread each. */
const EXECUTORS = 2;
/**
 * Rounds at most: each a map, then {@link SUBMITS} lone submits. The maps grow from
 * {@link FIRST_ROWS} rows, doubling up to {@link MAX_ROWS}: a first round on cold code is slow, and
 * `stop()` is heard between steps.
 */
export const WARMUP_ROUNDS = 12;
const FIRST_ROWS = 100;
const MAX_ROWS = 2_000;
const SUBMITS = 4;
/** The most the rounds may take in all (wall time), whatever happens: it is optional work. */
const BUDGET_MS = 250;

/** What {@link warmUp} did. */
export interface WarmUpReport {
  rounds: number;
  ms: number;
  /** Tasks whose results the scratch client received. */
  tasks: number;
}

/**
 * Runs rounds until `stop()` is true (checked between rounds), {@link WARMUP_ROUNDS} are done or
 * the budget is spent; then stops the scratch cluster. Never throws: a warm-up that fails changes
 * nothing but the speed of the first map.
 */
export async function warmUp(stop: () => boolean = () => false): Promise<WarmUpReport> {
  const t0 = performance.now();
  const bus = new LoopbackBus();
  const s = subjects(CLUSTER);
  const schedTx = Transport.wrap(bus.connection(), "ts-dask warm-up scheduler");
  const link = new Link();
  schedTx.joinLink(link, "server");
  let scheduler: Scheduler | undefined;
  let client: Client | undefined;
  const report: WarmUpReport = { rounds: 0, ms: 0, tasks: 0 };
  try {
    scheduler = await Scheduler.start(schedTx, { cluster: CLUSTER, log: silentLogger, clientGraceMs: 60_000 });
    await standInExecutors(bus, s);
    // As the embedded client: the scheduler's connection shared, joined to the link as its client side.
    const clientTx = schedTx.share("ts-dask warm-up client", s.inbox);
    clientTx.joinLink(link, "client");
    client = await Client.attach(clientTx, CLUSTER);
    const more = () => report.rounds < WARMUP_ROUNDS && performance.now() - t0 < BUDGET_MS && !stop();
    for (let rows = FIRST_ROWS; more(); rows = Math.min(MAX_ROWS, rows * 2)) {
      // Two functions: the call sites that pass a user's function see more than one.
      const xs = Array.from({ length: rows }, (_, i) => i);
      report.tasks += (await client.gather(client.map(report.rounds % 2 ? (x: number) => x + 1 : (x: number) => x * 2, xs))).length;
      for (let i = 0; i < SUBMITS && more(); i++) {
        await client.submit((x: number) => x, i).result();
        report.tasks++;
      }
      report.rounds++;
    }
  } catch {
    // The first map is then as cold as without a warm-up.
  } finally {
    await client?.close().catch(() => {});
    await scheduler?.stop().catch(() => {});
    bus.close();
  }
  report.ms = performance.now() - t0;
  return report;
}

/**
 * A worker and {@link EXECUTORS} executors registered with the scratch scheduler, each answering
 * its task batches at once, as an executor's outbox does (actors/executor/outbox.ts): the rows'
 * arguments come back as their results, with their tickets, and one completion per batch.
 */
async function standInExecutors(bus: LoopbackBus, s: ReturnType<typeof subjects>): Promise<void> {
  const tx = Transport.wrap(bus.connection(), "ts-dask warm-up worker");
  const instance = "warm-up-worker";
  const worker: RegisterWorker = { kind: "worker", hello: hello(), name: "warm-up", instance, host: "warm-up", pid: process.pid, platform: process.platform, nprocs: EXECUTORS, nthreads: 1, memoryLimit: 0 };
  const w = await tx.request<RegisterReply>(s.register, worker, 1000);
  if (!w.ok) throw new Error(w.message);
  for (let i = 0; i < EXECUTORS; i++) {
    const id = `warm-up-exec-${i}`;
    const reg: RegisterExecutor = { kind: "executor", hello: hello(), id, name: `warm-up-${i}`, worker: instance, index: i, nthreads: 1, pid: process.pid };
    const r = await tx.request<RegisterReply>(s.register, reg, 1000);
    if (!r.ok || !r.auth) throw new Error(r.ok ? "no token" : r.message);
    const auth = r.auth;
    tx.subscribe(s.execTasks(id), (data) => {
      const m = decode(data);
      if (!isTaskBatch(m)) return;
      const slots: number[] = [];
      for (const g of m.groups) {
        const results: Results = { worker: reg.name, keys: g.keys, values: g.cols[0] ?? [], tickets: g.tickets };
        tx.publish(s.results(g.client), encode(results));
        for (const slot of g.slots) slots.push(slot);
      }
      const stats: Done["stats"] = m.groups.map((g) => [g.fn, g.slots.length, g.slots.length * 0.001]);
      const done: Done = { exec: id, sched: m.sched, auth, slots: Uint32Array.from(slots), failed: 0, stats, span: 0.1 };
      tx.send(s.done, done);
    });
    // Its first message with its token confirms the registration: batches follow.
    const beat: Heartbeat = { id, kind: "executor", auth, running: 0, queued: 0, rss: 0 };
    tx.send(s.heartbeat, beat);
  }
  await tx.flush();
}
