/**
 * Issue 10 item 2 on a real cluster: a row's arguments travel from the client to its executor as
 * the client encoded them. A client speaking the protocol by hand encodes its rows in a form
 * msgpack never writes itself (small integers as uint32): had the scheduler decoded and encoded
 * them again, the batches would hold the short form. A plain NATS subscriber reads the batches.
 */
import { randomBytes } from "node:crypto";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "nats";
import { decode, encode } from "../runtime/codec.ts";
import { subjects, type RegisterReply, type Results, type SubmitAck, type TaskBatch } from "../runtime/protocol.ts";
import { toFnDef } from "../runtime/shipping/index.ts";
import { hello } from "../runtime/version.ts";
import { clusterSuite, withTimeout } from "./helpers/cluster.ts";

const t = clusterSuite("row-bytes", { nprocs: 2, link: false });
let nc: NatsConnection;
t.before(async ({ client }) => {
  nc = await connect({ servers: client.address, token: client.localCluster!.token });
});
t.after(async () => {
  await nc?.close();
});

/** Row `k`'s arguments, `[k, "r<k>"]`, with `k` as a uint32 (5 bytes) where msgpack would write one byte. */
const longRow = (k: number) => Uint8Array.of(0x92, 0xce, 0, 0, 0, k, 0xa0 | 3, 0x72, 0x30 + Math.floor(k / 10), 0x30 + (k % 10));

t("the executors receive each row's bytes as the client wrote them, and run them", async ({ client }) => {
  const s = subjects(client.localCluster!.cluster);
  const ask = async <T>(subject: string, msg: unknown) => decode<T>((await nc.request(subject, encode(msg), { timeout: 5000 })).data);
  const id = `raw${randomBytes(4).toString("hex")}`;
  const auth = randomBytes(8).toString("hex");
  const reg = await ask<RegisterReply>(s.register, { kind: "client", hello: hello(), id, auth, secret: new Uint8Array(randomBytes(16)) });
  assert.ok(reg.ok, "registered");
  const batches: { to: string; b: TaskBatch }[] = [];
  const seenRows: { to: string; rows: Uint8Array }[] = [];
  nc.subscribe(s.execTasks("*"), { callback: (_e, m) => batches.push({ to: m.subject, b: decode<TaskBatch>(m.data) }) });
  const n = 60;
  const got = new Map<number, unknown>();
  const all = new Promise<void>((resolve) =>
    nc.subscribe(s.results(id), {
      callback: (_e, m) => {
        const r = decode<Results>(m.data);
        r.keys.forEach((k, i) => got.set(k, r.values[i]));
        if (got.size === n) resolve();
      },
    }),
  );
  await nc.flush();
  const fn = toFnDef((k: number, tag: string) => `${tag}:${k * 2}`).fn;
  const rows = new Uint8Array(n * 10);
  const ends = new Uint32Array(n);
  for (let k = 0; k < n; k++) {
    rows.set(longRow(k), k * 10);
    ends[k] = (k + 1) * 10;
  }
  const ack = await ask<SubmitAck>(s.submit, { client: id, auth, seq: 1, fns: [fn], groups: [{ fn: fn.hash, keys: Uint32Array.from({ length: n }, (_, k) => k), rows, ends, job: 0, total: n }] });
  assert.ok(ack.ok, "submitted");
  await withTimeout(all, 30_000, "every result");
  for (let k = 0; k < n; k++) assert.is(got.get(k), `r${String(k).padStart(2, "0")}:${k * 2}`, `row ${k}`);
  for (const { to, b } of batches) for (const g of b.groups) if (g.client === id) seenRows.push({ to, rows: g.rows });
  const sent = new Set(Array.from({ length: n }, (_, k) => Buffer.from(longRow(k)).toString("hex")));
  // A row may travel twice: rows an executor had queued can be stolen back for an idle one and
  // sent to it (CI once saw 70 for 60 rows), but never twice to the same executor. Every row must
  // be there as written.
  const found = new Set<string>();
  const sentTo = new Set<string>();
  for (const { to, rows: r } of seenRows) {
    const hex = Buffer.from(r).toString("hex");
    for (const row of sent) {
      if (!hex.includes(row)) continue;
      found.add(row);
      assert.not.ok(sentTo.has(`${to} ${row}`), `row ${row} sent twice to ${to}`);
      sentTo.add(`${to} ${row}`);
    }
    assert.not.ok(hex.includes("9200a3"), "no row in msgpack's own short form");
  }
  assert.is(found.size, n, "every row's bytes, unchanged, in the batches");
});

t.run();
