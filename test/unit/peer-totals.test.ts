/** The scheduler's totals of counts its peers report (late replies): increases add up, a gone peer's stay. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { PeerTotals } from "../../actors/scheduler/observation/peer-totals.ts";

test("increases of each peer's running count add up; a peer that left keeps its share; junk is ignored", () => {
  const t = new PeerTotals();
  t.report("a", 0);
  assert.is(t.size, 0, "a peer with nothing to say holds no entry");
  t.report("a", 2);
  t.report("b", 3);
  t.report("a", 2); // the same count again (every renewal repeats it)
  t.report("a", 5);
  assert.is(t.total, 8);
  t.forget("a");
  assert.is(t.size, 1);
  assert.is(t.total, 8, "what a gone peer counted stays in the total");
  for (const junk of [-1, Number.NaN, Infinity, "7", undefined, null]) t.report("b", junk);
  t.report("b", 1); // a count going down (a restarted process) adds nothing
  assert.is(t.total, 8);
});

test.run();
