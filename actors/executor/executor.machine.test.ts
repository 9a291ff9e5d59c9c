import { test } from "uvu";
import * as assert from "uvu/assert";
import { createActor, SimulatedClock } from "xstate";
import { chained, executorLifeMachine, registered, runnerPaused, stopped } from "./executor.machine.ts";

function start(retryMs = 250) {
  const clock = new SimulatedClock();
  let asks = 0;
  const actor = createActor(executorLifeMachine.provide({ actions: { askScheduler: () => void asks++ } }), { clock, input: { retryMs } });
  actor.start();
  const snap = () => actor.getSnapshot();
  const reg = () => (snap().value as { live?: { registration?: string } }).live?.registration;
  return { actor, clock, snap, reg, asks: () => asks };
}

function live() {
  const e = start();
  e.actor.send({ type: "REGISTER" });
  e.actor.send({ type: "ANSWERED" });
  return e;
}

test("idle until REGISTER; one attempt at a time; ANSWERED → registered (batches accepted)", () => {
  const { actor, snap, reg, asks } = start();
  assert.equal(snap().value, { live: { registration: "idle", mode: "serving", memory: "ok", arrival: "direct" } });
  assert.equal(asks(), 0);
  assert.not.ok(registered(snap()));
  actor.send({ type: "REGISTER" });
  actor.send({ type: "REGISTER" }); // a new scheduler's beat meanwhile: the attempt under way stands
  assert.equal(reg(), "asking");
  assert.equal(asks(), 1);
  actor.send({ type: "ANSWERED" });
  assert.ok(registered(snap()));
});

test("no answer: asks again after retryMs (simulated clock), not before", () => {
  const { actor, clock, reg, asks } = start();
  actor.send({ type: "REGISTER" });
  actor.send({ type: "NO_ANSWER" });
  assert.equal(reg(), "waiting");
  clock.increment(249);
  assert.equal(asks(), 1);
  clock.increment(1);
  assert.equal(reg(), "asking");
  assert.equal(asks(), 2);
  actor.send({ type: "NO_ANSWER" });
  actor.send({ type: "REGISTER" }); // asked again meanwhile: at once
  assert.equal(asks(), 3);
  clock.increment(250); // the old retry timer went with the waiting state
  assert.equal(asks(), 3);
});

test("registered: REGISTER (a new scheduler) asks again and holds batches until ANSWERED", () => {
  const { actor, snap, asks } = live();
  actor.send({ type: "REGISTER" });
  assert.not.ok(registered(snap()));
  assert.equal(asks(), 2);
  actor.send({ type: "ANSWERED" });
  assert.ok(registered(snap()));
});

test("REFUSED keeps the message and asks no more", () => {
  const { actor, clock, snap, reg, asks } = start();
  actor.send({ type: "REGISTER" });
  actor.send({ type: "REFUSED", message: "protocol 2 ≠ 1" });
  assert.equal(reg(), "refused");
  assert.equal(snap().context.refusal, "protocol 2 ≠ 1");
  actor.send({ type: "REGISTER" });
  clock.increment(10_000);
  assert.equal(asks(), 1);
});

test("memory pause: PAUSE/RESUME toggle runnerPaused", () => {
  const { actor, snap } = live();
  assert.not.ok(runnerPaused(snap()));
  actor.send({ type: "PAUSE" });
  assert.ok(runnerPaused(snap()));
  actor.send({ type: "RESUME" });
  assert.not.ok(runnerPaused(snap()));
});

test("a RESUME while retiring does not start tasks again (runnerPaused stays)", () => {
  const { actor, snap } = live();
  actor.send({ type: "PAUSE" });
  actor.send({ type: "RETIRE" });
  actor.send({ type: "RESUME" });
  assert.equal(snap().matches({ live: { mode: "retiring", memory: "ok" } }), true);
  assert.ok(runnerPaused(snap()));
});

test("RECYCLE only from serving: a second recycle or one while retiring is refused", () => {
  const a = live();
  assert.ok(a.snap().can({ type: "RECYCLE" }));
  a.actor.send({ type: "RECYCLE" });
  assert.ok(runnerPaused(a.snap()));
  assert.not.ok(a.snap().can({ type: "RECYCLE" }));
  a.actor.send({ type: "RETIRE" }); // recycle retires itself: stays recycling
  assert.ok(a.snap().matches({ live: { mode: "recycling" } }));
  const b = live();
  b.actor.send({ type: "RETIRE" });
  assert.not.ok(b.snap().can({ type: "RECYCLE" }));
});

test("the chain counts batches: direct again only when the last one left", () => {
  const { actor, snap } = live();
  actor.send({ type: "CHAIN" });
  actor.send({ type: "CHAIN" });
  actor.send({ type: "CHAIN" });
  assert.ok(chained(snap()));
  assert.equal(snap().context.chained, 3);
  actor.send({ type: "UNCHAIN" });
  actor.send({ type: "UNCHAIN" });
  assert.ok(chained(snap()));
  actor.send({ type: "UNCHAIN" });
  assert.not.ok(chained(snap()));
  assert.equal(snap().context.chained, 0);
});

test("STOP from any state: final, paused, nothing accepted, a pending retry never fires", () => {
  const { actor, clock, snap, asks } = start();
  actor.send({ type: "REGISTER" });
  actor.send({ type: "NO_ANSWER" });
  actor.send({ type: "STOP" });
  assert.ok(stopped(snap()));
  assert.ok(runnerPaused(snap()));
  assert.not.ok(registered(snap()));
  clock.increment(1000);
  actor.send({ type: "ANSWERED" });
  assert.equal(asks(), 1);
  assert.equal(snap().value, "stopped");
});

test("retryMs 0 or Infinity: asks again at once (it must retry)", () => {
  for (const ms of [0, Infinity]) {
    const { actor, clock, asks } = start(ms);
    actor.send({ type: "REGISTER" });
    actor.send({ type: "NO_ANSWER" });
    clock.increment(0);
    assert.equal(asks(), 2, `retryMs ${ms}`);
  }
});

test.run();
