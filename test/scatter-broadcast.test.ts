/**
 * Broadcast scatters: pushed once through NATS to every idle executor; a busy executor pulls instead.
 * The client hands nothing over through the same-host drop directory here (sameHostScatter: false):
 * these tests are about the NATS path, which executors on other machines take (test/scatter-same-host.test.ts: the drop).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as assert from "uvu/assert";
import { Client } from "../index.ts";
import { decode } from "../runtime/codec.ts";
import { subjects, type DataPut, type ExecControl } from "../runtime/protocol.ts";
import { Transport } from "../runtime/transport.ts";
import { clusterSuite, waitFor, withTimeout } from "./helpers/cluster.ts";
import { occupyAnExecutor } from "./helpers/busy-executor.ts";

// A cluster of its own: the executors' counters start at zero.
const t = clusterSuite("scatter-broadcast", { nprocs: 2 }, { sameHostScatter: false });

const executorData = async (client: Client) =>
  Object.fromEntries((await client.info()).workers.flatMap((w) => w.executors).map((e) => [e.name, { fetches: e.dataFetches, pushed: e.dataPushed }]));

t("a broadcast scatter is pushed once to every idle executor (one publish, fanned out by NATS)", async ({ client }) => {
  const before = await executorData(client);
  const big = new Float64Array(5_000_000).map((_, i) => i * 0.5); // 40 MB: 40 chunks
  const ref = await withTimeout(client.scatter(big, { broadcast: true }), 60_000, "broadcast scatter");
  await waitFor(async () => Object.entries(await executorData(client)).every(([n, d]) => d.pushed === (before[n]?.pushed ?? 0) + 1), { timeoutMs: 20_000, label: "every executor to report one pushed value" });
  const after = await executorData(client);
  for (const [n, d] of Object.entries(after)) assert.is(d.fetches, (before[n]?.fetches ?? 0) + 1, `${n} obtained it exactly once`);
  const idx = Array.from({ length: 200 }, (_, i) => i * 24_999);
  const out = await client.gather(client.map((i: number, d: Float64Array) => d[i], idx, { args: [ref] }));
  assert.equal(out, idx.map((i) => i * 0.5));
  assert.equal(await executorData(client), after, "the tasks used the pushed copies");
  client.release([ref]);
});

t("an executor busy with a task is not pushed to: it pulls the value when free", async ({ client }) => {
  const dir = mkdtempSync(join(tmpdir(), "tsdask-scatter-"));
  try {
    const blocker = await occupyAnExecutor(client, dir);
    const before = await executorData(client);
    const ref = await withTimeout(client.scatter(new Float64Array(2_000_000).fill(7), { broadcast: true }), 60_000, "broadcast scatter");
    blocker.release();
    const busy = (await blocker.task.result()).name;
    await waitFor(async () => Object.entries(await executorData(client)).every(([n, d]) => d.fetches === (before[n]?.fetches ?? 0) + 1), { timeoutMs: 20_000, label: "every executor to hold the value" });
    const after = await executorData(client);
    for (const [n, d] of Object.entries(after)) assert.is(d.pushed - (before[n]?.pushed ?? 0), n === busy ? 0 : 1, `${n}: ${n === busy ? "pulled" : "pushed"}`);
    const out = await client.gather(client.map((i: number, d: Float64Array) => d[i]! + i, [0, 1, 2, 3, 4, 5], { args: [ref] }));
    assert.equal(out, [7, 8, 9, 10, 11, 12]);
    client.release([ref]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

t("a push runs at most two windows ahead of every listening executor: a window waits for their `pushed` answers to the one before the last", async ({ client }) => {
  // Seen in one subscriber's order, which is nats-server's: a chunk past a window boundary must
  // come after every listening executor answered that it holds the chunks up to that boundary.
  // Without it the client published 40 MB at full speed and, on a loaded machine, nats-server cut
  // executors (and the scheduler) off as slow consumers. The push itself crosses NATS even from an
  // embedded client, whose other requests take the in-process link.
  const local = client.localCluster!;
  const S = subjects(local.cluster);
  const rx = await Transport.connect({ servers: local.url, token: local.token, name: "listener" });
  try {
    const events: ({ chunk: number } | { ask: string; exec: string; through: number } | { answer: string })[] = [];
    rx.subscribe(S.dataPush("*"), (data) => events.push({ chunk: decode<DataPut>(data).index }));
    rx.subscribe(S.execControl("*"), (data, reply, subject) => {
      const m = decode<ExecControl>(data);
      if (m.op === "pushed" && reply) events.push({ ask: reply, exec: subject, through: m.through! });
    });
    rx.subscribe(`${S.inbox}.>`, (_data, _reply, subject) => events.push({ answer: subject }));
    await rx.flush();
    const big = new Float64Array(3_000_000).map((_, i) => i); // 24 MB: 23 chunks of ~1 MB, three windows of 8
    const ref = await withTimeout(client.scatter(big, { broadcast: true }), 60_000, "broadcast scatter");
    await rx.flush();
    const asks = new Map<string, { exec: string; through: number }>();
    const held = new Map<string, number>(); // per executor, the highest `through` it answered
    const bounds = new Set<number>();
    let chunks = 0;
    let gated = 0;
    for (const e of events) {
      if ("ask" in e) {
        asks.set(e.ask, e);
        bounds.add(e.through);
      } else if ("answer" in e) {
        const a = asks.get(e.answer);
        if (a) held.set(a.exec, Math.max(held.get(a.exec) ?? -1, a.through));
      } else {
        chunks++;
        // Two windows may be in flight: chunk i waits for the answer to the window before the last.
        const below = [...bounds].filter((b) => b < e.chunk).sort((a, b) => b - a);
        const boundary = below[1] ?? -1;
        for (const [exec, through] of held) assert.ok(through >= boundary, `chunk ${e.chunk} was published before ${exec} held chunk ${boundary}`);
        if (boundary >= 0) {
          gated++;
          assert.is(held.size, 2, `both executors answered the window ending at ${boundary} before chunk ${e.chunk}`);
        }
      }
    }
    assert.ok(chunks > 16, `the chunks crossed NATS (${chunks})`);
    assert.ok(bounds.size >= 3, `the push was paced window by window (asked through ${[...bounds].join(", ")})`);
    assert.ok(gated > 0, "some chunks waited for the listeners' answers");
    const out = await client.gather(client.map((i: number, d: Float64Array) => d[i], [0, 2_999_999], { args: [ref] }));
    assert.equal(out, [0, 2_999_999]);
    client.release([ref]);
  } finally {
    await rx.close();
  }
});

t.run();
