/** client/lost-results.ts: when a renewal's `held` says results were lost, and when it must not. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { LostResultsWatch } from "../../client/lost-results.ts";

test("the same shortfall at two renewals in a row, submits all acknowledged: lost", () => {
  const w = new LostResultsWatch();
  assert.is(w.observe(10, 4, true), false, "one renewal may race results still in the socket");
  assert.is(w.observe(10, 4, true), true);
  assert.is(w.observe(10, 4, true), false, "starts over after saying so");
});

test("no shortfall, progress between renewals, submits in flight, or a scheduler that does not say: not lost", () => {
  const w = new LostResultsWatch();
  assert.is(w.observe(10, 10, true), false);
  assert.is(w.observe(10, 10, true), false, "it holds everything we wait for");
  assert.is(w.observe(10, 4, true), false);
  assert.is(w.observe(9, 4, true), false, "a result arrived meanwhile");
  assert.is(w.observe(9, 4, false), false, "rows not yet acknowledged may not be counted in held");
  assert.is(w.observe(9, 4, true), false, "an unacknowledged submit in between starts the count over");
  assert.is(w.observe(9, undefined, true), false);
  assert.is(w.observe(9, 4, true), false);
  assert.is(w.observe(9, 3, true), false, "the scheduler finished one meanwhile (its result may be on its way)");
});

test.run();
