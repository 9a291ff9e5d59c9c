/**
 * Issue 15, worker resources (as Dask's): `ts-dask worker --resources GPU=1` and
 * `map(…, { resources: { GPU: 1 } })` / `client.with({ resources })`. Real processes: nats-server,
 * `ts-dask scheduler`, `ts-dask worker`s, `ts-dask info`.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Client, TsDaskError } from "../index.ts";
import { delayed, parallel } from "../workloads/index.ts";
import { cli, EventWatcher, stopAllCli } from "./helpers/cli.ts";
import { cleanup, runExample, startTestNats, waitFor, withTimeout } from "./helpers/cluster.ts";

test.after(async () => {
  await stopAllCli();
  await cleanup();
});

/** Sleeps `ms` (async: two run at once on a 2-thread executor) and says where and when it ran. */
const step = async (ms: number) => {
  const start = Date.now();
  await new Promise((r) => setTimeout(r, ms));
  return { name: JSON.parse(process.env.TSDASK_EXECUTOR!).name as string, start, end: Date.now() };
};
type Ran = Awaited<ReturnType<typeof step>>;
const overlaps = (rows: Ran[]) => rows.some((a, i) => rows.some((b, j) => i !== j && a.start < b.end && b.start < a.end));

test("a task runs only where its resources are free; a need no worker offers waits, is reported, and runs when such a worker joins", async () => {
  const { url } = await startTestNats();
  const watch = await EventWatcher.start(url, "res");
  const sched = cli(["scheduler", "--nats", url, "--cluster", "res", "--dashboard-address", "none"]);
  await sched.waitFor(/scheduler for cluster 'res'/);
  cli(["worker", url, "--cluster", "res", "--nprocs", "1", "--nthreads", "2", "--name", "gpu", "--resources", "GPU=1,MEM=8e9"]);
  cli(["worker", url, "--cluster", "res", "--nprocs", "1", "--nthreads", "2", "--name", "cpu"]);
  await watch.until((e) => e.type === "executor-joined", 2);
  const client = await Client.connect(url, { cluster: "res" });
  try {
    // Six GPU tasks: all on gpu-0 (cpu-0 offers none), one at a time (one GPU, though 2 threads).
    const gpu = await withTimeout(client.gather(client.map(step, new Array(6).fill(150), { resources: { GPU: 1 } })), 60_000, "GPU tasks");
    assert.equal([...new Set(gpu.map((r) => r.name))], ["gpu-0"]);
    assert.not.ok(overlaps(gpu), `GPU tasks ran at the same time: ${JSON.stringify(gpu)}`);
    // Half of MEM each: two at once fit.
    const mem = await withTimeout(client.gather(client.map(step, [400, 400], { resources: { MEM: 4e9 } })), 60_000, "MEM tasks");
    assert.ok(overlaps(mem), `two tasks needing half the MEM each did not run together: ${JSON.stringify(mem)}`);
    // The same tasks without resources overlap (two threads per executor) and may run anywhere.
    const plain = await withTimeout(client.gather(client.map(step, new Array(8).fill(150))), 60_000, "plain tasks");
    assert.ok(overlaps(plain), "plain tasks never overlapped");
    // Bad amounts or names are refused before anything is sent.
    assert.throws(() => client.map(step, [1], { resources: { GPU: -1 } }), /resources/);
    assert.throws(() => client.with({ resources: { "no spaces": 1 } }), /resources/);
    // submit through client.with: same rule.
    assert.equal((await withTimeout(client.with({ resources: { GPU: 1 } }).submit(step, 10).result(), 30_000, "submit")).name, "gpu-0");
    // The workloads (parallel, best, gridSearchCV) on the cluster: every batch holds them.
    const where = (x: number) => [x, JSON.parse(process.env.TSDASK_EXECUTOR!).name as string] as const;
    const batches = await withTimeout(parallel({ client, resources: { GPU: 1 }, batchSize: 2 }, [1, 2, 3, 4, 5, 6].map((x) => delayed(where)(x))), 60_000, "parallel with resources");
    assert.equal(batches.map((r) => r[0]), [1, 2, 3, 4, 5, 6]);
    assert.equal([...new Set(batches.map((r) => r[1]))], ["gpu-0"], "every batch on the GPU worker");

    // No worker offers TPU: the task waits, the info shows it and the resources.
    const tpu = client.map(step, [10], { resources: { TPU: 1 } });
    await client.flush();
    const info = await client.info();
    assert.equal(info.tasks.needingResources, 1);
    assert.equal(info.workers.find((w) => w.name === "gpu")!.resources, { GPU: 1, MEM: 8e9 });
    const text = cli(["info", url, "--cluster", "res"]);
    await text.waitFor(/1 waiting for resources/);
    await text.waitFor(/GPU 1\/1, MEM 8e9\/8e9/);
    assert.equal(await text.exited, 0);
    // A worker that offers it joins: the task runs there.
    cli(["worker", url, "--cluster", "res", "--nprocs", "1", "--name", "tpu", "--resources", "TPU=2"]);
    assert.equal((await withTimeout(tpu[0]!.result(), 60_000, "the TPU task")).name, "tpu-0");
    await waitFor(async () => (await client.info()).tasks.needingResources === undefined, { timeoutMs: 10_000, label: "nothing waiting" });
  } finally {
    await client.close();
    await watch.close();
  }
});

test("backend \"local\" refuses resources with a named error instead of running every call at once here", async () => {
  const e = await parallel({ backend: "local", resources: { GPU: 1 } }, [delayed((x: number) => x)(1)]).then(
    () => undefined,
    (x: unknown) => x,
  );
  assert.instance(e, TsDaskError);
  assert.is((e as TsDaskError).code, "ResourcesNeedCluster");
  assert.match((e as TsDaskError).message, /resources = \{"GPU":1\} needs the cluster backend: backend "local"/);
});

test("a bad --resources flag is refused", async () => {
  const w = cli(["worker", "nats://127.0.0.1:1", "--resources", "GPU=lots"]);
  await w.waitFor(/--resources takes NAME=AMOUNT pairs/);
  assert.equal(await w.exited, 2);
});

test("examples/resources.ts", async () => {
  const out = await runExample("examples/resources.ts");
  assert.match(out, "GPU tasks overlapped: false");
  assert.match(out, "plain tasks overlapped: true");
  assert.match(out, "submit with resources: 5");
  assert.match(out, "waiting for resources: 1; GPU free/total: 1/1");
  assert.match(out, /ResourcesUnavailable: Tasks need resources TPU=1, which no worker of the cluster offers \(workers: local \(GPU=1\)\)/);
});

test.run();
