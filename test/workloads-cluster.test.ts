/** The workloads suite on backend "cluster" (a private ts-dask cluster: nats-server, scheduler, 2 executors), and what only the cluster has. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Client } from "../index.ts";
import { delayed, parallel, type EngineStats } from "../workloads/index.ts";
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

test.run();
