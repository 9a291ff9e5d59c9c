import { test } from "uvu";
import * as assert from "uvu/assert";
import { createActor, SimulatedClock } from "xstate";
import { connectionMachine, type ConnectionContext, type ConnectionInput } from "./connection.machine.ts";

function start(input: ConnectionInput = {}) {
  const clock = new SimulatedClock();
  const calls: [string, string | null][] = [];
  const spy =
    (name: string) =>
    ({ context }: { context: ConnectionContext }) =>
      void calls.push([name, context.reason]);
  const actor = createActor(
    connectionMachine.provide({ actions: { resubmitPending: spy("resubmitPending"), failPending: spy("failPending") } }),
    { clock, input },
  );
  actor.start();
  const snap = () => actor.getSnapshot();
  return { actor, clock, calls, snap };
}

test("connecting → connected → reconnecting → connected (resubmitPending)", () => {
  const { actor, calls, snap } = start();
  assert.equal(snap().value, "connecting");
  actor.send({ type: "DISCONNECTED" }); // not connected yet: nothing to lose
  assert.equal(snap().value, "connecting");
  actor.send({ type: "CONNECTED" });
  assert.equal(snap().value, "connected");
  actor.send({ type: "DISCONNECTED" });
  assert.equal(snap().value, "reconnecting");
  assert.equal(calls, []);
  actor.send({ type: "RECONNECTED" });
  assert.equal(snap().value, "connected");
  assert.equal(calls, [["resubmitPending", null]]);
  assert.equal(snap().context.reconnects, 1);
  actor.send({ type: "DISCONNECTED" });
  actor.send({ type: "CONNECTED" }); // accepted as a reconnection too
  assert.equal(snap().value, "connected");
  assert.equal(snap().context.reconnects, 2);
});

test("CLOSE from every state → closed (failPending with the reason), final", () => {
  const paths: { type: "CONNECTED" | "DISCONNECTED" }[][] = [
    [],
    [{ type: "CONNECTED" }],
    [{ type: "CONNECTED" }, { type: "DISCONNECTED" }],
  ];
  for (const path of paths) {
    const { actor, calls, snap } = start();
    for (const e of path) actor.send(e);
    actor.send({ type: "CLOSE", reason: "client.close()" });
    assert.equal(snap().value, "closed");
    assert.equal(snap().status, "done");
    assert.equal(calls, [["failPending", "client.close()"]]);
    assert.equal(snap().output, { reason: "client.close()" });
    actor.send({ type: "CONNECTED" });
    assert.equal(snap().value, "closed");
  }
  const { actor, snap } = start();
  actor.send({ type: "CLOSE" });
  assert.equal(snap().context.reason, "closed");
});

test("reconnecting longer than giveUpAfterMs → closed with a reason", () => {
  const { actor, clock, calls, snap } = start({ giveUpAfterMs: 5000 });
  actor.send({ type: "CONNECTED" });
  clock.increment(60_000); // no timer while connected
  actor.send({ type: "DISCONNECTED" });
  clock.increment(4999);
  assert.equal(snap().value, "reconnecting");
  clock.increment(1);
  assert.equal(snap().value, "closed");
  assert.equal(calls, [["failPending", "gave up reconnecting after 5000 ms"]]);
});

test("the give-up timer restarts with each disconnection", () => {
  const { actor, clock, snap } = start({ giveUpAfterMs: 5000 });
  actor.send({ type: "CONNECTED" });
  actor.send({ type: "DISCONNECTED" });
  clock.increment(4000);
  actor.send({ type: "RECONNECTED" });
  actor.send({ type: "DISCONNECTED" });
  clock.increment(4000);
  assert.equal(snap().value, "reconnecting");
  clock.increment(1000);
  assert.equal(snap().value, "closed");
});

test("giveUpAfterMs also bounds the first connection", () => {
  const { clock, snap } = start({ giveUpAfterMs: 3000 });
  clock.increment(3000);
  assert.equal(snap().value, "closed");
  assert.equal(snap().context.reason, "could not connect within 3000 ms");
});

test("without giveUpAfterMs (or 0 / Infinity) it reconnects forever", () => {
  for (const input of [{}, { giveUpAfterMs: 0 }, { giveUpAfterMs: Infinity }]) {
    const { actor, clock, snap } = start(input);
    clock.increment(2 ** 31);
    assert.equal(snap().value, "connecting");
    actor.send({ type: "CONNECTED" });
    actor.send({ type: "DISCONNECTED" });
    clock.increment(2 ** 31);
    clock.increment(2 ** 31);
    assert.equal(snap().value, "reconnecting");
  }
});

test.run();
