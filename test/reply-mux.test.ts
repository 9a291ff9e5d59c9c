/**
 * Replies to requests share one wildcard inbox subscription per connection (runtime/reply-mux.ts),
 * counted at a real nats-server's doorstep: the client's SUB/UNSUB lines pass through a proxy that
 * counts them (test/helpers/lossy-proxy.ts). Timeouts, "no responders" and a close while waiting
 * are the errors table's named errors; a reply after its request gave up is dropped and counted.
 * And a submit encodes its arguments once (client/client-tasks.ts → client/submitter.ts).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect, type Msg } from "nats";
import { silentLogger } from "../runtime/actor.ts";
import { decode, encode } from "../runtime/codec.ts";
import { Transport } from "../runtime/transport.ts";
import { Client, startScheduler, startWorker } from "../index.ts";
import { cleanup, onCleanup, startTestNats, withTimeout } from "./helpers/cluster.ts";
import { startLossyProxy } from "./helpers/lossy-proxy.ts";

test.after(cleanup);

/** A nats-server, a proxy in front of it counting what its clients send, and a responder beside it. */
async function setup() {
  const nats = await startTestNats();
  const proxy = await startLossyProxy(nats.url, () => false);
  onCleanup(() => proxy.close());
  const responder = await connect({ servers: nats.url });
  onCleanup(() => responder.close());
  return { nats, proxy, responder };
}

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => "resolved",
    (e: { code?: string }) => e.code,
  );

test("200 requests over NATS: one wildcard inbox SUB, no UNSUB, every answer to its own request", async () => {
  const { proxy, responder } = await setup();
  responder.subscribe("echo", { callback: (_e, m) => m.respond(encode({ echo: decode<{ n: number }>(m.data).n })) });
  // A stranger answers first with a wrong answer; requestWhere waits for the one it accepts.
  responder.subscribe("picky", { callback: (_e, m) => (m.respond(encode({ from: "stranger" })), m.respond(encode({ from: "ours" }))) });
  await responder.flush();
  const tx = await Transport.connect({ servers: proxy.url, name: "mux test" });
  onCleanup(() => tx.close());
  for (let n = 0; n < 100; n++) assert.equal(await withTimeout(tx.request<{ echo: number }>("echo", { n }, 5000), 10_000, "an echo"), { echo: n });
  const many = await withTimeout(Promise.all(Array.from({ length: 100 }, (_, n) => tx.request<{ echo: number }>("echo", { n }, 5000))), 10_000, "100 at once");
  assert.equal(many.map((r) => r.echo), Array.from({ length: 100 }, (_, n) => n));
  const picked = await withTimeout(tx.requestWhere<{ from: string }>("picky", {}, 5000, (r) => r.from === "ours"), 10_000, "picky");
  assert.is(picked.from, "ours");
  await tx.flush();
  assert.is(proxy.clientOps.SUB, 1, `one SUB for 201 requests (saw ${proxy.subscribed.join(", ")})`);
  assert.ok(proxy.subscribed[0]!.endsWith(".*"), "the wildcard inbox");
  assert.is(proxy.clientOps.UNSUB ?? 0, 0, "no UNSUB");
  assert.is(tx.requests.pending, 0);
  assert.is(tx.requests.inboxSubscriptions, 1);
});

test("no responders, a timeout and a close while waiting are named errors; a reply after its timeout is dropped and counted", async () => {
  const { proxy, responder } = await setup();
  const held: Msg[] = [];
  responder.subscribe("hold", { callback: (_e, m) => held.push(m) });
  responder.subscribe("echo", { callback: (_e, m) => m.respond(m.data) });
  await responder.flush();
  const tx = await Transport.connect({ servers: proxy.url, name: "mux errors test" });

  assert.is(await withTimeout(codeOf(tx.request("nobody.here", {}, 10_000)), 5000, "no responders"), "NoResponders");
  assert.is(await withTimeout(codeOf(tx.request("hold", {}, 200)), 5000, "a timeout"), "NoReply");
  assert.ok(Transport.isNoAnswer(Object.assign(new Error(), { code: "NoReply" })));
  // The held request is answered now, too late: dropped and counted. An echo after it on the same
  // subscription arrives after it (one publisher, one subscription: in order).
  held.shift()!.respond(encode({ late: true }));
  assert.equal(await withTimeout(tx.request("echo", { n: 1 }, 5000), 5000, "an echo"), { n: 1 });
  assert.is(tx.requests.lateReplies, 1, "the late reply was dropped and counted");

  // A close while a request waits (60 s timeout): rejected at once, nothing left waiting.
  const waiting = codeOf(tx.request("hold", {}, 60_000));
  await tx.flush();
  assert.is(tx.requests.pending, 1);
  await tx.close();
  assert.is(await withTimeout(waiting, 5000, "the waiting request to end at close"), "RequestClosed");
  assert.is(tx.requests.pending, 0);
  assert.is(await withTimeout(codeOf(tx.request("echo", {}, 60_000)), 5000, "a request after close"), "RequestClosed");
  assert.is(proxy.clientOps.UNSUB ?? 0, 1, "the wildcard's own UNSUB, at close");
});

test("a client in another process's place (over NATS): lone submits make no SUB or UNSUB, and encode their arguments once", async () => {
  const { nats, proxy } = await setup();
  const sched = await startScheduler({ servers: nats.url, cluster: "mux", log: silentLogger });
  onCleanup(() => sched.stop());
  const w = await withTimeout(startWorker({ servers: nats.url, cluster: "mux", name: "w", nprocs: 1, log: silentLogger }), 60_000, "worker start");
  onCleanup(() => w.stop());
  const client = await withTimeout(Client.connect(proxy.url, { cluster: "mux" }), 30_000, "client");
  onCleanup(() => client.close());
  const inc = (x: number) => x + 1;
  assert.is(await withTimeout(client.submit(inc, 0).result(), 30_000, "warm-up"), 1);

  const subs = proxy.clientOps.SUB ?? 0;
  const unsubs = proxy.clientOps.UNSUB ?? 0;
  for (let i = 0; i < 30; i++) assert.is(await withTimeout(client.submit(inc, i).result(), 10_000, `submit ${i}`), i + 1);
  assert.is((proxy.clientOps.SUB ?? 0) - subs, 0, `no SUB for 30 submits (saw ${proxy.subscribed.slice(-3).join(", ")})`);
  assert.is((proxy.clientOps.UNSUB ?? 0) - unsubs, 0, "no UNSUB for 30 submits");

  // Encoded once: msgpack reads each property of an argument once per encoding.
  let reads = 0;
  const arg = {
    get x() {
      reads++;
      if (process.env.TRACE_READS) ((Error.stackTraceLimit = 60), console.log(new Error("read").stack));
      return 41;
    },
  };
  assert.is(await withTimeout(client.submit((o: { x: number }) => o.x + 1, arg).result(), 10_000, "the getter's task"), 42);
  assert.is(reads, 1, "the argument was encoded once");
});

test.run();
