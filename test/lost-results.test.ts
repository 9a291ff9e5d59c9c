/**
 * Results lost on the way (client/lost-results.ts): NATS delivers at most once, and a dropped
 * results message leaves no trace on the client's connection. Here the client's link to a real
 * nats-server drops the first results message (test/helpers/lossy-proxy.ts), as a route between
 * NATS nodes that fell behind would; the client notices from its lease renewals that the scheduler holds
 * fewer of its tasks than it waits for, re-submits them, and every future resolves once.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { silentLogger } from "../runtime/actor.ts";
import { subjects } from "../runtime/protocol.ts";
import { Client, startScheduler, startWorker } from "../index.ts";
import { cleanup, onCleanup, startTestNats, withTimeout } from "./helpers/cluster.ts";
import { startLossyProxy } from "./helpers/lossy-proxy.ts";

test.after(cleanup);

test("a results message the executor sent but the client never got: the tasks are re-submitted and every future resolves once", async () => {
  const nats = await startTestNats();
  const resultsPrefix = subjects("lost").results("");
  // The client's link drops the first results message (a batch of one or more rows).
  let armed = true;
  const proxy = await startLossyProxy(nats.url, (subject) => {
    if (!armed || !subject.startsWith(resultsPrefix)) return false;
    armed = false;
    return true;
  });
  onCleanup(() => proxy.close());
  const sched = await startScheduler({ servers: nats.url, cluster: "lost", log: silentLogger });
  onCleanup(() => sched.stop());
  const w = await withTimeout(startWorker({ servers: nats.url, cluster: "lost", name: "w", nprocs: 1, log: silentLogger }), 60_000, "worker start");
  onCleanup(() => w.stop());
  const client = await withTimeout(Client.connect(proxy.url, { cluster: "lost" }), 30_000, "client");
  onCleanup(() => client.close());

  const xs = Array.from({ length: 20 }, (_, i) => i);
  const out = await withTimeout(client.gather(client.map((x: number) => x * 10, xs)), 30_000, "every result, the lost ones re-run");
  assert.equal(out, xs.map((x) => x * 10));
  assert.is(proxy.dropped.length, 1, "exactly one results message was dropped");
  assert.ok(client.resubmitted > 0, "the waiting tasks were re-submitted");
  // Counted per result row received: each future settled once, any row that ran twice was dropped as a duplicate.
  assert.is(client.resolved, xs.length, "each future resolved once");
  assert.is(client.received, client.resolved + client.duplicates);
});

test.run();
