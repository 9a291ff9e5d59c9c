/** Bad input on every route of the protocol's table loses nothing; a peer of another protocol version is refused clearly. */
import { randomBytes } from "node:crypto";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "nats";
import { Client } from "../index.ts";
import { decode, encode } from "../runtime/codec.ts";
import { PROTOCOL_VERSION, subjects, type ClusterInfo, type RegisterReply } from "../runtime/protocol.ts";
import { routes } from "../runtime/routes.ts";
import type { RouteParam } from "../runtime/route.ts";
import { withTimeout } from "./helpers/cluster.ts";
import { formatInfo } from "../cli/info.ts";
import { workerRows } from "../runtime/cluster-info.ts";

const t = suite<{ client: Client; nc: NatsConnection }>("robustness");
t.before(async (ctx) => {
  ctx.client = await withTimeout(Client.connect(undefined, { local: { nprocs: 2 } }), 60_000, "embedded start");
  ctx.nc = await connect({ servers: ctx.client.address });
});
t.after(async (ctx) => {
  await ctx.nc?.close();
  await ctx.client?.close();
});

t("random bytes, truncated msgpack and wrong shapes on every route of the table: counted, ignored, no task lost", async ({ client, nc }) => {
  const local = client.localCluster!;
  const s = subjects(local.cluster);
  const info = await client.info();
  // Every per-peer route gets real peers' ids and an invented one (the table is walked, not listed).
  const params: Record<RouteParam, string[]> = {
    exec: [...info.workers.flatMap((w) => w.executors.map((e) => e.id)), "ghost"],
    client: [client.id, "ghost"],
    instance: [...info.workers.map((w) => w.instance), "ghost"],
    hash: ["0".repeat(64)],
    output: ["fuzzed"],
    actor: ["ghost"],
  };
  const all = Object.values(routes);
  const targets = all.flatMap((r) => (r.param === undefined ? [r.subject(s, "")] : params[r.param].map((p) => r.subject(s, p))));
  for (const r of all) assert.ok(targets.some((t) => t === r.subject(s, r.param === undefined ? "" : params[r.param][0]!)), `route ${r.name} is fuzzed`);
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
  // Every route the scheduler serves counted its bad input under its own name.
  const kinds = [...local.scheduler.badInput.keys()];
  for (const r of all.filter((r) => r.to.startsWith("scheduler") && r.param === undefined)) {
    assert.ok(kinds.some((k) => k.startsWith(`${r.name}: `)), `the scheduler counted bad ${r.name} messages (counted: ${kinds.join(", ")})`);
  }
  const workerKinds = [...local.worker.badInput.keys()];
  for (const r of [routes.workerInstall, routes.alive]) assert.ok(workerKinds.some((k) => k.startsWith(`${r.name}: `)), `the worker counted bad ${r.name} messages`);
  for (const r of [routes.results, routes.log, routes.alive]) assert.ok([...client.badInput.keys()].some((k) => k.startsWith(`${r.name}: `)), `the client counted bad ${r.name} messages`);
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

t("a worker of another ts-dask version with the same protocol is accepted, and marked in info and the dashboard's table", async ({ client, nc }) => {
  const s = subjects(client.localCluster!.cluster);
  const hello = { proto: PROTOCOL_VERSION, version: "9.9.9", node: process.versions.node };
  const m = { kind: "worker", hello, name: "Newer", instance: "newer-1", host: "h", pid: 1, platform: "linux", nprocs: 1, nthreads: 1, memoryLimit: 0 };
  const r = decode<RegisterReply>((await nc.request(s.register, encode(m), { timeout: 5000 })).data);
  assert.ok(r.ok, "accepted");
  try {
    const info = await client.info();
    const text = formatInfo(info);
    assert.match(text, "WARNING: worker Newer runs ts-dask 9.9.9, the scheduler ts-dask ");
    assert.match(workerRows(info).find((w) => w.name === "Newer")!.versions, "ts-dask 9.9.9 (≠ scheduler ");
    assert.not.match(workerRows(info).find((w) => w.name !== "Newer")!.versions, "≠");
  } finally {
    if (r.ok) nc.publish(s.bye, encode({ id: "newer-1", kind: "worker", auth: r.auth }));
    await nc.flush();
  }
});

t.run();
