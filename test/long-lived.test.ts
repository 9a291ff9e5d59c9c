/**
 * Issue 15: a scheduler that stays up while clients come and go. Tens of thousands of client
 * registrations (raw ones over NATS, with the project's codec, as a crowd of short scripts would
 * send) must not make one client's cancel, failure or departure reach another client.
 */
import { randomBytes } from "node:crypto";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "nats";
import { Client } from "../index.ts";
import { decode, encode } from "../runtime/codec.ts";
import { subjects, type RegisterReply } from "../runtime/protocol.ts";
import { hello } from "../runtime/version.ts";
import { clusterSuite, waitFor, withTimeout } from "./helpers/cluster.ts";

// A short lease grace period: the crowd (registered once, never renewed) is dropped within seconds.
const t = clusterSuite("long-lived", { nprocs: 2, clientGraceMs: 3000 });
let nc: NatsConnection;
t.before(async ({ client }) => {
  nc = await connect({ servers: client.address, token: client.localCluster!.token });
});
t.after(async () => {
  await nc?.close();
});

/** Registers `n` clients that never come back (64 requests in flight); resolves with the number accepted. */
async function registerRaw(subject: string, n: number, prefix: string): Promise<number> {
  const h = hello();
  let next = 0;
  let ok = 0;
  const one = async () => {
    while (next < n) {
      const i = next++;
      const reg = { kind: "client", hello: h, id: `${prefix}${i}`, auth: `auth-${prefix}${i}`, secret: new Uint8Array(randomBytes(16)) };
      const r = decode(new Uint8Array((await nc.request(subject, encode(reg), { timeout: 30_000 })).data)) as RegisterReply;
      if (r.ok) ok++;
    }
  };
  await Promise.all(Array.from({ length: 64 }, one));
  return ok;
}

const slow = async (x: number, ms: number) => {
  await new Promise((r) => setTimeout(r, ms));
  return x * 2;
};

const spin = (ms: number) => {
  const end = Date.now() + ms;
  while (Date.now() < end);
  return ms;
};

t("past 65,536 client registrations, one client's failures and departure never reach another's tasks", async ({ client }) => {
  const cluster = client.localCluster!.cluster;
  const s = subjects(cluster);
  const a = await withTimeout(Client.connect(client.address, { cluster }), 30_000, "client A to connect");
  let b: Client | undefined;
  try {
    // Exactly 65,535 registrations between A's and B's: with 16-bit client indexes B's would read as A's.
    assert.is(await withTimeout(registerRaw(s.register, 65_535, "crowd-"), 120_000, "65,535 registrations"), 65_535);
    b = await withTimeout(Client.connect(client.address, { cluster }), 30_000, "client B to connect");
    // More than 70,000 registrations in all.
    assert.is(await withTimeout(registerRaw(s.register, 4_500, "more-"), 60_000, "4,500 registrations"), 4_500);

    // A failure decided by the scheduler (a task past its timeout has its process replaced) reaches B.
    const [stuck] = b.map(spin, [60_000], { timeout: 300 });
    const err = await withTimeout(stuck!.result().then(() => undefined, (e: Error & { code?: string }) => e), 60_000, "B's timed-out task to fail");
    assert.is(err?.code, "TaskTimeout", "B hears of its own task's timeout");

    // A leaves while B's tasks wait in the queue: only A's tasks (none) are cancelled.
    const xs = Array.from({ length: 200 }, (_, i) => i);
    const fs = b.map(slow, xs, { args: [20] });
    await withTimeout(fs[0]!.result(), 30_000, "B's first result");
    await a.close();
    assert.equal(await withTimeout(b.gather(fs), 60_000, "B's results after A left"), xs.map((x) => x * 2));
  } finally {
    await a.close();
    await b?.close();
  }

  // Everyone but the suite's own client has left (the crowd by lease expiry): nothing of theirs stays.
  let info = await client.info();
  await waitFor(
    async () => {
      info = await client.info();
      const r = info.retained!;
      return r.clientIndexes === 1 && r.clientsDraining === 0 && r.tokens === 1 && r.tickets === 1 && r.fns === 0 && r.mods === 0 && r.estimates === 0 && r.perFn === 0 && r.chunks === 0 && r.jobs === 0;
    },
    { timeoutMs: 20_000, label: `per-client and per-function state to be freed: ${JSON.stringify(info.retained)}` },
  ).catch((e) => assert.unreachable(`${(e as Error).message}; last: ${JSON.stringify(info.retained)}`));
  assert.ok(info.retained!.registrations >= 70_000, "more than 70,000 registrations");
  // Executors dropped the functions too (their heartbeats report their caches).
  await waitFor(
    async () => (await client.info()).workers.every((w) => w.executors.every((e) => (e.cached?.fns ?? 0) === 0)),
    { timeoutMs: 10_000, label: "executors to forget the functions of clients that left" },
  );
});

t("a released scattered value leaves every executor's cache, and the scheduler's", async ({ client }) => {
  const base = (await client.info()).retained!.dataValues;
  const table = Array.from({ length: 10_000 }, (_, i) => i);
  const ref = await withTimeout(client.scatter(table), 30_000, "scatter");
  const sum = (i: number, t: number[]) => t[i]! + t.length;
  // Enough tasks that both executors run some (each fetches and caches the value).
  const out = await withTimeout(client.gather(client.map(sum, Array.from({ length: 400 }, (_, i) => i), { args: [ref] })), 60_000, "map over the value");
  assert.is(out[399], 399 + 10_000);
  const held = async () => (await client.info()).workers.flatMap((w) => w.executors.map((e) => e.cached?.data ?? 0));
  await waitFor(async () => (await held()).some((n) => n > 0), { timeoutMs: 10_000, label: "an executor to report the value cached" });
  client.release([ref]);
  await waitFor(async () => (await held()).every((n) => n === 0), { timeoutMs: 10_000, label: "executors to drop the released value" });
  assert.is((await client.info()).retained!.dataValues, base);
});

t.run();
