import { test } from "uvu";
import * as assert from "uvu/assert";
import { startRecorded } from "../../test/helpers/machines.ts";
import { Silence, silenceImpl } from "../../runtime/silence.ts";
import { supervisorMachine, type SupervisorInput } from "./supervisor.machine.ts";

const ACTIONS = [
  "sendRegister",
  "startExecutors",
  "resumeWork",
  "reportSchedulerLost",
  "reportDeathTimeout",
  "stopAcceptingWork",
  "stopExecutors",
] as const;

const defaults: SupervisorInput = { deathTimeoutMs: 1000, schedulerSilenceMs: 300, retireTimeoutMs: 500, registerRetryMs: 100 };

const start = (input: Partial<SupervisorInput> = {}) => startRecorded(supervisorMachine, ACTIONS, { ...defaults, ...input });

function toRunning(input: Partial<SupervisorInput> = {}) {
  const s = start(input);
  s.actor.send({ type: "CONNECTED" });
  s.actor.send({ type: "REGISTERED" });
  return s;
}

test("connect, register, run: executors start on the first registration", () => {
  const { actor, calls } = start();
  assert.equal(actor.getSnapshot().value, { offline: "connecting" });
  assert.equal(calls, []);
  actor.send({ type: "CONNECTED" });
  assert.equal(actor.getSnapshot().value, { offline: "registering" });
  assert.equal(calls, ["sendRegister"]);
  actor.send({ type: "REGISTERED" });
  assert.equal(actor.getSnapshot().value, "running");
  assert.ok(actor.getSnapshot().matches("running"));
  assert.equal(calls, ["sendRegister", "startExecutors"]);
  assert.equal(actor.getSnapshot().context.registrations, 1);
  assert.equal(actor.getSnapshot().context.reason, null);
});

test("registering retries sendRegister every registerRetry; DISCONNECTED goes back to connecting", () => {
  const { actor, clock, count } = start();
  actor.send({ type: "CONNECTED" });
  clock.increment(100);
  clock.increment(100);
  assert.equal(count("sendRegister"), 3);
  actor.send({ type: "DISCONNECTED" });
  assert.equal(actor.getSnapshot().value, { offline: "connecting" });
  clock.increment(100);
  assert.equal(count("sendRegister"), 3);
});

test("death-timeout runs while connecting: a worker that never reaches NATS exits with code 1", () => {
  const { actor, clock, calls } = start();
  clock.increment(999);
  assert.equal(actor.getSnapshot().value, { offline: "connecting" });
  clock.increment(1);
  assert.equal(actor.getSnapshot().value, "shuttingDown");
  assert.equal(calls, ["reportDeathTimeout", "stopExecutors"]);
  assert.equal(actor.getSnapshot().context.exitCode, 1);
  assert.match(actor.getSnapshot().context.reason ?? "", /death-timeout/);
  actor.send({ type: "EXECUTORS_STOPPED" });
  assert.equal(actor.getSnapshot().value, "exited");
  assert.equal(actor.getSnapshot().status, "done");
  assert.equal(actor.getSnapshot().output, { exitCode: 1, reason: "death-timeout: no scheduler for 1000 ms" });
});

test("death-timeout spans connecting and registering (CONNECTED does not restart it)", () => {
  const { actor, clock } = start();
  clock.increment(600);
  actor.send({ type: "CONNECTED" });
  for (let i = 0; i < 3; i++) clock.increment(100); // t = 900, register retries
  assert.equal(actor.getSnapshot().value, { offline: "registering" });
  clock.increment(100);
  assert.equal(actor.getSnapshot().value, "shuttingDown");
});

test("beats noted in a Silence (as the supervisor does) keep it running with one re-arm per window; silent one window after the last", () => {
  let seen!: Silence;
  const s = startRecorded(supervisorMachine, ACTIONS, defaults, (clock) => {
    seen = new Silence(() => clock.now());
    const { heard, left } = silenceImpl(seen, (c: SupervisorInput) => c.schedulerSilenceMs);
    return { guards: { schedulerHeard: heard }, delays: { schedulerSilence: left } };
  });
  s.actor.send({ type: "CONNECTED" });
  seen.note();
  s.actor.send({ type: "REGISTERED" });
  let steps = 0;
  s.actor.subscribe(() => steps++);
  for (let i = 0; i < 60; i++) {
    s.clock.increment(50);
    seen.note(); // an `alive` beat: a field write, no event
  }
  assert.equal(s.actor.getSnapshot().value, "running");
  // The timer fires one window after the beat before it: every 250 ms here, 12 times in 3 s.
  assert.ok(steps >= 10 && steps <= 13, `one re-arm per window, not one step per beat (60): ${steps}`);
  s.clock.increment(299);
  assert.equal(s.actor.getSnapshot().value, "running", "299 ms after the last beat");
  s.clock.increment(1);
  assert.equal(s.actor.getSnapshot().value, { offline: "reconnecting" }, "300 ms after the last beat");
  assert.equal(s.calls, ["sendRegister", "startExecutors", "reportSchedulerLost", "sendRegister"]);
});

test("DISCONNECTED and REREGISTER lead to reconnecting", () => {
  for (const type of ["DISCONNECTED", "REREGISTER"] as const) {
    const { actor } = toRunning();
    actor.send({ type });
    assert.equal(actor.getSnapshot().value, { offline: "reconnecting" }, type);
  }
});

test("reconnecting: REGISTERED within death-timeout → running again (resumeWork, not startExecutors)", () => {
  const { actor, clock, calls, count } = toRunning();
  actor.send({ type: "DISCONNECTED" });
  clock.increment(100); // one retry
  clock.increment(100);
  assert.equal(count("sendRegister"), 4);
  actor.send({ type: "CONNECTED" }); // NATS came back: register at once
  assert.equal(count("sendRegister"), 5);
  clock.increment(700); // t = 900 of 1000
  actor.send({ type: "REGISTERED" });
  assert.equal(actor.getSnapshot().value, "running");
  assert.equal(calls.at(-1), "resumeWork");
  assert.equal(count("startExecutors"), 1);
  assert.equal(actor.getSnapshot().context.registrations, 2);
  // The death timer left with `offline` (it would have fired at t = 1000); the silence timer runs again.
  clock.increment(299);
  assert.equal(actor.getSnapshot().value, "running");
  clock.increment(1);
  assert.equal(actor.getSnapshot().value, { offline: "reconnecting" }, "silent for the window since registering");
  assert.equal(count("reportDeathTimeout"), 0);
});

test("reconnecting for longer than death-timeout → shuttingDown, exit code 1", () => {
  const { actor, clock, count } = toRunning({ registerRetryMs: 250 });
  actor.send({ type: "DISCONNECTED" });
  for (let i = 0; i < 3; i++) clock.increment(250);
  assert.equal(actor.getSnapshot().value, { offline: "reconnecting" });
  clock.increment(250);
  assert.equal(actor.getSnapshot().value, "shuttingDown");
  assert.equal(count("reportDeathTimeout"), 1);
  assert.equal(count("stopExecutors"), 1);
  assert.equal(actor.getSnapshot().context.exitCode, 1);
  actor.send({ type: "REGISTERED" }); // too late
  assert.equal(actor.getSnapshot().value, "shuttingDown");
});

test("deathTimeout 0 or Infinity: never exits; schedulerSilence 0: never declares silence", () => {
  for (const deathTimeoutMs of [0, Infinity]) {
    const { actor, clock, count } = start({ deathTimeoutMs, registerRetryMs: Infinity });
    clock.increment(2 ** 31); // past the clamped "never" timer: its guard holds it back
    clock.increment(2 ** 31);
    assert.equal(actor.getSnapshot().value, { offline: "connecting" }, String(deathTimeoutMs));
    assert.equal(count("reportDeathTimeout"), 0);
  }
  const { actor, clock } = toRunning({ schedulerSilenceMs: 0 });
  clock.increment(2 ** 31);
  assert.equal(actor.getSnapshot().value, "running");
});

test("REGISTER_REFUSED → shuttingDown with the reason and a non-zero exit code", () => {
  const { actor, calls } = start();
  actor.send({ type: "CONNECTED" });
  actor.send({ type: "REGISTER_REFUSED", reason: "name 'w1' is taken" });
  const s = actor.getSnapshot();
  assert.equal(s.value, "shuttingDown");
  assert.equal(s.context.exitCode, 1);
  assert.equal(s.context.reason, "registration refused: name 'w1' is taken");
  assert.equal(calls, ["sendRegister", "stopExecutors"]);
  actor.send({ type: "EXECUTORS_STOPPED" });
  assert.equal(actor.getSnapshot().output, { exitCode: 1, reason: "registration refused: name 'w1' is taken" });
});

test("SHUTDOWN while running: retiring → DRAINED → shuttingDown → exited with code 0", () => {
  const { actor, clock, calls } = toRunning();
  actor.send({ type: "SHUTDOWN", reason: "SIGTERM" });
  assert.equal(actor.getSnapshot().value, "retiring");
  assert.equal(calls.at(-1), "stopAcceptingWork");
  clock.increment(400); // no silence timer while retiring
  assert.equal(actor.getSnapshot().value, "retiring");
  actor.send({ type: "DRAINED" });
  assert.equal(actor.getSnapshot().value, "shuttingDown");
  assert.equal(calls.at(-1), "stopExecutors");
  actor.send({ type: "EXECUTORS_STOPPED" });
  assert.equal(actor.getSnapshot().status, "done");
  assert.equal(actor.getSnapshot().output, { exitCode: 0, reason: "SIGTERM" });
});

test("SHUTDOWN: retireTimeout stops executors without DRAINED; 0 waits for DRAINED", () => {
  const { actor, clock } = toRunning();
  actor.send({ type: "SHUTDOWN" });
  clock.increment(499);
  assert.equal(actor.getSnapshot().value, "retiring");
  clock.increment(1);
  assert.equal(actor.getSnapshot().value, "shuttingDown");
  assert.equal(actor.getSnapshot().context.reason, "shutdown");

  const w = toRunning({ retireTimeoutMs: 0 });
  w.actor.send({ type: "SHUTDOWN" });
  w.clock.increment(2 ** 31);
  assert.equal(w.actor.getSnapshot().value, "retiring");
});

test("SHUTDOWN while offline retires and stops the death timer; immediate skips draining", () => {
  const { actor, clock, count } = start();
  actor.send({ type: "SHUTDOWN", reason: "retire" });
  assert.equal(actor.getSnapshot().value, "retiring");
  clock.increment(450);
  actor.send({ type: "SHUTDOWN", reason: "second SIGINT", immediate: true });
  assert.equal(actor.getSnapshot().value, "shuttingDown");
  clock.increment(5000);
  assert.equal(count("reportDeathTimeout"), 0);
  assert.equal(actor.getSnapshot().context.exitCode, 0);

  const r = toRunning();
  r.actor.send({ type: "SHUTDOWN", immediate: true });
  assert.equal(r.actor.getSnapshot().value, "shuttingDown");
  assert.equal(r.count("stopAcceptingWork"), 0);
  r.actor.send({ type: "SHUTDOWN" }); // ignored once shutting down
  assert.equal(r.actor.getSnapshot().value, "shuttingDown");
});

test.run();
