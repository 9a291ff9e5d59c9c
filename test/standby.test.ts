/** A worker keeps one executor process started ahead of need; a killed executor's replacement is that process. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Client, LocalCluster } from "../index.ts";
import { EventWatcher } from "./helpers/cli.ts";
import { withTimeout } from "./helpers/cluster.ts";

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test("kill -9 of an executor: the standby takes its name and runs tasks; a new standby is started; stop ends it", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "ts-dask-standby-"));
  const lc = await withTimeout(LocalCluster.start({ nprocs: 2, name: "sb", localDirectory: dir }), 60_000, "cluster start");
  const watch = await EventWatcher.start(lc.url, lc.cluster);
  const client = await Client.connect(lc.url, { cluster: lc.cluster });
  let standby2 = 0;
  try {
    const standby = await withTimeout(lc.worker.standbyReady(), 30_000, "a standby");
    const before = await client.run(() => process.pid);
    assert.not.ok(Object.values(before).includes(standby), "the standby runs no executor yet");
    const joinedBefore = watch.events.filter((e) => e.type === "executor-joined" && e.name === "sb-1").length;
    process.kill(before["sb-1"]!, "SIGKILL");
    await watch.until((e) => e.type === "executor-joined" && e.name === "sb-1", joinedBefore + 1, 30_000);
    const after = await client.runOn(["sb-1"], () => process.pid);
    assert.is(after["sb-1"], standby, "the replacement is the standby process");
    const out = await withTimeout(client.gather(client.map((x: number) => x + 1, Array.from({ length: 100 }, (_, i) => i))), 30_000, "map after the replacement");
    assert.is(out[99], 100);
    standby2 = await withTimeout(lc.worker.standbyReady(), 30_000, "the next standby");
    assert.is.not(standby2, standby, "a new standby was started");
  } finally {
    await client.close();
    await watch.close();
    await lc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  // stop() kills the standby too: nothing of the cluster outlives it in this process's tree.
  await withTimeout(
    (async () => {
      while (alive(standby2)) await new Promise((r) => setImmediate(r));
    })(),
    10_000,
    "the standby to exit",
  );
});

test.run();
