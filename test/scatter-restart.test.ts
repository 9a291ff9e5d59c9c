/**
 * Scattered values and uploads live in the scheduler's memory: when the scheduler is killed and a
 * new one starts, the client uploads what it still owns again, so tasks on fresh executors (which
 * never cached the value, and learn uploads from the scheduler) still get them.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Client } from "../index.ts";
import { startNatsServer, type NatsServer } from "../runtime/nats-server.ts";
import { cliCluster, stopAllCli } from "./helpers/cli.ts";
import { waitFor, withTimeout } from "./helpers/cluster.ts";

let nats: NatsServer | undefined;
const onExit: (() => void)[] = [];
test.after(async () => {
  for (const f of onExit) f();
  await stopAllCli();
  await nats?.stop();
});

test("after a scheduler restart the client uploads its scattered values and files again", async () => {
  nats = await startNatsServer();
  const url = nats.url;
  const { watch, restartScheduler } = await cliCluster(url, "rescatter");
  await watch.close();

  const client = await Client.connect(url, { cluster: "rescatter" });
  try {
    const table = new Float64Array(3_000_000).map((_, i) => i % 1000); // 24 MB: several chunks
    const ref = await client.scatter(table);
    const sum = (i: number, t: Float64Array) => t[i]! + t[i + 1]!;
    assert.is(await client.submit(sum, 1001, ref).result(), 3);
    const dir = mkdtempSync(join(tmpdir(), "tsdask-rescatter-"));
    onExit.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, "rescatter_helper.ts"), "export const triple = (x: number): number => 3 * x;\n");
    await client.uploadFile(join(dir, "rescatter_helper.ts"));
    // The name is an argument: TypeScript cannot know an upload's types.
    const useHelper = async (name: string, x: number) => ((await import(name)) as { triple(x: number): number }).triple(x);
    assert.is(await client.submit(useHelper, "rescatter_helper", 5).result(), 15);

    await restartScheduler();
    // The new scheduler's data store is empty until the client notices (its lease) and uploads.
    await waitFor(async () => (await client.info().catch(() => undefined))?.data.values === 2, { timeoutMs: 30_000, label: "the client to upload the value and the file again" });
    // Fresh executor processes: nothing cached, so the value must come from the new scheduler.
    await withTimeout(client.restart(), 60_000, "restart executors");
    assert.is(await withTimeout(client.submit(sum, 2998, ref).result(), 60_000, "task after the restart"), 998 + 999);
    // Heartbeats carry the counter: the fresh executor fetched it from the new scheduler.
    await waitFor(async () => (await client.info()).workers[0]?.executors[0]?.dataFetches === 1, { timeoutMs: 10_000, label: "the fresh executor to report one fetch" });
    assert.is((await client.info()).data.values, 2);
    assert.is(await withTimeout(client.submit(useHelper, "rescatter_helper", 7).result(), 60_000, "import the upload on a fresh executor"), 21);
  } finally {
    await client.close();
  }
});

test.run();
