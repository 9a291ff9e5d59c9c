/** The workloads suite on backend "cluster" (a private ts-dask cluster: nats-server, scheduler, 2 executors), and what only the cluster has. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Client } from "../index.ts";
import { delayed, parallel, parallelStream, type EngineStats } from "../workloads/index.ts";
import { waitFor, withTimeout } from "./helpers/cluster.ts";
import { workloadsSuite } from "./helpers/workloads-suite.ts";

let client: Client | undefined;

workloadsSuite("the cluster", async () => {
  client = await withTimeout(Client.connect(undefined, { local: { nprocs: 2 } }), 60_000, "embedded cluster");
  return { opts: { client }, client, close: async () => {} };
});

test.after(async () => {
  await client?.close();
});

test("a DataRef the user scattered is passed through; backend: \"cluster\" with an address connects (and closes) its own client", async () => {
  const c = client!;
  const data = Float64Array.from({ length: 50_000 }, (_, i) => i);
  const ref = await c.scatter(data);
  const stats: Partial<EngineStats> = {};
  const out = await withTimeout(parallel({ client: c, stats }, [3, 4, 5].map((i) => delayed((k: number, d: Float64Array) => d[k]! * 2)(i, ref as unknown as Float64Array))), 60_000, "DataRef args");
  assert.equal(out, [6, 8, 10]);
  assert.is(stats.scattered, 0, "already scattered by the user");
  const viaAddress = await withTimeout(
    parallel({ backend: "cluster", address: c.address, clientOptions: { cluster: c.localCluster!.cluster, token: c.localCluster!.token } }, [1, 2].map((x) => delayed((y: number) => y * 10)(x))),
    60_000,
    "backend cluster by address",
  );
  assert.equal(viaAddress, [10, 20]);
  // the call's own client said goodbye (no event to await here: poll the scheduler's count)
  await waitFor(async () => (await c.info()).clients === 1, { timeoutMs: 10_000, label: "the call's client to be gone" });
});

test("what a run scattered leaves the scheduler when the run ends; the user's own values, and one another run still uses, stay", async () => {
  const c = client!;
  const held = async () => (await c.info()).retained!.dataValues;
  const base = await held();
  const values = (seed: number) => Float64Array.from({ length: 50_000 }, (_, i) => i + seed);
  const pick = (k: number, d: Float64Array) => d[k]!;
  const slowPick = async (k: number, d: Float64Array) => (await new Promise((r) => setTimeout(r, 200)), d[k]!);

  // 1. Scattered for the run only: gone after it.
  const a = values(1);
  assert.equal(await withTimeout(parallel({ client: c, scatter: [a] }, [1, 2].map((k) => delayed(pick)(k, a))), 60_000, "run 1"), [2, 3]);
  await waitFor(async () => (await held()) === base, { timeoutMs: 10_000, label: "run 1's value released" });

  // 2. The user scattered it too: it stays, and the user's ref still works.
  const b = values(100);
  const rb = await c.scatter(b);
  assert.is(await held(), base + 1);
  assert.equal(await withTimeout(parallel({ client: c, scatter: [b] }, [1, 2].map((k) => delayed(pick)(k, b))), 60_000, "run 2"), [101, 102]);
  assert.is(await held(), base + 1, "the user's value stays");
  assert.is(await withTimeout(c.submit((d: Float64Array) => d[5]!, rb).result(), 30_000, "the user's ref"), 105);

  // 3. Two runs at once on one value: it stays until the second ends.
  const d = values(1000);
  const long = parallel({ client: c, scatter: [d], batchSize: 1 }, [1, 2, 3, 4].map((k) => delayed(slowPick)(k, d)));
  const short = await withTimeout(parallel({ client: c, scatter: [d] }, [5].map((k) => delayed(pick)(k, d))), 60_000, "the short run");
  assert.equal(short, [1005]);
  assert.is(await held(), base + 2, "the long run still holds it");
  assert.equal(await withTimeout(long, 60_000, "the long run"), [1001, 1002, 1003, 1004]);
  await waitFor(async () => (await held()) === base + 1, { timeoutMs: 10_000, label: "released after the last run" });
  c.release(rb);
  await waitFor(async () => (await held()) === base, { timeoutMs: 10_000, label: "the user's value released" });
});

test("a run that fails, or is left early, lets its scattered values go too", async () => {
  const c = client!;
  const held = async () => (await c.info()).retained!.dataValues;
  const base = await held();
  const a = Float64Array.from({ length: 50_000 }, (_, i) => i);
  const boom = (k: number, d: Float64Array) => {
    if (k === 3) throw new Error("no");
    return d[k]!;
  };
  try {
    await withTimeout(parallel({ client: c, scatter: [a], batchSize: 1 }, [1, 2, 3, 4].map((k) => delayed(boom)(k, a))), 60_000, "the failing run");
    assert.unreachable("the run should fail");
  } catch (e) {
    assert.match((e as Error).message, "no");
  }
  await waitFor(async () => (await held()) === base, { timeoutMs: 10_000, label: "the failed run's value released" });
  const b = Float64Array.from({ length: 50_000 }, (_, i) => 2 * i);
  const seen: number[] = [];
  for await (const v of parallelStream({ client: c, scatter: [b], batchSize: 1 }, [1, 2, 3, 4, 5, 6].map((k) => delayed((i: number, d: Float64Array) => d[i]!)(k, b)))) {
    seen.push(v as number);
    break;
  }
  assert.is(seen.length, 1);
  await waitFor(async () => (await held()) === base, { timeoutMs: 10_000, label: "the abandoned run's value released" });
});

test.run();
