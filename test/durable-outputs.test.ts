/**
 * Durable named outputs (`{ publish, durable }`, issue 14 part 3): rows stored in a JetStream
 * stream are read by a consumer that starts after the run (examples/consumers/replay.ts, a real
 * second process), a durable consumer resumes without repeating or losing a message, and a server
 * without JetStream refuses the call up front with a named error.
 */
import { connect } from "nats";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { best, Client, subjects } from "../index.ts";
import { runExample, withTimeout } from "./helpers/cluster.ts";

type Row = { client: string; job: number; index: number; key: number; value?: unknown; error?: { code: string; message: string } };
const rowsOf = (out: string) =>
  out
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Row & { caught_up?: number; messages?: number })
    .filter((l) => "index" in l);
const endOf = (out: string) => JSON.parse(out.trim().split("\n").pop()!) as { caught_up: number; messages: number };

let client: Client;
test.before(async () => {
  client = await withTimeout(Client.connect(undefined, { local: { nprocs: 2, quiet: true, jetstream: true } }), 60_000, "cluster start");
});
test.after(async () => {
  await client?.close();
});

test("a consumer started after the run reads every row of a durable output once", async () => {
  const lc = client.localCluster!;
  const n = 300;
  const xs = Array.from({ length: n }, (_, i) => i);
  const futures = client.map((x: number) => { if (x === 7) throw new RangeError("seven"); return x * x; }, xs, { publish: "late", durable: { maxAgeMs: 3_600_000 } });
  await Promise.allSettled(futures.map((f) => f.result()));
  await client.flush(); // every settled row stored
  const out = await runExample("examples/consumers/replay.ts", { args: [lc.url, "--cluster", lc.cluster, "--name", "late"] });
  const rows = rowsOf(out);
  assert.is(rows.length, n, "every row, once");
  assert.is(new Set(rows.map((r) => r.index)).size, n);
  for (const r of rows) {
    if (r.index === 7) assert.equal([r.error?.code, r.error?.message.includes("seven")], ["TaskFailed", true]);
    else assert.is(r.value, r.index * r.index, `row ${r.index}`);
  }
  // The stream holds exactly the messages the client had acknowledged, with the limits asked for.
  const nc = await connect({ servers: lc.url });
  try {
    const info = await (await nc.jetstreamManager()).streams.info(subjects(lc.cluster).outStream("late"));
    assert.is(info.state.messages, endOf(out).messages);
    assert.is(info.config.max_age, 3_600_000 * 1e6);
    assert.is(info.config.max_bytes, 2 ** 30);
  } finally {
    await nc.close();
  }
});

test("a durable consumer resumes where it stopped: no message twice, none lost", async () => {
  const lc = client.localCluster!;
  const c = client.with({ publish: "resume", durable: true });
  for (let i = 0; i < 12; i++) assert.is(await c.submit((x: number) => x + 1000, i).result(), i + 1000); // one message each
  await client.flush(); // every settled row stored
  const args = [lc.url, "--cluster", lc.cluster, "--name", "resume", "--consumer", "reader"];
  const first = await runExample("examples/consumers/replay.ts", { args: [...args, "--max-messages", "5"] });
  const second = await runExample("examples/consumers/replay.ts", { args });
  assert.is(endOf(first).messages, 5);
  assert.is(endOf(second).messages, 7);
  const keys = [...rowsOf(first), ...rowsOf(second)].map((r) => `${r.job}:${r.index}:${r.value}`);
  assert.is(new Set(keys).size, 12, "12 distinct rows");
  assert.equal(rowsOf(first).concat(rowsOf(second)).map((r) => r.value).sort(), Array.from({ length: 12 }, (_, i) => i + 1000).sort());
});

test("best() with { publish, durable }: every scored candidate is in the stream", async () => {
  const lc = client.localCluster!;
  const xs = Array.from({ length: 150 }, (_, i) => i);
  const top = await best(xs, (x: number) => (x * 7) % 150, { client, k: 3, maximize: true, publish: "best-d", durable: true });
  assert.equal(top.map((t) => t.score), [149, 148, 147]);
  await client.flush();
  const rows = rowsOf(await runExample("examples/consumers/replay.ts", { args: [lc.url, "--cluster", lc.cluster, "--name", "best-d"] }));
  assert.is(rows.length, 150);
  assert.equal(rows.map((r) => r.index).sort((a, b) => a - b), xs);
  for (const r of rows) assert.is(r.value, (r.index * 7) % 150);
});

test("durable on a server without JetStream: JetStreamUnavailable before anything runs; bad limits: BadOption", async () => {
  const plain = await withTimeout(Client.connect(undefined, { local: { nprocs: 1, quiet: true } }), 60_000, "cluster start");
  try {
    assert.throws(() => plain.map((x: number) => x, [1, 2], { publish: "nope", durable: true }), (e: Error & { code?: string }) => e.code === "JetStreamUnavailable" && /ts-dask up --jetstream/.test(e.message));
    assert.throws(() => plain.with({ publish: "nope", durable: true }), (e: Error & { code?: string }) => e.code === "JetStreamUnavailable");
    assert.throws(() => client.with({ publish: "x", durable: { maxBytes: -1 } }), (e: Error & { code?: string }) => e.code === "BadOption" && /durable.maxBytes/.test(e.message));
    assert.throws(() => client.with({ durable: true }), (e: Error & { code?: string }) => e.code === "BadOption");
    // Nothing was sent: the plain cluster still answers.
    assert.equal(await plain.gather(plain.map((x: number) => x * 2, [1, 2])), [2, 4]);
  } finally {
    await plain.close();
  }
});

test.run();
