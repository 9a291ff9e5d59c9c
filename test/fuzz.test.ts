/**
 * A hostile peer on the shared NATS (issue 11; test/helpers/fuzzer.ts) during a run: garbage,
 * wrong shapes, replays and forgeries on every route of runtime/routes.ts, plus a fake
 * scheduler. Every future must resolve exactly once with the right value, no forged value may
 * be delivered, no executor may exit, replays must not multiply work, and the forgeries must be
 * counted; no stranger's code may run (client.run / runOnScheduler forgeries), no stranger may read
 * stored data, and forged chunks pushed for a broadcast scatter must never become the value. Seeded: replay a failure with FUZZ_SEED=<printed seed>. Longer runs: bench/fuzz-soak.ts.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fuzzRun } from "./helpers/fuzzer.ts";

const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
console.log(`fuzz seed: ${seed} (replay with FUZZ_SEED=${seed} node test/run.mjs fuzz)`);

test("garbage, replays and forgeries on every subject during a run: every future resolves once, correctly", async () => {
  const tasks = 1500;
  const out = await fuzzRun({ seed, durationMs: 6000, minMessages: 2000, tasks, taskMs: 5 });
  console.log(`fuzz: ${JSON.stringify({ ...out, values: undefined, expected: undefined })}`);
  const wrong = out.values.map((v, i) => [i, v]).filter(([i, v]) => v !== out.expected[i as number]);
  if (wrong.length) console.log(`fuzz: ${wrong.length} wrong values, e.g. ${JSON.stringify(wrong.slice(0, 5))} (negative: the task saw a wrong scattered value)`);
  assert.ok(Object.values(out.sent).reduce((a, b) => a + b, 0) > 1000, "the peer did attack");
  assert.equal(out.values, out.expected, "every future has its right value (no forged value delivered)");
  assert.is(out.resolved, tasks, "each future was settled by exactly one result row");
  assert.ok(out.forged > 0, "the client counted the forged result rows it dropped");
  assert.is(out.resubmitted, 0, "the fake scheduler's beats and answers caused no re-submission");
  assert.is(out.stealAnswers, 0, "no stranger was handed tasks by a steal");
  assert.ok(out.sent["data.get"]! > 0, "the peer tried to read the scattered value");
  assert.is(out.dataAnswers, 0, "no stranger was given stored bytes by data.get");
  assert.is(out.evilRuns, 0, "no stranger's code ran on an executor (exec.<id>.run, sched.run with exec)");
  assert.is(out.evilSchedulerRuns, 0, "no stranger's code ran in the scheduler (sched.run)");
  // The scattered value every task checks arrived right everywhere despite the forged chunks
  // (the values assertion above), and forged pushes were caught, not stored.
  assert.ok(out.forgedChunks > 0, "the peer pushed forged chunks of the scattered value");
  assert.ok(out.storeCorrupted > 0, "the scheduler's store threw away a value made of forged chunks (and the honest push completed it)");
  assert.equal(out.pidsAfter, out.pidsBefore, "no executor exited or was restarted by a stranger");
  assert.equal(out.unhandled, [], "no unhandled rejection");
  assert.ok(out.trust && out.trust.scheduler > 0 && out.trust.executors > 0, "the scheduler and the executors counted what they dropped");
  assert.ok(out.trust!.rivals.length > 0, "the fake scheduler was noticed");
  // Replays of task batches and submits must not run tasks again; re-queues after doubts may
  // re-run a few (at-least-once), never a multiple of the work.
  assert.ok(out.executions <= tasks * 1.05, `executions ${out.executions} for ${tasks} tasks`);
});

test.run();
