/** Calm choice of scheduler (runtime/scheduler-watch.ts), on a simulated clock. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { SchedulerWatch } from "../../runtime/scheduler-watch.ts";

const at = () => {
  let now = 1000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
};

test("another instance's beats while ours beats are a rival: nothing moves", () => {
  const c = at();
  const w = new SchedulerWatch(3000, c.now);
  w.adopt("A");
  for (let i = 0; i < 30; i++) {
    c.advance(500);
    assert.is(w.alive("A"), "same");
    assert.is(w.alive(i % 2 ? "X" : "Y"), "rival");
    assert.not.ok(w.accepts("X"), "a rival's registration answer is not believed");
  }
  assert.is(w.rivalBeats, 30);
  assert.ok(w.accepts("A"));
});

test("after ours is silent for the dead window, a new instance may be followed, once", () => {
  const c = at();
  const w = new SchedulerWatch(3000, c.now);
  w.adopt("A");
  c.advance(2999);
  assert.is(w.alive("B"), "rival", "not silent long enough");
  c.advance(2);
  assert.is(w.alive("B"), "new");
  assert.ok(w.accepts("B"));
  assert.is(w.adopt("B"), true, "a move");
  assert.is(w.adopt("B"), false, "the same answer again is not another move");
  assert.is(w.alive("A"), "rival", "the old one coming back is now the rival");
});

test("before any registration every answer may be followed; the dead window follows the heartbeat", () => {
  const c = at();
  const w = new SchedulerWatch(3000, c.now);
  assert.ok(w.accepts("anything"));
  assert.not.ok(w.accepts(undefined));
  w.adopt("A");
  w.heartbeat(2000);
  assert.is(w.deadMs, 12_000);
  c.advance(5000);
  assert.is(w.alive("B"), "rival");
});

test.run();
