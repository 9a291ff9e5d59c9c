/** Bad input on every subject loses nothing; a peer of another protocol version is refused clearly. */
import { randomBytes } from "node:crypto";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "nats";
import { Client } from "../index.ts";
import { decode, encode } from "../runtime/codec.ts";
import { PROTOCOL_VERSION, subjects, type ClusterInfo, type RegisterReply } from "../runtime/protocol.ts";
import { withTimeout } from "./helpers/cluster.ts";

const t = suite<{ client: Client; nc: NatsConnection }>("robustness");
t.before(async (ctx) => {
  ctx.client = await withTimeout(Client.connect(undefined, { local: { nprocs: 2 } }), 60_000, "embedded start");
  ctx.nc = await connect({ servers: ctx.client.address });
});
t.after(async (ctx) => {
  await ctx.nc?.close();
  await ctx.client?.close();
});

t("random bytes, truncated msgpack and wrong shapes on every subject: counted, ignored, no task lost", async ({ client, nc }) => {
  const local = client.localCluster!;
  const s = subjects(local.cluster);
  const info = await client.info();
  const execIds = info.workers.flatMap((w) => w.executors.map((e) => e.id));
  const targets = [
    s.register, s.heartbeat, s.submit, s.done, s.cancel, s.info, s.bye, s.alive, s.events,
    s.results(client.id), s.log(client.id),
    ...execIds.flatMap((id) => [s.execTasks(id), s.execCancel(id), s.execSteal(id), s.execControl(id), s.execUpload(id)]),
    s.upload, s.install, ...info.workers.map((w) => s.workerInstall(w.instance)),
  ];
  const junk = (i: number): Uint8Array => {
    switch (i % 5) {
      case 0: return randomBytes(1 + (i % 64));
      case 1: return encode({ groups: [{ fn: 42 }], client: "x", exec: 1 }).subarray(0, 7); // truncated
      case 2: return encode(["not", "an", "object"]);
      case 3: return encode({ id: 5, kind: "executor", slots: "no", keys: null, sched: 1, groups: "x" }); // wrong types
      default: return encode({ exec: "ghost", sched: "ghost", slots: Uint32Array.of(1, 2, 3), failed: 0, stats: [] }); // a stranger's completion
    }
  };
  const xs = Array.from({ length: 5000 }, (_, i) => i);
  const futures = client.map(async (x: number) => x * 3, xs);
  let sent = 0;
  for (let round = 0; round < 20; round++) {
    for (const subj of targets) nc.publish(subj, junk(sent++));
    await new Promise((r) => setImmediate(r));
  }
  await nc.flush();
  const out = await withTimeout(client.gather(futures), 30_000, "gather during fuzzing");
  assert.equal(out, xs.map((x) => x * 3));
  assert.is(client.duplicates, 0);
  const dropped = [...local.scheduler.badInput.values()].reduce((a, b) => a + b, 0);
  assert.ok(dropped > 0, "the scheduler counted the bad messages");
  assert.ok(client.badInput.size > 0, "the client counted the bad results");
  // Still fully working afterwards.
  assert.is(await client.submit((a: number) => a + 1, 1).result(), 2);
  const after = await client.info();
  assert.is(after.workers[0]!.executors.length, 2, "no executor was lost");
});

t("a peer speaking another protocol version is refused with both versions named", async ({ client, nc }) => {
  const s = subjects(client.localCluster!.cluster);
  const ask = async (m: unknown) => decode<RegisterReply>((await nc.request(s.register, encode(m), { timeout: 5000 })).data);
  const hello = { proto: 999, version: "9.9.9", node: process.versions.node };
  for (const m of [
    { kind: "client", hello, id: "oldclient" },
    { kind: "executor", hello, id: "oldexec", name: "Old-0", worker: "w", index: 0, nthreads: 1, pid: 1 },
    { kind: "worker", hello, name: "Old", instance: "i", host: "h", pid: 1, platform: "linux", nprocs: 1, nthreads: 1, memoryLimit: 0 },
  ]) {
    const r = await ask(m);
    assert.is(r.ok, false);
    if (r.ok) return;
    assert.is(r.code, "ProtocolMismatch");
    assert.match(r.message, "protocol 999 (ts-dask 9.9.9)");
    assert.match(r.message, `protocol ${PROTOCOL_VERSION} `);
    assert.match(r.message, "npm install ts-dask@");
  }
  const info = decode<ClusterInfo>((await nc.request(s.info, encode({}), { timeout: 5000 })).data);
  assert.not.ok(info.workers.some((w) => w.name === "Old"), "the refused worker was not registered");
});

t.run();
