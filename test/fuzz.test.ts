/**
 * A hostile peer on the shared NATS (issue 11; test/helpers/fuzzer.ts) during a run: garbage,
 * wrong shapes, replays and forgeries on every subject of runtime/protocol.ts, plus a fake
 * scheduler. Every future must resolve exactly once with the right value, no forged value may
 * be delivered, no executor may exit, replays must not multiply work, and the forgeries must be
 * counted. Seeded: replay a failure with FUZZ_SEED=<printed seed>. Longer runs: bench/fuzz-soak.ts.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fuzzRun } from "./helpers/fuzzer.ts";

const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
console.log(`fuzz seed: ${seed} (replay with FUZZ_SEED=${seed} node test/run.mjs fuzz)`);

test("garbage, replays and forgeries on every subject during a run: every future resolves once, correctly", async () => {
  const tasks = 1500;
  const out = await fuzzRun({ seed, durationMs: 6000, tasks, taskMs: 5 });
  console.log(`fuzz: ${JSON.stringify({ ...out, values: undefined, expected: undefined })}`);
  assert.ok(Object.values(out.sent).reduce((a, b) => a + b, 0) > 1000, "the peer did attack");
  assert.equal(out.values, out.expected, "every future has its right value (no forged value delivered)");
  assert.is(out.resolved, tasks, "each future was settled by exactly one result row");
  assert.ok(out.forged > 0, "the client counted the forged result rows it dropped");
  assert.is(out.resubmitted, 0, "the fake scheduler's beats and answers caused no re-submission");
  assert.is(out.stealAnswers, 0, "no stranger was handed tasks by a steal");
  assert.equal(out.pidsAfter, out.pidsBefore, "no executor exited or was restarted by a stranger");
  assert.equal(out.unhandled, [], "no unhandled rejection");
  assert.ok(out.trust && out.trust.scheduler > 0 && out.trust.executors > 0, "the scheduler and the executors counted what they dropped");
  assert.ok(out.trust!.rivals.length > 0, "the fake scheduler was noticed");
  // Replays of task batches and submits must not run tasks again; re-queues after doubts may
  // re-run a few (at-least-once), never a multiple of the work.
  assert.ok(out.executions <= tasks * 1.05, `executions ${out.executions} for ${tasks} tasks`);
});

test.run();
