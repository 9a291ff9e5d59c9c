/** Scattered data: stored once, fetched once per executor, survives an executor's death. */
import * as assert from "uvu/assert";
import { DataRef } from "../index.ts";
import { clusterSuite, waitFor, withTimeout } from "./helpers/cluster.ts";

const t = clusterSuite("scatter", { nprocs: 2 });

const N = 12_500_000; // 100 MB of float64
const expected = (i: number) => Math.sin(i) * 1000;

t("a 100 MB Float64Array: fetched once per executor, exact in 1,000 tasks, survives an executor's death", async ({ client }) => {
  const big = new Float64Array(N);
  for (let i = 0; i < N; i++) big[i] = expected(i);
  const ref = await withTimeout(client.scatter(big), 60_000, "scatter 100 MB");
  assert.instance(ref, DataRef);
  assert.is(ref.size > 100_000_000, true);
  const probe = (i: number, data: Float64Array) => [Object.prototype.toString.call(data), data.length, data[(i * 12_347) % data.length]];
  const idx = Array.from({ length: 1000 }, (_, i) => i);
  const out = await withTimeout(client.gather(client.map(probe, idx, { args: [ref] })), 60_000, "1,000 tasks");
  for (const i of idx) assert.equal(out[i], ["[object Float64Array]", N, expected((i * 12_347) % N)]);
  const fetchesPerExecutor = async () => (await client.info()).workers[0]!.executors.map((e) => e.dataFetches);
  await waitFor(async () => (await fetchesPerExecutor()).every((n) => n === 1), { timeoutMs: 10_000, label: "each executor to report one fetch" });

  // Kill one executor mid-run: its tasks are re-queued, the restarted process fetches the value again.
  const victim = client.localCluster!.worker.executors[0]!.child!;
  const fs = client.map(async (i: number, data: Float64Array) => {
    await new Promise((r) => setTimeout(r, 2));
    return data[i]!;
  }, idx, { args: [ref] });
  await fs[50]!.result();
  victim.kill("SIGKILL");
  const again = await withTimeout(client.gather(fs), 60_000, "run after the kill");
  assert.equal(again, idx.map(expected));
  assert.is((await client.info()).data.values, 1);
});

t("scattering the same object, or equal bytes, stores it once; release drops it", async ({ client }) => {
  const a = { table: [1, 2, 3], name: "ref" };
  const r1 = await client.scatter(a);
  const r2 = await client.scatter(a);
  const r3 = await client.scatter({ table: [1, 2, 3], name: "ref" });
  assert.is(r1, r2, "same object: same reference, no second upload");
  assert.is(r3.hash, r1.hash, "equal bytes: same value");
  const before = (await client.info()).data.values;
  assert.is(await client.submit((v: { name: string }) => v.name, r1).result(), "ref");
  client.release([r1]);
  await waitFor(async () => (await client.info()).data.values === before - 1, { timeoutMs: 5000, label: "release to reach the scheduler" });
});

t("a value that cannot be serialised is refused at once", async ({ client }) => {
  try {
    await client.scatter({ f: () => 1 });
    assert.unreachable();
  } catch (e) {
    assert.is((e as { code: string }).code, "NotSerializable");
  }
});

t.run();
