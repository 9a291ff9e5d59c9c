/** actor.machine.ts (a user actor's lifecycle, issue 14) with simulated time. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createActor, SimulatedClock } from "xstate";
import { actorMachine, type ActorLifeInput } from "./actor.machine.ts";

function start(input: ActorLifeInput) {
  const clock = new SimulatedClock();
  const log: string[] = [];
  const actor = createActor(
    actorMachine.provide({
      actions: {
        place: ({ context }) => void log.push(`place inc=${context.inc}`),
        announce: ({ context }, params) => void log.push(`${params.state} inc=${context.inc}${context.reason ? ` (${context.reason})` : ""}`),
      },
    }),
    { clock, input },
  );
  actor.start();
  const state = () => {
    const v = actor.getSnapshot().value;
    return typeof v === "string" ? v : JSON.stringify(v);
  };
  return { actor, clock, log, state, ctx: () => actor.getSnapshot().context };
}

test("placing → running; no executor: waits retryMs and places again", () => {
  const { actor, clock, log, state } = start({ restartMax: 0, retryMs: 100, placeTimeoutMs: 1000 });
  assert.is(state(), '{"placing":"trying"}');
  assert.equal(log, ["place inc=1"]);
  actor.send({ type: "RETRY" });
  assert.is(state(), '{"placing":"waiting"}');
  clock.increment(99);
  assert.equal(log, ["place inc=1"]);
  clock.increment(1);
  assert.equal(log, ["place inc=1", "place inc=1"]);
  actor.send({ type: "PLACED", exec: "e1" });
  assert.is(state(), "running");
  assert.is(actor.getSnapshot().context.exec, "e1");
  assert.equal(log.slice(2), ["running inc=1"]);
});

test("placing gives up after placeTimeoutMs (retries included): lost", () => {
  const { actor, clock, log, state } = start({ restartMax: 3, retryMs: 100, placeTimeoutMs: 1000 });
  for (let i = 0; i < 9; i++) {
    actor.send({ type: "RETRY" });
    clock.increment(100);
  }
  assert.is(state(), '{"placing":"trying"}');
  clock.increment(100);
  assert.is(state(), "lost");
  assert.is(actor.getSnapshot().status, "done");
  assert.match(log[log.length - 1]!, "lost inc=1 (no executor took it within 1000 ms)");
});

test("a constructor that throws: FAILED → lost at once (no retry)", () => {
  const { actor, state } = start({ restartMax: 3 });
  actor.send({ type: "FAILED", reason: "Error: no model file" });
  assert.is(state(), "lost");
  assert.is(actor.getSnapshot().context.reason, "Error: no model file");
});

test("host lost with restarts left: restarting (inc + 1) → placed elsewhere → running; then no restarts left → lost", () => {
  const { actor, log, state, ctx } = start({ restartMax: 1 });
  actor.send({ type: "PLACED", exec: "e1" });
  actor.send({ type: "HOST_LOST", exec: "e2", reason: "another executor died" });
  assert.is(state(), "running", "not its host: nothing changes");
  actor.send({ type: "HOST_LOST", exec: "e1", reason: "its executor e1 was killed" });
  assert.is(state(), '{"restarting":"trying"}');
  assert.equal(ctx().restarts, 1);
  assert.equal(ctx().inc, 2);
  assert.equal(ctx().exec, "");
  assert.equal(log.slice(-2), ["restarting inc=2 (its executor e1 was killed)", "place inc=2"]);
  actor.send({ type: "PLACED", exec: "e3" });
  assert.is(state(), "running");
  actor.send({ type: "HOST_LOST", exec: "e3", reason: "its executor e3 died" });
  assert.is(state(), "lost");
  assert.is(ctx().inc, 2);
  assert.match(log[log.length - 1]!, "lost inc=2 (its executor e3 died)");
});

test("restarting also gives up after placeTimeoutMs", () => {
  const { actor, clock, state } = start({ restartMax: 5, retryMs: 50, placeTimeoutMs: 500 });
  actor.send({ type: "PLACED", exec: "e1" });
  clock.increment(10_000); // running has no timer
  assert.is(state(), "running");
  actor.send({ type: "HOST_LOST", exec: "e1", reason: "gone" });
  actor.send({ type: "RETRY" });
  clock.increment(499);
  assert.is(state(), '{"restarting":"trying"}');
  clock.increment(1);
  assert.is(state(), "lost");
  assert.match(actor.getSnapshot().context.reason, "not re-created within 500 ms after: gone");
});

test("KILL from placing, running and restarting → killed (final)", () => {
  for (const path of [[], [{ type: "PLACED", exec: "e1" }], [{ type: "PLACED", exec: "e1" }, { type: "HOST_LOST", exec: "e1", reason: "x" }]] as const) {
    const { actor, state, log } = start({ restartMax: 1 });
    for (const e of path) actor.send(e);
    actor.send({ type: "KILL", reason: "killed by client c1" });
    assert.is(state(), "killed");
    assert.is(actor.getSnapshot().status, "done");
    assert.match(log[log.length - 1]!, "killed");
    assert.match(log[log.length - 1]!, "killed by client c1");
  }
});

test.run();
