/**
 * Partitions of a worker host (issue 12, 4a and 4b), on the LAN test bed: 400 tasks of 100 ms run
 * on `desk` and `laptop` (2 executors each) for a client on `me`.
 * - `laptop` cut for 10 s mid-run: its tasks re-run on `desk` once the scheduler notices the silence;
 *   when the link returns the worker registers again under its name; every future resolves once
 *   with the right value (results computed while cut are dropped, never delivered twice).
 * - `laptop` cut for longer than its `--death-timeout`: the worker exits non-zero, the run
 *   completes on `desk`.
 * Prints the measured detection and recovery times (`figure:` lines). Root on Linux only.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { withTimeout } from "../helpers/cluster.ts";
import { LanBed, lanOrSkip } from "./bed.ts";
import { clientDone as done, runStoryClient, startStory, type StoryCluster } from "./cluster.ts";

const N = 400;
const TASK_MS = 100;

const runClient = (bed: LanBed, c: StoryCluster) => runStoryClient(bed, c, N, TASK_MS);

if (lanOrSkip("test/lan/partition-worker.test.ts")) {
  let bed: LanBed | undefined;
  test.after(async () => {
    await bed?.destroy();
  });

  test("4a: laptop cut for 10 s mid-run: its tasks re-run on desk, it rejoins under its name, every result once and right", async () => {
    bed = LanBed.create(["nats", "desk", "laptop", "me"]);
    const c = await withTimeout(startStory(bed, { firewalls: true }), 90_000, "the cluster to start");
    const client = runClient(bed, c);
    await client.waitFor(/@@progress 100\b/, 90_000);
    const joinsBefore = c.scheduler.output().match(/worker laptop joined/g)!.length;
    const cutAt = Date.now();
    bed.cut("laptop");
    await c.scheduler.waitFor(/executor laptop-\d .*no heartbeat/, 30_000);
    const detectedMs = Date.now() - cutAt;
    // The link comes back after 10 s (a timer, not a wait for a condition: the cut's length is the test's input).
    await new Promise((r) => setTimeout(r, 10_000 - (Date.now() - cutAt)));
    bed.restore("laptop");
    const restoredAt = Date.now();
    const result = await done(client);
    assert.is(result.n, N);
    assert.is(result.wrong, 0, "every future resolved with its own value");
    // Registered again under its name (the scheduler logs a second join of `laptop`).
    await c.workers.get("laptop")!.waitFor(/registered again with the scheduler/, 60_000);
    await c.scheduler.waitFor(new RegExp(`(worker laptop joined[\\s\\S]*){${joinsBefore + 1}}`), 30_000);
    const rejoinedMs = Date.now() - restoredAt;
    assert.is(c.workers.get("laptop")!.proc.exitCode, null, "the laptop's worker is still running");
    console.log(`figure: 4a detection ${detectedMs} ms after the cut; run ${result.ms} ms, longest gap between results ${result.maxGapMs} ms; duplicates dropped ${result.duplicates}; rejoined ≤ ${rejoinedMs} ms after the link returned`);
    await bed.destroy();
    bed = undefined;
  });

  test("4b: laptop cut for longer than its --death-timeout: the worker exits non-zero, the run completes on desk", async () => {
    await bed?.destroy();
    bed = LanBed.create(["nats", "desk", "laptop", "me"]);
    const c = await withTimeout(startStory(bed, { firewalls: true, deathTimeoutS: 5 }), 90_000, "the cluster to start");
    const client = runClient(bed, c);
    await client.waitFor(/@@progress 100\b/, 90_000);
    const cutAt = Date.now();
    bed.cut("laptop");
    const laptop = c.workers.get("laptop")!;
    const exit = await withTimeout(laptop.exited, 60_000, "the laptop's worker to give up");
    const exitedMs = Date.now() - cutAt;
    assert.ok(exit.code !== 0 && exit.code !== null, `exit code ${exit.code} (${exit.signal}):\n${laptop.output()}`);
    assert.match(laptop.output(), /--death-timeout/);
    const result = await done(client);
    assert.is(result.n, N);
    assert.is(result.wrong, 0);
    console.log(`figure: 4b laptop worker exited with code ${exit.code} ${exitedMs} ms after the cut (death-timeout 5 s); run ${result.ms} ms`);
  });
}

test.run();
