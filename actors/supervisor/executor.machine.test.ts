import { test } from "uvu";
import * as assert from "uvu/assert";
import { startRecorded } from "../../test/helpers/machines.ts";
import { executorMachine, restartBackoff, type ExecutorInput } from "./executor.machine.ts";

const ACTIONS = [
  "spawnExecutor",
  "executorReady",
  "killExecutor",
  "stopExecutor",
  "pauseExecutor",
  "resumeExecutor",
  "reportExit",
] as const;

const defaults: ExecutorInput = {
  restartBackoffMs: 100,
  maxBackoffMs: 500,
  stableAfterMs: 10_000,
  startTimeoutMs: 2000,
  stopTimeoutMs: 1000,
};

function start(input: Partial<ExecutorInput> = {}) {
  const { actor, clock, calls, count } = startRecorded(executorMachine, ACTIONS, { ...defaults, ...input });
  const value = () => actor.getSnapshot().value;
  const ctx = () => actor.getSnapshot().context;
  return { actor, clock, calls, count, value, ctx };
}

const crash = { type: "EXITED", code: 1, signal: null } as const;
const READY = { ready: { memory: "ok" } };

test("spawns on start; READY → ready", () => {
  const { actor, calls, value } = start();
  assert.equal(value(), "starting");
  assert.equal(calls, ["spawnExecutor"]);
  actor.send({ type: "READY" });
  assert.equal(value(), READY);
  assert.equal(calls, ["spawnExecutor", "executorReady"]);
});

test("MEMORY_HIGH pauses and MEMORY_OK resumes", () => {
  const { actor, calls, value } = start();
  actor.send({ type: "READY" });
  actor.send({ type: "MEMORY_HIGH" });
  assert.equal(value(), { ready: { memory: "paused" } });
  actor.send({ type: "MEMORY_OK" });
  assert.equal(value(), READY);
  assert.equal(calls.slice(2), ["pauseExecutor", "resumeExecutor"]);
});

test("a crash restarts after the backoff: reportExit, lastExit, then spawnExecutor → starting", () => {
  const { actor, clock, calls, value, ctx } = start();
  actor.send({ type: "READY" });
  actor.send({ type: "EXITED", code: null, signal: "SIGSEGV" });
  assert.equal(value(), { restarting: "backoff" });
  assert.equal(ctx().lastExit, { code: null, signal: "SIGSEGV", reason: "exited" });
  assert.equal(ctx().restarts, 1);
  assert.equal(ctx().backoff, 100);
  assert.equal(calls.slice(2), ["reportExit"], "nothing to kill: the process is gone");
  clock.increment(99);
  assert.equal(value(), { restarting: "backoff" });
  clock.increment(1);
  assert.equal(value(), "starting");
  assert.equal(calls.slice(2), ["reportExit", "spawnExecutor"]);
});

test("backoff doubles per consecutive restart, capped at maxBackoffMs", () => {
  const { actor, clock, ctx } = start();
  const seen: number[] = [];
  for (let i = 0; i < 5; i++) {
    actor.send(crash); // crashes while starting, before READY
    seen.push(ctx().backoff);
    clock.increment(ctx().backoff);
  }
  assert.equal(seen, [100, 200, 400, 500, 500]);
  assert.equal(ctx().restarts, 5);
  assert.equal(restartBackoff(1, 100, 500), 100);
  assert.equal(restartBackoff(3, 100, 500), 400);
  assert.equal(restartBackoff(40, 100, Infinity), 2 ** 31 - 1, "never beyond setTimeout's ceiling");
  assert.equal(restartBackoff(3, 0, 500), 0);
});

test("staying ready for stableAfterMs resets the restart count (not the total)", () => {
  const { actor, clock, ctx } = start();
  actor.send(crash);
  clock.increment(100);
  actor.send(crash);
  clock.increment(200);
  actor.send({ type: "READY" });
  assert.equal(ctx().restarts, 2);
  clock.increment(9_999);
  assert.equal(ctx().restarts, 2);
  actor.send({ type: "MEMORY_HIGH" }); // moves inside ready: the stability timer keeps running
  clock.increment(1);
  assert.equal(ctx().restarts, 0);
  assert.equal(ctx().totalRestarts, 2);
  actor.send(crash);
  assert.equal(ctx().backoff, 100);
  assert.equal(ctx().totalRestarts, 3);
});

test("a crash before stableAfterMs keeps counting", () => {
  const { actor, clock, ctx } = start();
  actor.send(crash);
  clock.increment(100);
  actor.send({ type: "READY" });
  clock.increment(5_000);
  actor.send(crash);
  assert.equal(ctx().restarts, 2);
  assert.equal(ctx().backoff, 200);
});

test("MEMORY_CRITICAL kills, waits for EXITED, then backs off; the reason stays 'memory'", () => {
  const { actor, clock, calls, value, ctx } = start();
  actor.send({ type: "READY" });
  actor.send({ type: "MEMORY_CRITICAL" });
  assert.equal(value(), { restarting: "killing" });
  assert.equal(calls.slice(2), ["reportExit", "killExecutor"]);
  clock.increment(500); // far beyond the backoff: no spawn while the old process lives
  assert.equal(value(), { restarting: "killing" });
  actor.send({ type: "EXITED", code: null, signal: "SIGKILL" });
  assert.equal(value(), { restarting: "backoff" });
  assert.equal(ctx().lastExit, { code: null, signal: "SIGKILL", reason: "memory" });
  clock.increment(100);
  assert.equal(value(), "starting");
  assert.equal(calls.at(-1), "spawnExecutor");
});

test("a kill that never reports EXITED gives up after stopTimeoutMs and restarts anyway", () => {
  const { actor, clock, value } = start();
  actor.send({ type: "MEMORY_CRITICAL" }); // also handled while starting
  clock.increment(999);
  assert.equal(value(), { restarting: "killing" });
  clock.increment(1);
  assert.equal(value(), { restarting: "backoff" });
  clock.increment(100);
  assert.equal(value(), "starting");
});

test("no READY within startTimeoutMs → killExecutor and restart", () => {
  const { actor, clock, calls, value, ctx } = start();
  clock.increment(1999);
  assert.equal(value(), "starting");
  clock.increment(1);
  assert.equal(value(), { restarting: "killing" });
  assert.equal(ctx().lastExit?.reason, "start-timeout");
  assert.equal(calls, ["spawnExecutor", "reportExit", "killExecutor"]);
  actor.send(crash);
  assert.equal(ctx().lastExit, { code: 1, signal: null, reason: "start-timeout" });
});

test("STOP: stopExecutor, then stopped on EXITED (no restart)", () => {
  const { actor, clock, calls, value, ctx } = start();
  actor.send({ type: "READY" });
  actor.send({ type: "STOP" });
  assert.equal(value(), "stopping");
  assert.equal(calls.at(-1), "stopExecutor");
  actor.send({ type: "EXITED", code: 0, signal: null });
  assert.equal(value(), "stopped");
  assert.equal(actor.getSnapshot().status, "done");
  assert.equal(ctx().lastExit, { code: 0, signal: null, reason: "stopped" });
  assert.equal(actor.getSnapshot().output, { code: 0, signal: null, reason: "stopped" });
  clock.increment(10_000);
  assert.equal(calls.filter((c) => c === "spawnExecutor").length, 1);
});

test("STOP: a child that ignores it is killed after stopTimeoutMs", () => {
  const { actor, clock, calls, value, ctx } = start();
  actor.send({ type: "READY" });
  actor.send({ type: "STOP" });
  clock.increment(999);
  assert.equal(value(), "stopping");
  clock.increment(1);
  assert.equal(value(), "stopped");
  assert.equal(calls.slice(-2), ["stopExecutor", "killExecutor"]);
  assert.equal(ctx().lastExit?.reason, "stop-timeout");
});

test("STOP while starting, while killing, and during backoff", () => {
  const a = start();
  a.actor.send({ type: "STOP" });
  assert.equal(a.value(), "stopping");

  const b = start();
  b.actor.send({ type: "MEMORY_CRITICAL" });
  b.actor.send({ type: "STOP" });
  assert.equal(b.value(), "stopping");
  b.actor.send({ type: "EXITED", code: null, signal: "SIGKILL" });
  assert.equal(b.value(), "stopped");

  const c = start();
  c.actor.send(crash);
  c.actor.send({ type: "STOP" });
  assert.equal(c.value(), "stopped", "no process to stop");
  assert.equal(c.count("stopExecutor"), 0);
  c.clock.increment(1000);
  assert.equal(c.count("spawnExecutor"), 1);
});

test("startTimeoutMs 0 waits for READY forever", () => {
  const { clock, value } = start({ startTimeoutMs: 0 });
  clock.increment(2 ** 31);
  assert.equal(value(), "starting");
});

test.run();
