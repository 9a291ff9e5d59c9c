/**
 * Issue 15, sharing a cluster: a client's few tasks do not wait behind another client's long queue
 * (clients take turns, batch by batch), and `priority` puts a call's tasks ahead of lower ones.
 * Order properties only; bench/fairness.ts measures the latency.
 */
import * as assert from "uvu/assert";
import { Client } from "../index.ts";
import { clusterSuite, runExample, withTimeout } from "./helpers/cluster.ts";

const t = clusterSuite("fairness", { nprocs: 2 });

const busy = (ms: number) => {
  const end = Date.now() + ms;
  while (Date.now() < end);
  return ms;
};
const tiny = (x: number) => x + 1;

t("a second client's few tasks run before the first client's long queue drains", async ({ client }) => {
  const a = client;
  const b = await withTimeout(Client.connect(a.address, { cluster: a.localCluster!.cluster }), 30_000, "client B");
  try {
    const n = 3_000;
    const fa = a.map(busy, new Array(n).fill(3));
    await withTimeout(fa[0]!.result(), 30_000, "A's first result");
    const fb = b.map(tiny, [1, 2, 3, 4, 5]);
    assert.equal(await withTimeout(b.gather(fb), 60_000, "B's results"), [2, 3, 4, 5, 6]);
    const aDone = fa.filter((f) => f.done()).length;
    // Strict FIFO across clients would have run all of A's tasks first.
    assert.ok(aDone < n, `B's results came after all ${n} of A's`);
    a.cancel(fa);
  } finally {
    await b.close();
  }
});

t("tasks of a higher priority run before lower ones queued earlier", async ({ client }) => {
  const n = 2_000;
  const low = client.map(busy, new Array(n).fill(3));
  await withTimeout(low[0]!.result(), 30_000, "the first low-priority result");
  const high = client.map(tiny, [10, 20, 30], { priority: 10 });
  assert.equal(await withTimeout(client.gather(high), 60_000, "high-priority results"), [11, 21, 31]);
  const lowDone = low.filter((f) => f.done()).length;
  assert.ok(lowDone < n, `the high-priority tasks came after all ${n} low ones`);
  client.cancel(low);
  assert.throws(() => client.map(tiny, [1], { priority: Number.NaN }), /priority/);
});

// The example of this API, run as a user would (here rather than in examples.test.ts, which is near
// its time limit on a busy machine).
t("examples/sharing.ts", async () => {
  const out = await runExample("examples/sharing.ts");
  assert.match(out, /B got \[2,4,6\] while A had \d+ of 2000 done/);
  assert.match(out, /A's urgent \[20,40\] came before its queue drained \(\d+ of 2000 done\)/);
  assert.match(out, "A's long map done");
  assert.match(out, /A sent [1-9]\d* messages to its scheduler in-process \(B: over NATS\)/);
});

t.run();
