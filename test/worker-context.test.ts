/** getWorker(): a task learns which executor runs it; outside a task it says so. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Client, getWorker, parallel, delayed } from "../index.ts";
import { withTimeout } from "./helpers/cluster.ts";

test("inside a task getWorker() names its executor, worker and local directory", async () => {
  const client = await withTimeout(Client.connect(undefined, { local: { nprocs: 2 } }), 60_000, "embedded start");
  try {
    const whoami = async () => {
      const w = (await import("ts-dask/worker")).getWorker();
      return [w.name, w.worker, w.cluster, w.localDirectory, w.pid === process.pid];
    };
    const info = await client.info();
    const names = info.workers.flatMap((w) => w.executors.map((e) => e.name));
    const out = await client.gather(client.map(whoami, [1, 2, 3, 4].map(() => undefined as never)));
    for (const [name, worker, cluster, dir, samePid] of out as [string, string, string, string, boolean][]) {
      assert.ok(names.includes(name), `${name} is one of ${names.join(", ")}`);
      assert.is(worker, info.workers[0]!.name);
      assert.is(cluster, client.cluster);
      assert.ok(dir.length > 0);
      assert.ok(samePid);
    }
  } finally {
    await client.close();
  }
});

test("in a local process pool getWorker() names the pool process", async () => {
  const names = await parallel({ nJobs: 2, backend: "local" }, [1, 2, 3].map((x) => delayed(async (y: number) => (await import("ts-dask/worker")).getWorker().name + ":" + y)(x)));
  for (const [i, n] of names.entries()) assert.match(n as string, new RegExp(`^local-\\d+:${i + 1}$`));
});

test("outside a task getWorker() throws NotInTask", () => {
  assert.throws(() => getWorker(), (e: Error & { code?: string }) => e.code === "NotInTask" && /only inside a task/.test(e.message));
});

test.run();
