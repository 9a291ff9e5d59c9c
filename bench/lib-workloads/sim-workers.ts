/**
 * Simulated workers for bench/scheduler-scale (issue 15 item 2): one process hosting many light
 * supervisors and executors that speak the real protocol (runtime/protocol.ts) over one NATS
 * connection, so a 2-core machine can show a scheduler 1,000 workers.
 *
 * Each simulated worker registers (`sched.register` kind worker), heartbeats every beat listing
 * its executors as the real supervisor does; each executor registers, confirms with a heartbeat,
 * takes task batches on `exec.<id>.tasks`, "runs" them one at a time (a task takes `taskMs` of
 * simulated time, the task's first argument, a number of milliseconds; 0: done at once), and sends results (with the dispatched tickets echoed, so a
 * real client accepts them) and completions with the real outbox's rules (actors/executor/outbox.ts):
 * at once when it goes idle; once per batch received, as soon as the completions held are as many
 * as the tasks still queued; after the outbox's linger for the tasks' mean duration (`lingerFor`)
 * at the latest. It answers steals and reconciliation (`control resync`) like the real executor and
 * skips its own heartbeat while completions flow (a full one at least every 2 s).
 *
 * argv: <nats url> <cluster> <workers> <executors per worker> <name prefix>
 * IPC in: { vanish: workerIndex } — that worker and its executors go silent (a machine cut off:
 * no bye), reported back as { vanished, at: Date.now(), executors: [ids] }.
 * IPC out: { ready: executors } once every executor is confirmed.
 */
import { randomBytes } from "node:crypto";
import { decode } from "../../runtime/codec.ts";
import { subjects, type Done, type ExecControl, type Heartbeat, type RegisterReply, type Results, type StealRequest, type TaskBatch } from "../../runtime/protocol.ts";
import { Transport, type Sub } from "../../runtime/transport.ts";
import { hello } from "../../runtime/version.ts";
import { LINGER_MS, lingerFor } from "../../actors/executor/outbox.ts";
import { msToBeat } from "../../runtime/beat-clock.ts";

const [url, cluster, nWorkers, perWorker, prefix] = process.argv.slice(2);
const FULL_BEAT_MS = 2000;
const s = subjects(cluster!);
const tx = await Transport.connect({ servers: url!, name: `sim-${prefix}`, inboxPrefix: s.inbox });
const id = () => randomBytes(6).toString("hex");

interface SimExec {
  id: string;
  name: string;
  auth: string;
  sched: string;
  subs: Sub[];
  /** Queued tasks, as parallel columns: client, fn, slot, key, ticket words. */
  q: { client: string[]; fn: string[]; slot: number[]; key: number[]; ms: number[]; t0: number[]; t1: number[] };
  head: number;
  /** Simulated start of the task at the head (performance.now()). */
  startedAt: number;
  /** Completions held back: slots, and per client the results. */
  done: number[];
  results: Map<string, { keys: number[]; tickets: number[] }>;
  stats: Map<string, [number, number]>;
  firstDoneAt: number;
  lastDoneSent: number;
  /** The refill cue went out since the last batch (the outbox's `asked`). */
  asked: boolean;
  /** When held completions leave at the latest: the next point of the linger's grid after the first (as the outbox's timer). */
  flushAt: number;
  /** Mean simulated task duration (ms, moving average, as the outbox's): the linger's length. */
  meanMs: number;
  lastBeat: number;
  silent: boolean;
}
interface SimWorker {
  instance: string;
  name: string;
  auth: string;
  execs: SimExec[];
  silent: boolean;
}

const queued = (e: SimExec) => e.q.slot.length - e.head;

function onTasks(e: SimExec, m: TaskBatch) {
  if (e.silent || m.auth !== e.auth) return;
  const wasIdle = queued(e) === 0;
  for (const g of m.groups) {
    const args = decode<unknown[][]>(g.rows);
    for (let r = 0; r < g.slots.length; r++) {
      e.q.client.push(g.client);
      e.q.fn.push(g.fn);
      e.q.slot.push(g.slots[r]!);
      e.q.key.push(g.keys[r]!);
      const ms = args[r]?.[0];
      e.q.ms.push(typeof ms === "number" && ms > 0 ? ms : 0);
      e.q.t0.push(g.tickets?.[2 * r] ?? 0);
      e.q.t1.push(g.tickets?.[2 * r + 1] ?? 0);
    }
  }
  e.asked = false;
  if (wasIdle) e.startedAt = performance.now();
  busy.add(e);
  scheduleAdvance();
}

/** Zero-length tasks finish at the next turn; others when the ticker sees their time has passed. */
let advanceSoon = false;
function scheduleAdvance() {
  if (advanceSoon) return;
  advanceSoon = true;
  setImmediate(() => {
    advanceSoon = false;
    const now = performance.now();
    for (const e of busy) advance(e, now);
  });
}

/** Finishes the tasks whose simulated time has passed; flushes by the outbox's rules. */
function advance(e: SimExec, now: number) {
  if (e.done.length === 0) (e.firstDoneAt = now), (e.flushAt = Infinity);
  while (e.head < e.q.slot.length && e.startedAt + e.q.ms[e.head]! <= now) {
    const i = e.head++;
    const client = e.q.client[i]!;
    let r = e.results.get(client);
    if (!r) e.results.set(client, (r = { keys: [], tickets: [] }));
    r.keys.push(e.q.key[i]!);
    r.tickets.push(e.q.t0[i]!, e.q.t1[i]!);
    e.done.push(e.q.slot[i]!);
    const st = e.stats.get(e.q.fn[i]!) ?? e.stats.set(e.q.fn[i]!, [0, 0]).get(e.q.fn[i]!)!;
    st[0]++;
    st[1] += e.q.ms[i]!;
    e.startedAt += e.q.ms[i]!;
    e.meanMs = e.meanMs < 0 ? e.q.ms[i]! : e.meanMs + (e.q.ms[i]! - e.meanMs) * 0.1;
  }
  if (queued(e) === 0) {
    e.q = { client: [], fn: [], slot: [], key: [], ms: [], t0: [], t1: [] };
    e.head = 0;
    busy.delete(e);
  }
  if (!e.done.length) return;
  if (e.flushAt === Infinity) e.flushAt = now + msToBeat(lingerFor(e.meanMs));
  const cue = !e.asked && e.done.length >= queued(e);
  if (cue) e.asked = true;
  if (queued(e) === 0 || cue || now >= e.flushAt) flush(e, now);
}

function flush(e: SimExec, now: number) {
  if (e.silent) return;
  for (const [client, r] of e.results) {
    const msg: Results = { worker: e.name, keys: Uint32Array.from(r.keys), values: new Array(r.keys.length).fill(null), tickets: Uint32Array.from(r.tickets) };
    tx.send(s.results(client), msg);
  }
  e.results.clear();
  const msg: Done = { exec: e.id, sched: e.sched, auth: e.auth, slots: Uint32Array.from(e.done), failed: 0, stats: [...e.stats].map(([fn, [n, ms]]) => [fn, n, ms]), span: now - e.firstDoneAt };
  tx.send(s.done, msg);
  e.done = [];
  e.stats.clear();
  e.lastDoneSent = now;
}

function onSteal(e: SimExec, m: StealRequest, reply: string | undefined) {
  if (e.silent || m.auth !== e.auth || !reply) return;
  // Give back up to `max` of the tasks not started (the head one runs).
  const from = Math.min(e.q.slot.length, Math.max(e.head + 1, e.q.slot.length - m.max));
  const slots = Uint32Array.from(e.q.slot.slice(from));
  for (const col of Object.values(e.q)) col.length = from;
  tx.send(reply, { slots, auth: e.auth });
}

function onControl(e: SimExec, m: ExecControl) {
  if (e.silent || m.auth !== e.auth) return;
  if (m.op === "resync") {
    flush(e, performance.now());
    tx.send(s.resync, { exec: e.id, sched: e.sched, auth: e.auth, held: Uint32Array.from(e.q.slot.slice(e.head)), ...(typeof m.nonce === "number" ? { nonce: m.nonce } : {}) });
  }
}

function beat(e: SimExec, now: number, force = false) {
  if (e.silent) return;
  if (!force && now - e.lastDoneSent < beatMs && now - e.lastBeat < FULL_BEAT_MS) return;
  e.lastBeat = now;
  const hb: Heartbeat = { id: e.id, kind: "executor", auth: e.auth, running: queued(e) > 0 ? 1 : 0, queued: Math.max(0, queued(e) - 1), rss: 50e6 };
  tx.send(s.heartbeat, hb);
}

async function ask(msg: unknown): Promise<RegisterReply & { ok: true }> {
  for (;;) {
    try {
      const r = await tx.request<RegisterReply>(s.register, msg, 5000);
      if (r.ok) return r;
      throw new Error(r.message);
    } catch (e) {
      if (!Transport.isNoAnswer(e)) throw e;
    }
  }
}

let beatMs = 500;
const busy = new Set<SimExec>();
const workers: SimWorker[] = [];
const all: SimExec[] = [];
// The supervisors' beats (listing their executors) and the executors' own (skipped while completions flow).
setInterval(() => {
  const now = performance.now();
  for (const w of workers) {
    if (w.silent) continue;
    tx.send(s.heartbeat, { id: w.instance, kind: "worker", auth: w.auth, running: 0, queued: 0, rss: 50e6, executors: w.execs.map((e) => e.id) } satisfies Heartbeat);
  }
  for (const e of all) beat(e, now);
}, 500); // the scheduler's default beat; registration replies say so too

for (let w = 0; w < Number(nWorkers); w++) {
  const name = `${prefix}w${w}`;
  const worker: SimWorker = { instance: id(), name, auth: "", execs: [], silent: false };
  const r = await ask({ kind: "worker", hello: hello(), name, instance: worker.instance, host: "sim", pid: process.pid, platform: "linux", nprocs: Number(perWorker), nthreads: 1, memoryLimit: 0 });
  worker.auth = r.auth ?? "";
  beatMs = r.heartbeatMs;
  workers.push(worker);
  await Promise.all(
    Array.from({ length: Number(perWorker) }, async (_, i) => {
      const e: SimExec = { id: id(), name: `${name}-${i}`, auth: "", sched: "", subs: [], q: { client: [], fn: [], slot: [], key: [], ms: [], t0: [], t1: [] }, head: 0, startedAt: 0, done: [], results: new Map(), stats: new Map(), firstDoneAt: 0, lastDoneSent: -Infinity, asked: false, flushAt: Infinity, meanMs: -1, lastBeat: -Infinity, silent: false };
      e.subs.push(tx.subscribe(s.execTasks(e.id), (d) => onTasks(e, decode<TaskBatch>(d))));
      e.subs.push(tx.subscribe(s.execSteal(e.id), (d, reply) => onSteal(e, decode<StealRequest>(d), reply)));
      e.subs.push(tx.subscribe(s.execControl(e.id), (d) => onControl(e, decode<ExecControl>(d))));
      const er = await ask({ kind: "executor", hello: hello(), id: e.id, name: e.name, worker: worker.instance, index: i, nthreads: 1, pid: process.pid });
      e.auth = er.auth ?? "";
      e.sched = er.scheduler;
      beat(e, performance.now(), true); // confirms the registration
      worker.execs.push(e);
      all.push(e);
    }),
  );
}

// Simulated time: every 2 ms, finish what is due on busy executors.
setInterval(() => {
  if (busy.size) scheduleAdvance();
}, 2);
setInterval(() => {
  const now = performance.now();
  for (const e of all) if (e.done.length && now >= e.flushAt) flush(e, now);
}, LINGER_MS / 2);

process.on("message", (m: { vanish?: number }) => {
  if (typeof m.vanish !== "number") return;
  const w = workers[m.vanish]!;
  w.silent = true;
  for (const e of w.execs) {
    e.silent = true;
    for (const sub of e.subs) sub.unsubscribe();
    busy.delete(e);
  }
  process.send!({ vanished: w.name, at: Date.now(), executors: w.execs.map((e) => e.id) });
});
process.on("disconnect", () => void tx.close().then(() => process.exit(0)));
await tx.flush();
process.send!({ ready: all.length });
