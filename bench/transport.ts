/**
 * bench/transport: the cost of carrying task batches over core NATS vs JetStream, on a private
 * nats-server (JetStream on, temporary store directory).
 *
 * Throughput pattern: a producer sends BATCHES (200) batches of TASKS (5,000) small tasks, each batch
 * one msgpack message (~40 KB: `{ keys: Uint32Array, cols: [number[]] }`); a consumer on a second
 * connection decodes each batch and answers with a completion (`{ keys: Uint32Array }`) that the
 * producer receives and decodes. End-to-end time runs from the first encode to the last completion.
 *   - core-pubsub:   publish + subscribe, completions by publish (no flow control)
 *   - core-request:  request/reply per batch, ≤ 4 outstanding (how the project submits)
 *   - js-file/js-mem: work-queue stream on the batch subject (file / memory storage), js.publish
 *                    awaiting each PubAck (≤ 4 outstanding), durable pull consumer via consume()
 *                    acking every message, completions by core publish.
 * Latency: p50 of 1,000 sequential round trips of a 100-byte message, core request/reply vs
 * JetStream publish (PubAck awaited) → consume → ack → core reply.
 *
 * Producer and consumer share this process (two connections, one JS thread), so client-side CPU of
 * both ends is counted; `codecOnlyMs` is the msgpack share of a run for reference.
 * Every configuration runs BENCH_RUNS (≥ 5) times, configurations alternating, after one warm-up each.
 */
import { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType, connect, type ConsumerMessages, type JetStreamClient, type JsMsg, type NatsConnection } from "nats";
import { decode, encode } from "../runtime/codec.ts";
import { startNatsServer } from "../runtime/nats-server.ts";
import { median, percentile, report, runs } from "./lib.ts";

const BATCHES = Number(process.env.BENCH_BATCHES ?? 200);
const TASKS = 5000;
const WINDOW = 4;
const LAT_N = Number(process.env.BENCH_N ?? 1000);
const RUNS = Math.max(5, runs());
const RUN_TIMEOUT_MS = 120_000;

interface Batch {
  keys: Uint32Array;
  cols: number[][];
}
interface Done {
  keys: Uint32Array;
}

const col = Array.from({ length: TASKS }, (_, i) => i * 30); // 0…149970: msgpack uint16/uint32 mix → ~40 KB batches
function makeBatch(b: number): Uint8Array {
  const keys = new Uint32Array(TASKS);
  for (let i = 0; i < TASKS; i++) keys[i] = b * TASKS + i;
  return encode({ keys, cols: [col] } satisfies Batch);
}
/** Consumer side: decode the batch, build the completion. */
function complete(data: Uint8Array): Uint8Array {
  const batch = decode<Batch>(data);
  if (batch.keys.length !== TASKS || batch.cols[0]!.length !== TASKS) throw new Error("bad batch");
  return encode({ keys: batch.keys } satisfies Done);
}

/** Producer side: counts completions; resolves when all BATCHES distinct batches have completed. */
class Completions {
  private seen = new Set<number>();
  private resolve!: () => void;
  readonly all = new Promise<void>((r) => (this.resolve = r));
  add(data: Uint8Array): void {
    const d = decode<Done>(data);
    if (d.keys.length !== TASKS) throw new Error("bad completion");
    this.seen.add(d.keys[0]! / TASKS);
    if (this.seen.size === BATCHES) this.resolve();
  }
}

function withTimeout<T>(p: Promise<T>, what: string, ms = RUN_TIMEOUT_MS): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<never>((_, rej) => (t = setTimeout(() => rej(new Error(`${what}: no end within ${ms} ms`)), ms))),
  ]);
}

/** Runs `send(k)` for k = 0…n-1 with at most `window` calls outstanding. */
async function windowed(n: number, window: number, send: (k: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < n) await send(next++);
  };
  await Promise.all(Array.from({ length: window }, lane));
}

const yieldIo = () => new Promise<void>((r) => setImmediate(r));

// ---------------------------------------------------------------------------------------------

const server = await startNatsServer({ jetstream: true });
const opts = { servers: server.url, noAsyncTraces: true, maxReconnectAttempts: -1 };
const producer: NatsConnection = await connect({ ...opts, name: "bench-producer" });
const consumer: NatsConnection = await connect({ ...opts, name: "bench-consumer" });
const jsP: JetStreamClient = producer.jetstream();
const jsC: JetStreamClient = consumer.jetstream();
const jsm = await producer.jetstreamManager();

const STORES = { file: StorageType.File, mem: StorageType.Memory } as const;
type Store = keyof typeof STORES;
for (const [s, storage] of Object.entries(STORES)) {
  for (const kind of ["batch", "lat"]) {
    const stream = `${kind}_${s}`.toUpperCase();
    await jsm.streams.add({ name: stream, subjects: [`js.${s}.${kind}`], storage, retention: RetentionPolicy.Workqueue });
    await jsm.consumers.add(stream, { durable_name: "worker", ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All });
  }
}

let seq = 0; // fresh completion subjects per run: nothing stale can be counted

async function corePubSub(): Promise<number> {
  const subj = `core.batch.${++seq}`;
  const doneSubj = `done.${seq}`;
  const done = new Completions();
  const dsub = producer.subscribe(doneSubj, { callback: (_e, m) => done.add(m.data) });
  const sub = consumer.subscribe(subj, { callback: (_e, m) => consumer.publish(doneSubj, complete(m.data)) });
  await Promise.all([producer.flush(), consumer.flush()]);
  const t0 = performance.now();
  for (let k = 0; k < BATCHES; k++) {
    producer.publish(subj, makeBatch(k));
    await yieldIo();
  }
  await withTimeout(done.all, "core-pubsub");
  const ms = performance.now() - t0;
  sub.unsubscribe();
  dsub.unsubscribe();
  return ms;
}

async function coreRequest(): Promise<number> {
  const subj = `core.req.${++seq}`;
  const done = new Completions();
  const sub = consumer.subscribe(subj, { callback: (_e, m) => m.respond(complete(m.data)) });
  await consumer.flush();
  const t0 = performance.now();
  await withTimeout(
    windowed(BATCHES, WINDOW, async (k) => {
      const reply = await producer.request(subj, makeBatch(k), { timeout: 30_000 });
      done.add(reply.data);
    }),
    "core-request",
  );
  await done.all;
  const ms = performance.now() - t0;
  sub.unsubscribe();
  return ms;
}

/** Starts the durable pull consumer of `stream`: each message is handed to `onMsg`, then acked. */
async function startJsConsumer(stream: string, onMsg: (data: Uint8Array) => void): Promise<ConsumerMessages> {
  const c = await jsC.consumers.get(stream, "worker");
  return c.consume({
    callback: (m: JsMsg) => {
      onMsg(m.data);
      m.ack();
    },
  });
}

async function jetStream(store: Store): Promise<number> {
  const subj = `js.${store}.batch`;
  const doneSubj = `done.${++seq}`;
  const done = new Completions();
  const dsub = producer.subscribe(doneSubj, { callback: (_e, m) => done.add(m.data) });
  const msgs = await startJsConsumer(`BATCH_${store.toUpperCase()}`, (data) => consumer.publish(doneSubj, complete(data)));
  await Promise.all([producer.flush(), consumer.flush()]);
  const t0 = performance.now();
  const seqs = new Set<number>();
  await withTimeout(
    windowed(BATCHES, WINDOW, async (k) => {
      const ack = await jsP.publish(subj, makeBatch(k));
      seqs.add(ack.seq);
    }),
    `js-${store} publish`,
  );
  await withTimeout(done.all, `js-${store}`);
  const ms = performance.now() - t0;
  if (seqs.size !== BATCHES) throw new Error(`js-${store}: ${seqs.size} distinct PubAcks`);
  await msgs.close();
  dsub.unsubscribe();
  return ms;
}

const small = new Uint8Array(100).fill(7);

async function latCore(): Promise<number[]> {
  const subj = `core.lat.${++seq}`;
  const sub = consumer.subscribe(subj, { callback: (_e, m) => m.respond(small) });
  await consumer.flush();
  const ts: number[] = [];
  for (let i = 0; i < LAT_N; i++) {
    const t0 = performance.now();
    const r = await producer.request(subj, small, { timeout: 10_000 });
    ts.push(performance.now() - t0);
    if (r.data.length !== 100) throw new Error("bad reply");
  }
  sub.unsubscribe();
  return ts;
}

async function latJs(store: Store): Promise<number[]> {
  const subj = `js.${store}.lat`;
  const doneSubj = `done.lat.${++seq}`;
  let waiter: (() => void) | undefined;
  const dsub = producer.subscribe(doneSubj, { callback: () => waiter?.() });
  const msgs = await startJsConsumer(`LAT_${store.toUpperCase()}`, () => consumer.publish(doneSubj, small));
  await Promise.all([producer.flush(), consumer.flush()]);
  const ts: number[] = [];
  for (let i = 0; i < LAT_N; i++) {
    const t0 = performance.now();
    const replied = new Promise<void>((r) => (waiter = r));
    await jsP.publish(subj, small);
    await withTimeout(replied, `js-${store} latency`, 10_000);
    ts.push(performance.now() - t0);
  }
  await msgs.close();
  dsub.unsubscribe();
  return ts;
}

function codecOnly(): number {
  const done = new Completions();
  const t0 = performance.now();
  for (let k = 0; k < BATCHES; k++) done.add(complete(makeBatch(k)));
  return performance.now() - t0;
}

// ---------------------------------------------------------------------------------------------

const throughputCfgs: Record<string, () => Promise<number>> = {
  "core-pubsub": corePubSub,
  "core-request": coreRequest,
  "js-file": () => jetStream("file"),
  "js-mem": () => jetStream("mem"),
};
const latencyCfgs: Record<string, () => Promise<number[]>> = {
  "core-request": latCore,
  "js-file": () => latJs("file"),
  "js-mem": () => latJs("mem"),
};

const r3 = (x: number) => +x.toFixed(3);
const r0 = (x: number) => Math.round(x);
let exitCode = 0;
try {
  const batchBytes = makeBatch(0).byteLength;
  const doneBytes = complete(makeBatch(0)).byteLength;
  // Warm-up: one run of each (JIT, stream files, consumer pull requests), not recorded.
  codecOnly();
  for (const f of Object.values(throughputCfgs)) await f();
  for (const f of Object.values(latencyCfgs)) await f();

  const thr: Record<string, number[]> = Object.fromEntries(Object.keys(throughputCfgs).map((k) => [k, []]));
  const lat: Record<string, { p50: number[]; p99: number[] }> = Object.fromEntries(Object.keys(latencyCfgs).map((k) => [k, { p50: [], p99: [] }]));
  const codec: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    // Alternate configurations; rotate the starting one so none always runs first.
    const names = Object.keys(throughputCfgs);
    for (let i = 0; i < names.length; i++) {
      const n = names[(i + r) % names.length]!;
      thr[n]!.push(await throughputCfgs[n]!());
    }
    const lnames = Object.keys(latencyCfgs);
    for (let i = 0; i < lnames.length; i++) {
      const n = lnames[(i + r) % lnames.length]!;
      const ts = await latencyCfgs[n]!();
      lat[n]!.p50.push(percentile(ts, 50));
      lat[n]!.p99.push(percentile(ts, 99));
    }
    codec.push(codecOnly());
  }

  // Work-queue streams drop a message once acked: anything left means an ack went missing.
  const leftInStreams: Record<string, number> = {};
  for (const name of ["BATCH_FILE", "BATCH_MEM", "LAT_FILE", "LAT_MEM"]) leftInStreams[name] = (await jsm.streams.info(name)).state.messages;

  const throughput = Object.fromEntries(
    Object.entries(thr).map(([n, ms]) => {
      const m = median(ms);
      return [
        n,
        {
          medianMs: r0(m),
          batchesPerSec: r0((BATCHES / m) * 1000),
          tasksPerSec: r0(((BATCHES * TASKS) / m) * 1000),
          allRunsMs: ms.map(r0),
          allRunsTasksPerSec: ms.map((x) => r0(((BATCHES * TASKS) / x) * 1000)),
        },
      ];
    }),
  );
  const latency = Object.fromEntries(
    Object.entries(lat).map(([n, v]) => [n, { p50Ms: r3(median(v.p50)), p99Ms: r3(median(v.p99)), allRuns: { p50: v.p50.map(r3), p99: v.p99.map(r3) } }]),
  );
  report({
    bench: "transport",
    server: "nats-server (private, JetStream on, temp store dir)",
    runs: RUNS,
    batches: BATCHES,
    tasksPerBatch: TASKS,
    batchBytes,
    completionBytes: doneBytes,
    window: WINDOW,
    jetstream: { retention: "workqueue", consumer: "durable pull, consume(), explicit ack per message", leftInStreams },
    throughput,
    codecOnlyMs: { median: r0(median(codec)), allRuns: codec.map(r0) },
    latency: { roundTrips: LAT_N, messageBytes: small.byteLength, ...latency },
  });
} catch (e) {
  console.error(e);
  exitCode = 1;
} finally {
  await Promise.allSettled([producer.close(), consumer.close()]);
  await server.stop();
}
process.exitCode = exitCode;
