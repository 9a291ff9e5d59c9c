/**
 * The executor (in this process, on a real nats-server) with a peer playing its scheduler: task
 * batches that arrive while it registers are replayed in order once it has, and every batch that
 * carries DataRefs has them resolved — whichever batch's decoding counted them; a `run` that
 * arrives before the register reply is answered once the executor has registered.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "nats";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Executor } from "../actors/executor/executor.ts";
import { silentLogger } from "../runtime/actor.ts";
import { decode, encode } from "../runtime/codec.ts";
import { DataRef } from "../runtime/data-ref.ts";
import { bytesHash } from "../runtime/data-transfer.ts";
import { subjects, type DataGet, type DataGetReply, type ExecControl, type RegisterReply, type Results, type RunReply, type RunRequest, type TaskBatch } from "../runtime/protocol.ts";
import { Transport } from "../runtime/transport.ts";
import { hello } from "../runtime/version.ts";
import { cleanup, onCleanup, startTestNats, waitFor, withTimeout } from "./helpers/cluster.ts";

test.after(cleanup);

/** A nats-server and a raw connection playing the scheduler's part. */
async function schedulerPeer() {
  const nats = await startTestNats();
  const nc = await connect({ servers: nats.url });
  onCleanup(() => nc.close());
  return { url: nats.url, nc };
}

/** An executor in this process on `url`, registered (the peer must answer its registration). */
async function startExecutor(url: string, cluster: string, id: string, name: string): Promise<Executor> {
  const tx = await Transport.connect({ servers: url, inboxPrefix: subjects(cluster).inbox });
  onCleanup(() => tx.close());
  const ex = new Executor(tx, { id, name, worker: "w", index: 0, nthreads: 1, cluster, localDirectory: mkdtempSync(join(tmpdir(), `ts-dask-${cluster}-`)), log: silentLogger, forwardConsole: false });
  onCleanup(() => ex.stop());
  await withTimeout(ex.start(), 10_000, "register");
  return ex;
}

test("two batches with DataRefs queued during registration both get their values", async () => {
  const { url, nc } = await schedulerPeer();
  const s = subjects("early");
  const values = [Float64Array.of(1, 2, 3), Float64Array.of(4, 5)];
  const stored = new Map(values.map((v) => [bytesHash(encode(v)), encode(v)] as const));
  const refs = [...stored].map(([hash, bytes]) => new DataRef<Float64Array>(hash, bytes.byteLength));
  const source = "(v) => (v instanceof Float64Array ? v.reduce((a, b) => a + b, 0) : `not a value: ${String(v)}`)";
  const fn = { kind: "src" as const, hash: bytesHash(new TextEncoder().encode(source)), name: "", source, file: "", line: 0 };
  const batch = (i: number): TaskBatch => ({
    sched: "S1",
    auth: "A1",
    seq: i + 1,
    ...(i === 0 ? { fns: [fn] } : {}),
    groups: [{ client: "c1", fn: fn.hash, slots: Uint32Array.of(i), keys: Uint32Array.of(i), rows: encode([[refs[i]]]) }],
  });
  const results: Results[] = [];
  nc.subscribe(s.results("c1"), { callback: (_e, m) => results.push(decode<Results>(m.data)) });
  nc.subscribe(s.dataGet, {
    callback: (_e, m) => {
      const g = decode<DataGet>(m.data);
      const bytes = stored.get(g.hash)!;
      m.respond(encode({ ok: true, chunks: 1, size: bytes.byteLength, bytes } satisfies DataGetReply));
    },
  });
  // The scheduler's part: both batches go out while the executor waits for its register reply.
  nc.subscribe(s.register, {
    max: 1,
    callback: (_e, m) => {
      for (const i of [0, 1]) nc.publish(s.execTasks("x1"), encode(batch(i)));
      void nc.flush().then(() => m.respond(encode({ ok: true, scheduler: "S1", heartbeatMs: 500, hello: hello(), auth: "A1" } satisfies RegisterReply)));
    },
  });
  await nc.flush();
  await startExecutor(url, "early", "x1", "early-0");
  const got = new Map<number, unknown>();
  await waitFor(() => {
    for (const r of results.splice(0)) r.keys.forEach((k, i) => got.set(k, r.errors?.find((e) => e.i === i)?.message ?? r.values[i]));
    return got.size === 2;
  }, { timeoutMs: 10_000, label: "both results" });
  assert.equal(got.get(0), 6);
  assert.equal(got.get(1), 9);
});

test("a task whose function or module never arrived, or arrived corrupted, fails under a named code", async () => {
  const { url, nc } = await schedulerPeer();
  const s = subjects("lost");
  const results: Results[] = [];
  nc.subscribe(s.results("c1"), { callback: (_e, m) => results.push(decode<Results>(m.data)) });
  nc.subscribe(s.register, { callback: (_e, m) => m.respond(encode({ ok: true, scheduler: "S1", heartbeatMs: 500, hello: hello(), auth: "A1" } satisfies RegisterReply)) });
  await nc.flush();
  await startExecutor(url, "lost", "x1", "lost-0");
  const code = "export const f = (x) => x;";
  const mod = { hash: "a".repeat(64), file: "forged.mjs", code }; // not the hash of its code
  const byRef = { kind: "mod" as const, hash: "b".repeat(64), name: "f", module: mod.hash, exportName: "f", file: "forged.mjs", line: 1 };
  const batch: TaskBatch = {
    sched: "S1",
    auth: "A1",
    seq: 1,
    mods: [mod],
    fns: [byRef],
    groups: [
      { client: "c1", fn: "c".repeat(64), slots: Uint32Array.of(0), keys: Uint32Array.of(0), rows: encode([[1]]) }, // never sent
      { client: "c1", fn: byRef.hash, slots: Uint32Array.of(1), keys: Uint32Array.of(1), rows: encode([[2]]) },
    ],
  } as TaskBatch;
  nc.publish(s.execTasks("x1"), encode(batch));
  const codes = new Map<number, string>();
  await waitFor(() => {
    for (const r of results.splice(0)) r.keys.forEach((k, i) => codes.set(k, r.errors?.find((e) => e.i === i)?.code ?? "ok"));
    return codes.size === 2;
  }, { timeoutMs: 10_000, label: "both rows" });
  assert.is(codes.get(0), "DefinitionNotSent");
  assert.is(codes.get(1), "ModuleCorrupted");
});

test("a run order read before the register reply is run once registered, not dropped as forged", async () => {
  const { url, nc } = await schedulerPeer();
  const s = subjects("early2");
  const source = "(x) => x * 2";
  const fn = { kind: "src" as const, hash: bytesHash(new TextEncoder().encode(source)), name: "", source, file: "", line: 0 };
  let answer: Promise<RunReply> | undefined;
  // The scheduler's part: a client.runOn the moment the executor joined, its order ahead of the reply.
  nc.subscribe(s.register, {
    max: 1,
    callback: (_e, m) => {
      answer = nc.request(s.execRun("x2"), encode({ fn, args: [21], auth: "A2" } satisfies RunRequest), { timeout: 8000 }).then((r) => decode<RunReply>(r.data));
      void nc.flush().then(() => m.respond(encode({ ok: true, scheduler: "S2", heartbeatMs: 500, hello: hello(), auth: "A2" } satisfies RegisterReply)));
    },
  });
  await nc.flush();
  const ex = await startExecutor(url, "early2", "x2", "early-1");
  await waitFor(() => answer !== undefined, { timeoutMs: 10_000, label: "the run order sent" });
  assert.equal(await answer, { ok: true, value: 42 });
  assert.is(ex.forged, 0);
});

test("a prefetch order that arrives before the register reply is carried out once registered", async () => {
  const { url, nc } = await schedulerPeer();
  const s = subjects("early2");
  const bytes = encode(Float64Array.of(1, 2, 3));
  const hash = bytesHash(bytes);
  const gets: string[] = [];
  nc.subscribe(s.dataGet, {
    callback: (_e, m) => {
      gets.push(decode<DataGet>(m.data).hash);
      m.respond(encode({ ok: true, chunks: 1, size: bytes.byteLength, bytes } satisfies DataGetReply));
    },
  });
  nc.subscribe(s.register, {
    max: 1,
    callback: (_e, m) => {
      nc.publish(s.execControl("x2"), encode({ op: "prefetch", hash, auth: "A2" } satisfies ExecControl));
      void nc.flush().then(() => m.respond(encode({ ok: true, scheduler: "S2", heartbeatMs: 500, hello: hello(), auth: "A2" } satisfies RegisterReply)));
    },
  });
  await nc.flush();
  await startExecutor(url, "early2", "x2", "early-1");
  await waitFor(() => gets.length > 0, { timeoutMs: 10_000, label: "the prefetch's data.get" });
  assert.equal(gets, [hash]);
});

test.run();
