/**
 * Issue 11, peer by peer: what a buggy script or a curious housemate on the same NATS account did
 * to a run, now refused. Each test runs tasks while a plain NATS client plays the peer.
 */
import { randomBytes } from "node:crypto";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "nats";
import { decode, encode } from "../runtime/codec.ts";
import { PROTOCOL_VERSION, subjects, type RegisterReply } from "../runtime/protocol.ts";
import { clusterSuite, waitFor, withTimeout } from "./helpers/cluster.ts";

// Over NATS (no in-process link): forged answers to the client's submits and registrations must reach it.
const t = clusterSuite("trust", { nprocs: 2, link: false });
let nc: NatsConnection;
t.before(async ({ client }) => {
  nc = await connect({ servers: client.address, token: client.localCluster!.token });
});
t.after(async () => {
  await nc?.close();
});

const slow = async (x: number, ms: number) => {
  await new Promise((r) => setTimeout(r, ms));
  return x * 2;
};

t("wrong results for keys that have not run yet are dropped and counted, never delivered", async ({ client }) => {
  const s = subjects(client.localCluster!.cluster);
  const before = client.forged;
  const xs = Array.from({ length: 300 }, (_, i) => i);
  const fs = client.map(slow, xs, { args: [10] });
  // Every key this client may use so far, without tickets, then with random ones.
  const keys = Uint32Array.from({ length: 2000 }, (_, i) => i);
  nc.publish(s.results(client.id), encode({ worker: "evil", keys, values: Array(keys.length).fill(-1) }));
  nc.publish(s.results(client.id), encode({ worker: "evil", keys, values: Array(keys.length).fill(-1), tickets: new Uint32Array(new Uint8Array(randomBytes(keys.length * 8)).buffer) }));
  await nc.flush();
  assert.equal(await withTimeout(client.gather(fs), 60_000, "gather"), xs.map((x) => x * 2));
  assert.is(client.forged - before, 2 * keys.length, "every forged row was counted");
  // The count reaches the scheduler with the next lease renewal (info, metrics, events).
  await waitFor(async () => ((await client.info()).trust?.clients ?? 0) >= 2 * keys.length, { timeoutMs: 5000, label: "the scheduler to learn the client's count" });
});

t("bad messages on the client's results subject are said once on its stderr, then counted silently", async ({ client }) => {
  const s = subjects(client.localCluster!.cluster);
  const lines: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    if (String(chunk).startsWith("ts-dask client:")) lines.push(String(chunk));
    return (write as (...a: unknown[]) => boolean).call(process.stderr, chunk, ...rest);
  }) as typeof process.stderr.write;
  try {
    const before = client.badInput.get("results.<clientId>: undecodable") ?? 0;
    for (let i = 0; i < 3; i++) nc.publish(s.results(client.id), Uint8Array.of(0xc1)); // 0xc1: never valid msgpack
    await nc.flush();
    await waitFor(() => (client.badInput.get("results.<clientId>: undecodable") ?? 0) - before >= 3, { timeoutMs: 5000, label: "the client to count the three" });
    assert.is(client.badInput.get("results.<clientId>: undecodable")! - before, 3);
    assert.is(before, 0, "no earlier test sent one");
    assert.is(lines.length, 1, lines.join(""));
    assert.match(lines[0]!, /^ts-dask client: dropped a bad message — results.<clientId>: undecodable/);
    assert.is(await withTimeout(client.submit((x: number) => x + 1, 41).result(), 30_000, "a task after them"), 42);
  } finally {
    process.stderr.write = write;
  }
});

t("a stranger's steal request gets no answer and loses no task", async ({ client }) => {
  const s = subjects(client.localCluster!.cluster);
  const execIds = (await client.info()).workers.flatMap((w) => w.executors.map((e) => e.id));
  const fs = client.map(slow, Array.from({ length: 400 }, (_, i) => i), { args: [5] });
  const answers = await Promise.allSettled(execIds.map((id) => nc.request(s.execSteal(id), encode({ max: 100 }), { timeout: 500 })));
  assert.ok(answers.every((a) => a.status === "rejected"), "no executor answered the stranger");
  assert.is((await withTimeout(client.gather(fs), 60_000, "gather")).length, 400);
});

t("beats from invented scheduler instances re-submit nothing and are reported as rivals", async ({ client }) => {
  const s = subjects(client.localCluster!.cluster);
  const resubmitted = client.resubmitted;
  const fs = client.map(slow, Array.from({ length: 300 }, (_, i) => i), { args: [5] });
  for (let i = 0; i < 15; i++) for (const instance of ["ghostA", "ghostB"]) nc.publish(s.alive, encode({ instance, heartbeatMs: 500 }));
  await nc.flush();
  assert.is((await withTimeout(client.gather(fs), 60_000, "gather")).length, 300);
  assert.is(client.resubmitted, resubmitted, "no re-submission");
  const info = await client.info();
  assert.ok(info.trust!.rivals.includes("ghostA") && info.trust!.rivals.includes("ghostB"));
});

t("a fake scheduler answering registrations and submits, and beating alive, does not stall the run", async ({ client }) => {
  const s = subjects(client.localCluster!.cluster);
  const hello = { proto: PROTOCOL_VERSION, version: "0.1.0", node: process.versions.node };
  const regs = nc.subscribe(s.register, { callback: (_e, m) => m.respond(encode({ ok: true, scheduler: "fake", heartbeatMs: 500, hello, auth: "fake", fresh: true })) });
  const subs = nc.subscribe(s.submit, { callback: (_e, m) => m.respond(encode({ ok: false, code: "Nope", message: "fake", sched: "fake" })) });
  await nc.flush(); // the fake answers the client's first submits too: its subscriptions are at the server before the map
  const beat = setInterval(() => nc.publish(s.alive, encode({ instance: "fake", heartbeatMs: 500 })), 100);
  try {
    const resubmitted = client.resubmitted;
    const xs = Array.from({ length: 600 }, (_, i) => i);
    const out = await withTimeout(client.gather(client.map(slow, xs, { args: [3] })), 60_000, "gather beside a fake scheduler");
    assert.equal(out, xs.map((x) => x * 2));
    assert.is(client.resubmitted, resubmitted);
  } finally {
    clearInterval(beat);
    regs.unsubscribe();
    subs.unsubscribe();
  }
});

t("a task batch lost in transit (stranded as assigned) is re-queued by reconciliation", async ({ client }) => {
  const sched = client.localCluster!.scheduler;
  const s = subjects(client.localCluster!.cluster);
  const tx = sched.tx as unknown as { publish: (subject: string, data: Uint8Array, reply?: string) => void };
  const publish = tx.publish.bind(sched.tx);
  let lost = 0;
  // The scheduler's first task batch after this point never reaches its executor.
  tx.publish = (subject, data, reply) => {
    if (!lost && subject.startsWith(`${s.prefix}.exec.`) && subject.endsWith(".tasks")) return void lost++;
    publish(subject, data, reply);
  };
  try {
    const before = sched.reconciled;
    const xs = Array.from({ length: 50 }, (_, i) => i);
    const out = await withTimeout(client.gather(client.map(slow, xs, { args: [1] })), 30_000, "gather after a lost batch");
    assert.equal(out, xs.map((x) => x * 2));
    assert.is(lost, 1);
    assert.ok(sched.reconciled > before, "reconciliation re-queued the stranded tasks");
  } finally {
    tx.publish = publish;
  }
});

t("a live client whose lease the scheduler dropped re-submits what it waits for", async ({ client }) => {
  const sched = client.localCluster!.scheduler as unknown as { dropClient(id: string, why: string): void };
  const xs = Array.from({ length: 200 }, (_, i) => i);
  const fs = client.map(slow, xs, { args: [20] });
  const resubmitted = client.resubmitted;
  sched.dropClient(client.id, "dropped by the test");
  assert.equal(await withTimeout(client.gather(fs), 60_000, "gather after the lease was dropped"), xs.map((x) => x * 2));
  assert.ok(client.resubmitted > resubmitted, "the client re-submitted");
});

t("a stranger cannot release a client's scattered value", async ({ client }) => {
  const s = subjects(client.localCluster!.cluster);
  const ref = await client.scatter(Array.from({ length: 1000 }, (_, i) => i));
  nc.publish(s.dataRelease, encode({ client: client.id, hashes: [ref.hash] }));
  await nc.flush();
  const sum = (xs: number[], k: number) => xs.reduce((a, b) => a + b, 0) + k;
  assert.equal(await client.gather(client.map(sum, [ref, ref], [1, 2])), [499_501, 499_502]);
});

t("registering under a live executor's or worker's id hands out no token", async ({ client }) => {
  const s = subjects(client.localCluster!.cluster);
  const info = await client.info();
  const e = info.workers[0]!.executors[0]!;
  const w = info.workers[0]!;
  const hello = { proto: PROTOCOL_VERSION, version: "0.1.0", node: process.versions.node };
  const ask = async (m: unknown) => decode<RegisterReply>((await nc.request(s.register, encode(m), { timeout: 5000 })).data);
  const asExec = await ask({ kind: "executor", hello, id: e.id, name: e.name, worker: w.instance, index: 0, nthreads: 1, pid: 1 });
  const asWorker = await ask({ kind: "worker", hello, name: w.name, instance: w.instance, host: "evil", pid: 1, platform: "linux", nprocs: 1, nthreads: 1, memoryLimit: 0 });
  for (const r of [asExec, asWorker]) {
    assert.is(r.ok, false);
    if (!r.ok) assert.is(r.code, "RegistrationHeld");
  }
  assert.is((await client.gather(client.map(slow, [1, 2, 3], { args: [1] }))).length, 3);
});

t("a stranger's code runs nowhere (exec.<id>.run, sched.run) and a stranger reads no stored data (data.get)", async ({ client }) => {
  const s = subjects(client.localCluster!.cluster);
  const execIds = (await client.info()).workers.flatMap((w) => w.executors.map((e) => e.id));
  const before = (await client.info()).trust!;
  const evil = { kind: "src", hash: "evil-trust", name: "evil", source: "() => (globalThis.__trustEvil = 1)", file: "evil.ts", line: 1 };
  const ask = async (subject: string, msg: unknown) => decode((await nc.request(subject, encode(msg), { timeout: 5000 })).data) as { ok: boolean; code?: string; error?: { code: string } };
  // Straight to the executors, with no token or a guessed one: no answer, nothing runs.
  const direct = await Promise.allSettled(execIds.flatMap((id) => [{}, { auth: "guess" }].map((x) => nc.request(s.execRun(id), encode({ fn: evil, args: [], ...x }), { timeout: 500 }))));
  assert.ok(direct.every((a) => a.status === "rejected"), "no executor answered the stranger");
  // Through the scheduler without the client's token (in the scheduler, or forwarded to an executor): refused.
  for (const msg of [{}, { client: client.id }, { client: client.id, auth: "guess" }, { client: client.id, auth: "guess", exec: execIds[0] }]) {
    const r = await ask(s.schedRun, { fn: evil, args: [], ...msg });
    assert.is(r.ok, false);
    assert.is(r.error?.code, "NotBound");
  }
  assert.is((globalThis as { __trustEvil?: number }).__trustEvil, undefined, "nothing ran in the (embedded) scheduler");
  const onExecutors = await client.run(() => (globalThis as { __trustEvil?: number }).__trustEvil ?? 0);
  assert.equal(Object.values(onExecutors), [0, 0], "nothing ran on the executors; the client's own run works");
  assert.is(await client.runOnScheduler(() => 41 + 1), 42);

  // Stored data: a stranger, a guessed token, a registered client that does not own it: no bytes.
  const ref = await client.scatter(new Float64Array(1000).fill(7));
  const reg = await ask(s.register, { kind: "client", hello: { proto: PROTOCOL_VERSION, version: "0", node: process.versions.node }, id: "stranger", auth: "s3cret", secret: new Uint8Array(randomBytes(16)) });
  assert.ok(reg.ok, "anyone may register as a client");
  for (const msg of [{}, { client: client.id, auth: "guess" }, { client: "stranger", auth: "s3cret" }, { exec: execIds[0], auth: "guess" }, { worker: "ghost", auth: "guess" }]) {
    const r = await ask(s.dataGet, { hash: ref.hash, index: 0, ...msg });
    assert.is(r.ok, false, JSON.stringify(msg));
    assert.is(r.code, "NotBound");
  }
  assert.is(await withTimeout(client.submit((v: Float64Array) => v[999], ref).result(), 30_000, "task"), 7, "executors read it");
  const after = (await client.info()).trust!;
  assert.ok(after.scheduler - before.scheduler >= 9, `the scheduler counted what it refused (${after.scheduler - before.scheduler})`);
  await waitFor(async () => (await client.info()).trust!.executors - before.executors >= 4, { timeoutMs: 10_000, label: "the executors to report the runs they dropped" });
  // Replaced executors leave no entry behind, and what they counted stays in the total.
  const counted = (await client.info()).trust!.executors;
  assert.ok((await client.info()).retained!.executorCounts! >= 1, "the executors' counts are held while they live");
  await withTimeout(client.restart(), 60_000, "restart");
  const fresh = await client.info();
  assert.is(fresh.trust!.executors, counted, "the gone executors' counts stay in the total");
  assert.is(fresh.retained!.executorCounts, 0, "no entry for a gone executor");
});

t("a heartbeat meant for an earlier scheduler is dropped quietly; one with a wrong token for this one is counted", async ({ client }) => {
  const s = subjects(client.localCluster!.cluster);
  const info = await client.info();
  const worker = info.workers[0]!;
  const exec = worker.executors[0]!;
  const before = info.trust!.scheduler;
  // A barrier on the same subject: a heartbeat from an unknown executor is answered with
  // "reregister" after every heartbeat published before it was handled.
  const barrier = `barrier-${randomBytes(4).toString("hex")}`;
  const answered = new Promise<void>((res) => nc.subscribe(s.execControl(barrier), { max: 1, callback: () => res() }));
  await nc.flush();
  const beat = (id: string, kind: "worker" | "executor", sched: string) =>
    nc.publish(s.heartbeat, encode({ id, kind, sched, auth: "an-old-token", running: 0, queued: 0, rss: 1 }));
  beat(exec.id, "executor", "an-earlier-scheduler");
  beat(worker.instance, "worker", "an-earlier-scheduler");
  beat(exec.id, "executor", info.scheduler.instance);
  beat(worker.instance, "worker", info.scheduler.instance);
  beat(barrier, "executor", info.scheduler.instance);
  await withTimeout(answered, 10_000, "the barrier's reregister");
  assert.is((await client.info()).trust!.scheduler - before, 2, "only the two sent to this scheduler were counted");
  assert.equal(await withTimeout(client.gather(client.map((x: number) => x + 1, [1, 2, 3])), 30_000, "tasks after them"), [2, 3, 4]);
});

t("a replayed task batch is not run again", async ({ client }) => {
  const s = subjects(client.localCluster!.cluster);
  const captured: { subject: string; data: Uint8Array }[] = [];
  const sub = nc.subscribe(`${s.prefix}.exec.*.tasks`, { callback: (_e, m) => captured.push({ subject: m.subject, data: m.data.slice() }) });
  const count = async (x: number) => {
    const g = globalThis as { __trustRuns?: number };
    g.__trustRuns = (g.__trustRuns ?? 0) + 1;
    return x;
  };
  await nc.flush();
  await client.gather(client.map(count, Array.from({ length: 100 }, (_, i) => i)));
  // The batches came to our own connection: the server may still be writing them to it when the
  // results reached the client; a ping answered on it comes after them.
  await nc.flush();
  sub.unsubscribe();
  assert.ok(captured.length > 0);
  const runs = async () => Object.values(await client.run(() => (globalThis as { __trustRuns?: number }).__trustRuns ?? 0)).reduce((a, b) => a + b, 0);
  const before = await runs();
  for (let i = 0; i < 3; i++) for (const m of captured) nc.publish(m.subject, m.data);
  await nc.flush();
  // A barrier: a fresh task on each executor runs after the replays were handled (one connection, in order).
  await client.gather(client.map(count, [1000, 1001, 1002, 1003]));
  assert.is(await runs(), before + 4, "only the 4 new tasks ran");
});

t.run();
