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

t("typed arrays of every kind, and unaligned views, arrive whole and of their kind (viewed in place on the executor)", async ({ client }) => {
  const kinds = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array] as const;
  // What an executor sees: its kind, its length, a checksum of every element, and whether it is
  // aligned for its kind (a view of the assembled bytes or a copy, it must always be).
  const seen = (_i: number, v: ArrayLike<number | bigint> & { byteOffset: number; BYTES_PER_ELEMENT: number }) => {
    let sum = 0;
    for (let k = 0; k < v.length; k++) sum = (sum * 31 + Number(v[k]!)) % 1_000_003;
    return [Object.prototype.toString.call(v), v.length, sum, v.byteOffset % v.BYTES_PER_ELEMENT];
  };
  const local = (v: ArrayLike<number | bigint> & { byteOffset: number; BYTES_PER_ELEMENT: number }) => seen(0, v).slice(0, 3);
  const values: (ArrayLike<number | bigint> & { byteOffset: number; BYTES_PER_ELEMENT: number })[] = [];
  for (const Ctor of kinds) {
    const n = (1 << 18) / Ctor.BYTES_PER_ELEMENT + 3; // 256 KiB and a few: more than one chunk for none, below a chunk
    const big = Ctor === BigInt64Array || Ctor === BigUint64Array;
    values.push(big ? new (Ctor as BigInt64ArrayConstructor)(n).map((_, i) => BigInt(i * 7 + 1)) : new (Ctor as Float64ArrayConstructor)(n).map((_, i) => (i * 7 + 1) % 251));
  }
  // Views that do not start their buffer: aligned for their kind at an offset, and a byte view at an odd one.
  values.push(new Float64Array(new Float64Array(300_001).map((_, i) => i / 3).buffer, 8, 300_000));
  values.push(new Uint8Array(new Uint8Array(3_000_001).map((_, i) => i % 253).buffer, 1, 3_000_000)); // 3 MB: several chunks
  values.push(new Float32Array(new ArrayBuffer(4 * 2_000_000 + 4), 4, 2_000_000).fill(0.25));
  for (const broadcast of [false, true]) {
    const refs = await withTimeout(Promise.all(values.map((v) => client.scatter(v, { broadcast }))), 60_000, "scatter every kind");
    const out = await withTimeout(client.gather(refs.map((r) => client.submit(seen, 0, r))), 60_000, "read every kind");
    values.forEach((v, k) => assert.equal(out[k], [...local(v), 0], `${Object.prototype.toString.call(v)} #${k} (broadcast ${broadcast})`));
    client.release(refs);
  }
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
