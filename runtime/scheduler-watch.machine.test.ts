/**
 * Calm choice of scheduler (runtime/scheduler-watch.machine.ts and its handle scheduler-watch.ts),
 * on a simulated clock: events in, snapshots asserted.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createActor, SimulatedClock } from "xstate";
import { deadWindow, schedulerWatchMachine } from "./scheduler-watch.machine.ts";
import { SchedulerWatch } from "./scheduler-watch.ts";

function start(deadMs = 3000) {
  const clock = new SimulatedClock();
  const actor = createActor(schedulerWatchMachine, { clock, input: { deadMs } });
  actor.start();
  return { actor, clock, snap: () => actor.getSnapshot() };
}

test("unbound until the first ADOPT, which is not a move", () => {
  const { actor, snap } = start();
  assert.is(snap().value, "unbound");
  actor.send({ type: "ALIVE", instance: "A" });
  assert.is(snap().value, "unbound", "a beat alone follows nobody: only a registration answer does");
  actor.send({ type: "ADOPT", instance: "A" });
  assert.is(snap().value, "following");
  assert.equal(snap().context, { current: "A", deadMs: 3000, rivalBeats: 0, moves: 0 });
});

test("another instance's beats while ours beats are rivals: counted, nothing moves", () => {
  const { actor, clock, snap } = start();
  actor.send({ type: "ADOPT", instance: "A" });
  for (let i = 0; i < 30; i++) {
    clock.increment(500);
    actor.send({ type: "ALIVE", instance: "A" });
    actor.send({ type: "ALIVE", instance: i % 2 ? "X" : "Y" });
    assert.is(snap().value, "following");
  }
  assert.equal(snap().context, { current: "A", deadMs: 3000, rivalBeats: 30, moves: 0 });
});

test("ours silent for the dead window: silent; its next beat brings it back; ADOPT of another is one move", () => {
  const { actor, clock, snap } = start();
  actor.send({ type: "ADOPT", instance: "A" });
  clock.increment(2999);
  assert.is(snap().value, "following");
  actor.send({ type: "ALIVE", instance: "B" });
  assert.is(snap().context.rivalBeats, 1, "not silent long enough: B is a rival");
  clock.increment(2);
  assert.is(snap().value, "silent");
  actor.send({ type: "ALIVE", instance: "B" });
  assert.is(snap().value, "silent", "a new instance's beat moves nothing by itself");
  assert.is(snap().context.rivalBeats, 1, "nor is it a rival any more");
  actor.send({ type: "ALIVE", instance: "A" });
  assert.is(snap().value, "following", "ours is back");
  clock.increment(3001);
  actor.send({ type: "ADOPT", instance: "B" });
  assert.equal(snap().context, { current: "B", deadMs: 3000, rivalBeats: 1, moves: 1 });
  actor.send({ type: "ADOPT", instance: "B" });
  assert.is(snap().context.moves, 1, "the same answer again is not another move");
  actor.send({ type: "ALIVE", instance: "A" });
  assert.is(snap().context.rivalBeats, 2, "the old one coming back is now the rival");
});

test("the dead window follows the announced heartbeat (6 beats, at least 3 s) and restarts", () => {
  const { actor, clock, snap } = start();
  actor.send({ type: "ADOPT", instance: "A" });
  clock.increment(2000);
  actor.send({ type: "HEARTBEAT_MS", ms: 2000 });
  assert.is(snap().context.deadMs, 12_000);
  clock.increment(11_999);
  assert.is(snap().value, "following");
  clock.increment(2);
  assert.is(snap().value, "silent");
  actor.send({ type: "HEARTBEAT_MS", ms: Number.NaN });
  assert.is(snap().context.deadMs, 12_000, "a bad period changes nothing");
  assert.is(deadWindow(100, 3000), 3000);
  assert.is(deadWindow(0, 4000), 4000);
});

test("the handle's verdicts and acceptance (what clients, workers and executors ask)", () => {
  const clock = new SimulatedClock();
  const w = new SchedulerWatch(3000, clock);
  assert.ok(w.accepts("anything"), "before any registration every answer may be followed");
  assert.not.ok(w.accepts(undefined));
  assert.is(w.alive("A"), "new");
  assert.is(w.adopt("A"), false);
  assert.is(w.alive("A"), "same");
  assert.is(w.alive("X"), "rival");
  assert.not.ok(w.accepts("X"), "a rival's registration answer is not believed");
  assert.ok(w.accepts("A"));
  clock.increment(3001);
  assert.ok(w.silent());
  assert.is(w.alive("X"), "new");
  assert.ok(w.accepts("X"));
  assert.is(w.adopt("X"), true, "a move");
  assert.is(w.current, "X");
  assert.is(w.rivalBeats, 1);
  w.stop();
});

test("the handle notes ours' beats without waking the machine: one re-arm per window, silent one window after the last", () => {
  const clock = new SimulatedClock();
  const w = new SchedulerWatch(3000, clock);
  w.adopt("A");
  let steps = 0;
  w["life"].subscribe(() => steps++);
  for (let i = 0; i < 20; i++) {
    clock.increment(500);
    assert.is(w.alive("A"), "same");
  }
  assert.not.ok(w.silent(), "10 s of beats: still following");
  assert.ok(steps <= 4, `the machine stepped ${steps} times for 20 beats (one re-arm per 3 s window expected)`);
  assert.ok(steps >= 3, `the dead timer re-armed ${steps} times (the beats were heard)`);
  clock.increment(2999);
  assert.not.ok(w.silent(), "2999 ms after the last beat");
  clock.increment(1);
  assert.ok(w.silent(), "3000 ms after the last beat: silent, as when every beat restarted the timer");
  assert.is(w.alive("A"), "same");
  assert.not.ok(w.silent(), "its next beat brings it back (sent to the machine, which was silent)");
  clock.increment(3000);
  assert.ok(w.silent());
  w.stop();
});

test.run();
