/**
 * Partitions of the client's host and loss of the scheduler's host (issue 12, 4c and 4d), on the
 * LAN test bed: 400 tasks of 100 ms on `desk` and `laptop` for a client on `me`.
 * - `me` cut for 10 s mid-run: the run goes on; after the link returns the client reconnects
 *   (its lease outlives the cut) and receives every result, each once and right.
 * - the scheduler on `nats` killed (SIGKILL) mid-run and a new one started on `desk`: the workers
 *   and the client register with it and the run completes, every result once and right.
 * Prints the measured recovery times (`figure:` lines). Root on Linux only.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { withTimeout } from "../helpers/cluster.ts";
import { LanBed, lanOrSkip } from "./bed.ts";
import { clientDone as done, runStoryClient, startScheduler, startStory, type StoryCluster } from "./cluster.ts";

const N = 400;
const TASK_MS = 100;

const runClient = (bed: LanBed, c: StoryCluster) => runStoryClient(bed, c, N, TASK_MS);

if (lanOrSkip("test/lan/partition-cluster.test.ts")) {
  let bed: LanBed | undefined;
  test.after(async () => {
    await bed?.destroy();
  });

  test("4c: the client's host cut for 10 s: the run goes on, the client gets every result once after it reconnects", async () => {
    bed = LanBed.create(["nats", "desk", "laptop", "me"]);
    const c = await withTimeout(startStory(bed, { firewalls: true }), 90_000, "the cluster to start");
    const client = runClient(bed, c);
    await client.waitFor(/@@progress 100\b/, 90_000);
    const cutAt = Date.now();
    bed.cut("me");
    // The cut's length is the test's input: a timer, not a wait for a condition.
    await new Promise((r) => setTimeout(r, 10_000));
    bed.restore("me");
    const restoredAt = Date.now();
    const result = await done(client);
    const recoveredMs = Date.now() - restoredAt;
    assert.is(result.n, N);
    assert.is(result.wrong, 0);
    assert.not.match(c.scheduler.output(), /lost its lease|client \S+ (closed|expired)/, "the client kept its lease");
    console.log(`figure: 4c all results ${recoveredMs} ms after the link returned (cut ${restoredAt - cutAt} ms); run ${result.ms} ms, longest gap ${result.maxGapMs} ms; duplicates dropped ${result.duplicates}`);
  });

  test("4d: the scheduler's host loses its scheduler (kill -9) and a new one starts on desk: the run completes", async () => {
    await bed?.destroy();
    bed = LanBed.create(["nats", "desk", "laptop", "me"]);
    const c = await withTimeout(startStory(bed, { firewalls: true }), 90_000, "the cluster to start");
    const client = runClient(bed, c);
    await client.waitFor(/@@progress 100\b/, 90_000);
    const killedAt = Date.now();
    c.scheduler.proc.kill("SIGKILL");
    await withTimeout(c.scheduler.exited, 10_000, "the scheduler to die");
    const second = await startScheduler(bed, "desk", c.url, c.cluster);
    const startedMs = Date.now() - killedAt;
    await Promise.all(["desk", "laptop"].map((h) => second.waitFor(new RegExp(`worker ${h} joined from ${h} `), 60_000)));
    const rejoinedMs = Date.now() - killedAt;
    const result = await done(client);
    assert.is(result.n, N);
    assert.is(result.wrong, 0);
    console.log(`figure: 4d new scheduler up ${startedMs} ms after the kill, both workers registered ${rejoinedMs} ms after; run ${result.ms} ms, longest gap ${result.maxGapMs} ms; duplicates dropped ${result.duplicates}`);
  });
}

test.run();
