/**
 * The executor's lingering results and completions (issue 10) with a peer playing its scheduler on
 * a real nats-server: the peer refills the queue only when a completion message arrives, as the
 * real scheduler does. Results still arrive exactly once and in order, they share messages, and the
 * refill is asked for before the queue runs dry.
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
import { bytesHash } from "../runtime/data-transfer.ts";
import { subjects, type Done, type RegisterReply, type Results, type TaskBatch } from "../runtime/protocol.ts";
import { Transport } from "../runtime/transport.ts";
import { hello } from "../runtime/version.ts";
import { cleanup, onCleanup, startTestNats, waitFor, withTimeout } from "./helpers/cluster.ts";

test.after(cleanup);

// A task of ~2 ms (a busy wait: the executor's thread is held, as by real work).
const source = "(x) => { const t = Date.now(); while (Date.now() - t < 2) {} return x * 2; }";
const fn = { kind: "src" as const, hash: bytesHash(new TextEncoder().encode(source)), name: "", source, file: "", line: 0 };

test("batches refilled on completions: every result once, in order, sharing messages; each refill asked for before the queue ran dry", async () => {
  const nats = await startTestNats();
  const nc = await connect({ servers: nats.url });
  onCleanup(() => nc.close());
  const s = subjects("linger");
  const BATCH = 60;
  const BATCHES = 3;
  const results: Results[] = [];
  const dones: Done[] = [];
  /** Per batch sent after the first: the slots completed (as the peer heard) when it was sent. */
  const completedAtRefill: number[] = [];
  let completed = 0;
  let sent = 0;
  const send = () => {
    const slots = Uint32Array.from({ length: BATCH }, (_, i) => sent * BATCH + i);
    const batch: TaskBatch = {
      sched: "S1",
      auth: "A1",
      seq: sent + 1,
      ...(sent === 0 ? { fns: [fn] } : {}),
      groups: [{ client: "c1", fn: fn.hash, slots, keys: slots, rows: encode([...slots].map((k) => [k])) }],
    };
    if (sent > 0) completedAtRefill.push(completed);
    sent++;
    nc.publish(s.execTasks("x1"), encode(batch));
  };
  nc.subscribe(s.results("c1"), { callback: (_e, m) => results.push(decode<Results>(m.data)) });
  nc.subscribe(s.done, {
    callback: (_e, m) => {
      const d = decode<Done>(m.data);
      dones.push(d);
      completed += d.slots.length;
      // The scheduler's part: a completion frees room, the queue is refilled.
      if (sent < BATCHES) send();
    },
  });
  nc.subscribe(s.register, { callback: (_e, m) => m.respond(encode({ ok: true, scheduler: "S1", heartbeatMs: 500, hello: hello(), auth: "A1" } satisfies RegisterReply)) });
  await nc.flush();
  const tx = await Transport.connect({ servers: nats.url, inboxPrefix: s.inbox });
  onCleanup(() => tx.close());
  const ex = new Executor(tx, { id: "x1", name: "linger-0", worker: "w", index: 0, nthreads: 1, cluster: "linger", localDirectory: mkdtempSync(join(tmpdir(), "ts-dask-linger-")), log: silentLogger, forwardConsole: false });
  onCleanup(() => ex.stop());
  await withTimeout(ex.start(), 10_000, "register");
  send();
  const total = BATCH * BATCHES;
  await waitFor(() => completed === total, { timeoutMs: 30_000, label: "every completion" });
  await waitFor(() => results.reduce((a, r) => a + r.keys.length, 0) === total, { timeoutMs: 10_000, label: "every result" });
  const keys = results.flatMap((r) => [...r.keys]);
  assert.equal(keys, Array.from({ length: total }, (_, i) => i), "each key once, in the order queued (one thread, FIFO)");
  assert.equal(results.flatMap((r) => r.values), keys.map((k) => k * 2));
  assert.equal(dones.flatMap((d) => [...d.slots]).sort((a, b) => a - b), keys, "each completion once");
  assert.ok(results.length <= total / 10, `results shared messages: ${results.length} messages for ${total} tasks`);
  for (const [i, c] of completedAtRefill.entries()) {
    assert.ok(c < (i + 1) * BATCH, `batch ${i + 2} was asked for while batch ${i + 1} still had tasks queued (${c} of ${(i + 1) * BATCH} done)`);
  }
});

test.run();
