/**
 * Issue 15, deep queues: many queued tasks from several clients (CI-sized; bench/deep-queue runs
 * 10^7). A scheduler in this process with no worker, so everything stays queued, and clients that
 * speak the real protocol over a real nats-server: raw ones (a Transport sending `sched.register`
 * and `sched.submit`) where a test needs one message at a time, real `Client`s otherwise.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Client, Scheduler } from "../index.ts";
import { silentLogger } from "../runtime/actor.ts";
import type { ClusterInfo } from "../runtime/protocol.ts";
import { subjects, type RegisterReply, type Submit, type SubmitAck } from "../runtime/protocol.ts";
import { toFnDef } from "../runtime/shipping/index.ts";
import { Transport } from "../runtime/transport.ts";
import { hello } from "../runtime/version.ts";
import { rowBytes } from "./helpers/rows.ts";
import { childExit, cleanup, onCleanup, startTestNats, waitFor, waitForLine, withTimeout } from "./helpers/cluster.ts";

test.after(cleanup);

/** Rows as a client sends them (SubmitGroup.rows / ends). */
const rowsOf = (cols: unknown[][]) => {
  const [rows, ends] = rowBytes(cols);
  return { rows, ends };
};

async function schedulerAlone(cluster: string, clientGraceMs?: number) {
  const nats = await startTestNats();
  const tx = await Transport.connect({ servers: nats.url });
  const sched = await Scheduler.start(tx, { cluster, log: silentLogger, ...(clientGraceMs ? { clientGraceMs } : {}) });
  onCleanup(async () => {
    await sched.stop();
    await tx.close();
  });
  const raw = await Transport.connect({ servers: nats.url });
  onCleanup(() => raw.close());
  return { url: nats.url, sched, raw, s: subjects(cluster) };
}

/** A client speaking the protocol by hand: one submit message at a time. */
async function rawClient(raw: Transport, s: ReturnType<typeof subjects>, id: string) {
  const auth = `auth-${id}`;
  const reg = await raw.request<RegisterReply>(s.register, { kind: "client", hello: hello(), id, auth, secret: new Uint8Array(randomBytes(16)) }, 5000);
  assert.ok(reg.ok, "registered");
  const fn = toFnDef((x: number) => x).fn;
  let seq = 0;
  return async (keys: number[], resync = false): Promise<Uint32Array> => {
    const m: Submit = { client: id, auth, seq: ++seq, fns: [fn], groups: [{ fn: fn.hash, keys: Uint32Array.from(keys), ...rowsOf([keys]) }], ...(resync ? { resync } : {}) };
    const ack = await raw.request<SubmitAck>(s.submit, m, 10_000);
    assert.ok(ack.ok, `submit ${seq} acknowledged`);
    return (ack as { slots: Uint32Array }).slots;
  };
}

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

test("a re-submission finds the rows the scheduler holds: rows it received between two re-submissions are not added twice", async () => {
  const { sched, raw, s } = await schedulerAlone("resync-keys");
  const submit = await rawClient(raw, s, "c1");
  // A re-submission (after a stall or a reconnect), then a first submission of newer rows, then
  // the re-submission of those (their acknowledgement was late): all within a second. The
  // scheduler used to look the keys up in a map built at the first re-submission, a second old.
  const first = await submit(range(0, 100), true);
  const second = await submit(range(100, 100));
  const again = await submit(range(100, 100), true);
  assert.equal(Array.from(again), Array.from(second), "the held rows' slots are acknowledged");
  const both = await submit(range(50, 100), true);
  assert.equal(Array.from(both), [...Array.from(first).slice(50), ...Array.from(second).slice(0, 50)]);
  const info: ClusterInfo = sched.info();
  assert.is(info.tasks.queued, 200, "no row was added twice");
});

test("the scheduler's own stall does not expire the leases of clients it could not hear meanwhile", async () => {
  const { url, sched } = await schedulerAlone("stall", 2000);
  const script = fileURLToPath(new URL("./fixtures/lease/submit-and-hang.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", script, url, "stall"], { stdio: ["ignore", "pipe", "inherit"] });
  onCleanup(async () => {
    child.kill();
    await childExit(child);
  });
  await waitForLine(child.stdout!, /submitted/, { timeoutMs: 30_000, label: "the child's submit" });
  assert.is(sched.info().tasks.queued, 300);
  // The scheduler's event loop (this process's) blocked for twice the grace period, as a full GC
  // of a huge heap or a long synchronous stretch would: the child renews its lease all along,
  // but its renewals wait in the socket until the stall ends, behind the scheduler's beat.
  const end = Date.now() + 4000;
  while (Date.now() < end);
  await waitFor(() => (sched.info().scheduler.stallMs ?? 0) >= 3000, { timeoutMs: 5000, label: "the scheduler's beat after the stall" });
  const info = sched.info();
  assert.is(info.clients, 1, "the client still holds its lease");
  assert.is(info.tasks.queued, 300, "its tasks are still queued");
});

test("a client closing with 100,000 queued tasks: each future fails with ClientClosed naming its task; its bye drops them from the scheduler", async () => {
  // A grace period longer than the test: only the client's bye can drop its tasks.
  const { url, sched } = await schedulerAlone("closing", 600_000);
  const other = await Client.connect(url, { cluster: "closing" });
  onCleanup(() => other.close());
  const keep = other.map((x: number) => x, range(0, 1000));
  const client = await Client.connect(url, { cluster: "closing" });
  const n = 100_000;
  const fs = client.map((x: number) => x + 1, range(0, n));
  await client.flush();
  assert.is(sched.info().tasks.queued, n + 1000);
  const rejected = fs[7]!.result().then(
    () => undefined,
    (e: unknown) => e,
  );
  await client.close();
  assert.ok(fs.every((f) => f.status === "error"), "every pending future failed");
  const e = (await rejected) as { code?: string; message: string };
  assert.is(e.code, "ClientClosed");
  assert.match(e.message, `Task ${fs[7]!.key} was still pending when the client closed`);
  const last = await fs[n - 1]!.exception();
  assert.is(last?.code, "ClientClosed");
  assert.match(last!.message, fs[n - 1]!.key);
  await waitFor(() => sched.info().tasks.queued === 1000 && sched.info().clients === 1, { timeoutMs: 30_000, label: "the closed client's tasks to leave the scheduler" });
  assert.is(sched.info().retained!.chunks, 1, "only the other client's chunk is left");
  assert.is(keep.length, 1000);
});

test.run();
