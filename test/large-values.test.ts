/**
 * Values above NATS' max_payload (1 MiB by default) on the ordinary submit/map/gather path:
 * arguments and results travel through the scheduler's data store in chunks, transparently, up to
 * `maxValueBytes`; above it, a named error with the size and the cap.
 */
import type { DataPutReply } from "../runtime/protocol.ts";
import { bytesHash } from "../runtime/data-transfer.ts";
import * as assert from "uvu/assert";
import { Client, TaskError } from "../index.ts";
import { Transport } from "../runtime/transport.ts";
import { formatInfo } from "../cli/info.ts";
import { clusterSuite, waitFor, withTimeout } from "./helpers/cluster.ts";

const t = clusterSuite("large values", { nprocs: 2 });

const MiB = 1024 * 1024;
/** ~5 MB of plain objects once encoded. */
const bigObject = () => ({ label: "rows", rows: Array.from({ length: 160_000 }, (_, i) => ({ id: i, name: `row-${i}`, v: i / 2 })) });
const storeEmpty = async (client: Client, label: string) =>
  waitFor(async () => {
    const d = (await client.info()).data;
    return d.values === 0 && d.bytes === 0 && (d.results ?? 0) === 0;
  }, { timeoutMs: 10_000, label });

t("the cluster's NATS server has the default 1 MiB max_payload", async ({ client }) => {
  const tx = await Transport.connect({ servers: client.address });
  try {
    assert.is(tx.maxPayload, MiB);
  } finally {
    await tx.close();
  }
});

t("a 5 MB typed-array argument and a 5 MB typed-array result round-trip; the data store empties afterwards", async ({ client }) => {
  const big = new Float64Array(655_360).map((_, i) => i * 0.25); // 5 MiB
  const double = (a: Float64Array) => {
    const out = new Float64Array(a.length);
    for (let i = 0; i < a.length; i++) out[i] = a[i]! * 2;
    return out;
  };
  const back = await withTimeout(client.submit(double, big).result(), 60_000, "5 MB round trip");
  assert.instance(back, Float64Array);
  assert.is(back.length, big.length);
  for (let i = 0; i < big.length; i += 4097) assert.is(back[i], big[i]! * 2);
  assert.is(back[big.length - 1], big[big.length - 1]! * 2);
  await storeEmpty(client, "argument and result released");
});

t("a 5 MB plain-object argument and result round-trip, through submit and map (shared args too)", async ({ client }) => {
  const obj = bigObject();
  const tag = (o: ReturnType<typeof bigObject>, suffix: string) => ({ label: o.label + suffix, rows: o.rows.map((r) => ({ ...r, v: r.v + 1 })) });
  const one = await withTimeout(client.submit(tag, obj, "!").result(), 60_000, "submit");
  assert.is(one.label, "rows!");
  assert.is(one.rows.length, obj.rows.length);
  assert.equal(one.rows[123_456], { id: 123_456, name: "row-123456", v: 123_456 / 2 + 1 });
  const many = await withTimeout(client.gather(client.map(tag, [obj, obj, obj], ["a", "b", "c"])), 60_000, "map");
  assert.equal(many.map((m) => [m.label, m.rows.length, m.rows[7]!.v]), [["rowsa", 160_000, 4.5], ["rowsb", 160_000, 4.5], ["rowsc", 160_000, 4.5]]);
  // A large shared argument (map's `args`): stored once, referenced by every row.
  const idx = Array.from({ length: 5000 }, (_, i) => i * 3);
  const names = await withTimeout(client.gather(client.map((i: number, o: ReturnType<typeof bigObject>) => o.rows[i]!.name, idx, { args: [obj] })), 60_000, "map with a large shared argument");
  assert.equal(names, idx.map((i) => `row-${i}`));
  await storeEmpty(client, "arguments and results released");
});

t("many results of ~0.9 MiB each in one map (and ~0.9 MiB arguments) fit their messages", async ({ client }) => {
  const n = 24;
  const make = (i: number) => new Uint8Array(920_000).fill(i);
  const out = await withTimeout(client.gather(client.map(make, Array.from({ length: n }, (_, i) => i))), 60_000, "0.9 MiB results");
  assert.is(out.length, n);
  out.forEach((a, i) => {
    assert.is(a.length, 920_000);
    assert.is(a[0], i);
    assert.is(a[919_999], i);
  });
  const firsts = await withTimeout(client.gather(client.map((a: Uint8Array) => a[a.length - 1], out)), 60_000, "0.9 MiB arguments");
  assert.equal(firsts, out.map((_, i) => i));
  // Small enough for a message each: nothing went through the data store.
  assert.is((await client.info()).data.values, 0);
  // And afterwards small tasks travel in full batches again.
  const xs = Array.from({ length: 20_000 }, (_, i) => i);
  assert.equal((await withTimeout(client.gather(client.map((x: number) => x + 1, xs)), 30_000, "small map")).at(-1), 20_000);
});

t("a large result is held by the scheduler until gathered, survives being gathered twice, then is released", async ({ client }) => {
  const f = client.submit((n: number) => new Float64Array(n).fill(7), 1_000_000); // 8 MB
  await withTimeout(client.wait([f]), 30_000, "the task to finish");
  const held = (await client.info()).data;
  assert.is(held.results, 1, "held by the scheduler until gathered");
  assert.ok(held.resultBytes! >= 8_000_000);
  assert.match(formatInfo(await client.info()), /of which 1 large result\(s\) awaiting gather, 7\.6 MiB/);
  const [a, b] = await withTimeout(Promise.all([f.result(), client.gather([f])]), 30_000, "two gathers at once");
  const c = await f.result();
  for (const v of [a, b[0]!, c]) {
    assert.instance(v, Float64Array);
    assert.is(v.length, 1_000_000);
    assert.is(v[999_999], 7);
  }
  await storeEmpty(client, "the result released after gathering");
  assert.is((await f.result())[0], 7, "still readable from the future");
});

t("a→b→c chain with large values: the values go scheduler → executor; released; release() of an ungathered one", async ({ client }) => {
  const a = client.submit((n: number) => new Float64Array(n).map((_, i) => i), 700_000); // 5.6 MB
  const b = client.submit((x: Float64Array) => x.map((v) => v + 1), a);
  const c = client.submit((x: Float64Array) => x.reduce((s, v) => s + v, 0), b);
  const n = 700_000;
  assert.is(await withTimeout(c.result(), 60_000, "c"), (n * (n - 1)) / 2 + n);
  const bv = await b.result();
  assert.is(bv[n - 1], n);
  // a was never gathered: still held, until released.
  await waitFor(async () => (await client.info()).data.results === 1, { timeoutMs: 10_000, label: "only a's result held" });
  a.release();
  await storeEmpty(client, "a released");
  const err = (await a.exception()) ?? (await a.result().then(() => undefined, (e: TaskError) => e));
  assert.is(err?.code, "ResultUnavailable");
  assert.match(err!.message, "released");
});

t("an errored dependency's cause chain: c ← b ← a, each DependencyFailed pointing at the one before, ending at the remote error", async ({ client }) => {
  function explode(): number {
    throw new RangeError("boom at the root");
  }
  const a = client.submit(explode);
  const b = client.submit((x: number) => x + 1, a);
  const c = client.submit((x: number) => x * 2, b);
  const e = await withTimeout(c.exception(), 30_000, "c to fail");
  assert.is(e?.code, "DependencyFailed");
  const eb = e!.cause as TaskError;
  assert.is(eb.code, "DependencyFailed");
  assert.is(eb.key, b.key);
  const ea = eb.cause as TaskError;
  assert.is(ea.code, "TaskFailed");
  assert.is(ea.key, a.key);
  assert.is(ea.remoteName, "RangeError");
  assert.match(ea.remoteStack, "explode");
  assert.match(ea.worker, /^local-\d$/);
});

t("above maxValueBytes: a named error naming size and cap, for arguments (submit, map) and results; other tasks go on", async ({ client }) => {
  const cap = 2 * MiB;
  const small = await Client.connect(client.address, { cluster: client.localCluster!.cluster, maxValueBytes: cap });
  try {
    const big = new Uint8Array(3_000_000);
    try {
      small.submit((a: Uint8Array) => a.length, big);
      assert.unreachable("submit should throw");
    } catch (e) {
      assert.is((e as TaskError).code, "ValueTooLarge");
      assert.match((e as Error).message, /300000\d bytes/);
      assert.match((e as Error).message, `cap of ${cap} bytes`);
    }
    try {
      await small.scatter(big);
      assert.unreachable("scatter should reject");
    } catch (e) {
      assert.is((e as TaskError).code, "ValueTooLarge", (e as Error).message);
      assert.match((e as Error).message, `cap of ${cap} bytes`);
      assert.not.match((e as Error).message, "client.scatter()", "no advice to scatter what failed to scatter");
    }
    const fs = small.map((a: Uint8Array) => a.length, [new Uint8Array(10), big, new Uint8Array(1_500_000)]);
    const [ok1, bad, ok2] = await withTimeout(Promise.all(fs.map((f) => f.result().then((v) => v, (e: TaskError) => e))), 30_000, "map with one too-large row");
    assert.is(ok1, 10);
    assert.is(ok2, 1_500_000, "1.5 MB: above max_payload, below the cap");
    assert.is((bad as TaskError).code, "ValueTooLarge");
    assert.match((bad as TaskError).message, fs[1]!.key);
    assert.match((bad as TaskError).message, `cap of ${cap} bytes`);

    const rs = small.map((n: number) => new Uint8Array(n), [5, 3_000_000, 1_500_000]);
    const [r1, r2, r3] = await withTimeout(Promise.all(rs.map((f) => f.result().then((v) => v, (e: TaskError) => e))), 30_000, "results, one too large");
    assert.is((r1 as Uint8Array).length, 5);
    assert.is((r3 as Uint8Array).length, 1_500_000);
    const e = r2 as TaskError;
    assert.is(e.code, "ResultTooLarge");
    assert.is(e.key, rs[1]!.key);
    assert.match(e.worker, /^local-\d$/);
    assert.match(e.message, `Task ${rs[1]!.key} on ${e.worker}`);
    assert.match(e.message, /300000\d bytes/);
    assert.match(e.message, `cap of ${cap} bytes`);
  } finally {
    await small.close();
  }
  await storeEmpty(client, "nothing left behind");
});

t("a released large result passed to another task fails it with DependencyFailed (ResultUnavailable), not a stray object", async ({ client }) => {
  const big = client.submit((n: number) => new Float64Array(n).fill(2), 400_000); // 3.2 MB: held by the scheduler
  await withTimeout(big.exception(), 30_000, "the large result to settle");
  big.release();
  const err = await withTimeout(client.submit((a: Float64Array) => a.length, big).exception(), 30_000, "dependent");
  assert.is(err?.code, "DependencyFailed");
  assert.is((err?.cause as TaskError | undefined)?.code, "ResultUnavailable");
});

t("a large result for a client that has closed is refused by the scheduler (nothing would ever release it)", async ({ client }) => {
  const gone = await Client.connect(client.address, { cluster: client.localCluster!.cluster });
  const goneId = gone.id;
  await gone.close();
  const bytes = new Uint8Array(1000).fill(1);
  // The goodbye of `gone` crosses nats-server; this client's requests take the in-process link and
  // may overtake it: until the scheduler has read it, `gone` is merely unknown to it (UnknownClient).
  let r: DataPutReply | undefined;
  await waitFor(async () => {
    r = await client.tx.request<DataPutReply>(client.subjects.dataPut, { client: `${goneId}/r1`, hash: "r1-test", size: bytes.byteLength, index: 0, chunks: 1, bytes }, 5000);
    return r.ok || r.code !== "UnknownClient";
  }, { timeoutMs: 10_000, label: "the scheduler to read the closed client's goodbye" });
  assert.is(r!.ok, false);
  if (!r!.ok) assert.is(r!.code, "ClientGone");
  const hash = bytesHash(bytes);
  const mine = await client.tx.request<DataPutReply>(client.subjects.dataPut, { client: `${client.id}/r1`, hash, size: bytes.byteLength, index: 0, chunks: 1, bytes, auth: (client as unknown as { auth: string }).auth }, 5000);
  assert.equal(mine, { ok: true, have: true }, "a live client's values are stored");
  client.tx.send(client.subjects.dataRelease, { client: `${client.id}/r1`, hashes: [hash], auth: (client as unknown as { auth: string }).auth });
});


t("a task too large to dispatch is failed, and counted as failed, not done", async ({ client }) => {
  // Only a peer that skips the client's own size checks can make one: a raw client whose submit
  // just fits max_payload, so the scheduler's dispatch message (with its slots, tickets, token) does not.
  const { connect } = await import("nats");
  const { randomBytes } = await import("node:crypto");
  const { decode, encode } = await import("../runtime/codec.ts");
  const { hello } = await import("../runtime/version.ts");
  const { subjects } = await import("../runtime/protocol.ts");
  const s = subjects(client.localCluster!.cluster);
  const nc = await connect({ servers: client.address });
  try {
    const id = `raw${randomBytes(4).toString("hex")}`;
    const auth = randomBytes(8).toString("hex");
    const reg = decode<{ ok: boolean }>((await nc.request(s.register, encode({ kind: "client", hello: hello(), id, auth, secret: new Uint8Array(randomBytes(16)) }), { timeout: 5000 })).data);
    assert.ok(reg.ok);
    const got = new Promise<{ errors?: { code: string }[] }>((resolve) => nc.subscribe(s.results(id), { max: 1, callback: (_e, m) => resolve(decode(m.data)) }));
    const source = "(x) => x.length";
    const fn = { kind: "src", hash: bytesHash(new TextEncoder().encode(source)), name: "", source, file: "", line: 0 };
    const submit = (pad: string) => encode({ client: id, auth, seq: 1, fns: [fn], groups: [{ fn: fn.hash, keys: Uint32Array.of(0), rows: encode([pad]), ends: Uint32Array.of(encode([pad]).byteLength), job: 0, total: 1 }] });
    const bare = submit("").byteLength;
    const data = submit("x".repeat(MiB - bare - 8));
    assert.ok(data.byteLength <= MiB && data.byteLength > MiB - 100, `the submit fits: ${data.byteLength}`);
    const before = (await client.info()).tasks;
    const ack = decode<{ ok: boolean }>((await nc.request(s.submit, data, { timeout: 5000 })).data);
    assert.ok(ack.ok, "the scheduler took the row");
    const res = await withTimeout(got, 10_000, "the row's result");
    assert.is(res.errors?.[0]?.code, "PayloadTooLarge", JSON.stringify(res).slice(0, 300));
    const after = (await client.info()).tasks;
    assert.is(after.failed - before.failed, 1, "counted as failed");
    assert.is(after.done - before.done, 0, "not counted as done");
    assert.is(after.assigned, 0);
  } finally {
    await nc.close();
  }
});

t.run();
