import { test } from "uvu";
import * as assert from "uvu/assert";
import { createActor, SimulatedClock } from "xstate";
import { Silence, silenceImpl } from "../../runtime/silence.ts";
import { workerMachine, type WorkerContext, type WorkerEvent, type WorkerInput } from "./worker.machine.ts";

const ACTIONS = ["sendStealRequest", "applyStolen", "requeueTasks"] as const;
type Name = (typeof ACTIONS)[number];

interface Call {
  name: Name;
  event: WorkerEvent;
  reason: string | null;
}

function start(input: WorkerInput = { suspectAfterMs: 1000, deadAfterMs: 2000, stealTimeoutMs: 500 }) {
  const clock = new SimulatedClock();
  const log: Call[] = [];
  const spy =
    (name: Name) =>
    ({ context, event }: { context: WorkerContext; event: WorkerEvent }) =>
      void log.push({ name, event, reason: context.reason });
  const actions = Object.fromEntries(ACTIONS.map((n) => [n, spy(n)])) as Record<Name, ReturnType<typeof spy>>;
  const actor = createActor(workerMachine.provide({ actions }), { clock, input });
  actor.start();
  const names = () => log.map((c) => c.name);
  const count = (name: Name) => log.filter((c) => c.name === name).length;
  const snap = () => actor.getSnapshot();
  return { actor, clock, log, names, count, snap };
}

function running(input?: WorkerInput) {
  const w = start(input);
  w.actor.send({ type: "REGISTERED" });
  return w;
}

const slots = (...xs: number[]) => Uint32Array.from(xs);

/** Still running 1 ms before the default 1,000 ms of silence, suspect at it. */
function suspectAfterSilence(clock: { increment(ms: number): void }, snap: ReturnType<typeof start>["snap"]) {
  clock.increment(999);
  assert.ok(snap().matches("running"));
  clock.increment(1);
  assert.equal(snap().value, "suspect");
}

test("joining → running on REGISTERED, with the regions at rest", () => {
  const { actor, snap } = start();
  assert.equal(snap().value, "joining");
  actor.send({ type: "REGISTERED" });
  assert.ok(snap().matches("running"));
  assert.equal(snap().value, { running: { liveness: "beating", steal: "none" } });
});

test("the scheduler's minimal input works (stealTimeoutMs defaults)", () => {
  const { snap } = running({ suspectAfterMs: 10, deadAfterMs: 10 });
  assert.equal(snap().context.stealTimeoutMs, 2000);
});

test("every HEARTBEAT restarts the liveness timer; silence → suspect", () => {
  const { actor, clock, snap, names } = running();
  for (let i = 0; i < 5; i++) {
    clock.increment(900);
    actor.send({ type: "HEARTBEAT" });
  }
  assert.ok(snap().matches("running"));
  suspectAfterSilence(clock, snap);
  assert.equal(names(), []);
});

test("suspect: a HEARTBEAT brings it back with a fresh timer", () => {
  const { actor, clock, snap } = running();
  clock.increment(1000);
  clock.increment(1500);
  assert.equal(snap().value, "suspect");
  actor.send({ type: "HEARTBEAT" });
  assert.ok(snap().matches("running"));
  suspectAfterSilence(clock, snap);
});

test("suspect for deadAfterMs → dead (final): requeueTasks sees the reason", () => {
  const { clock, snap, log } = running();
  clock.increment(1000);
  clock.increment(1999);
  assert.equal(snap().value, "suspect");
  clock.increment(1);
  assert.equal(snap().value, "dead");
  assert.equal(snap().status, "done");
  assert.equal(
    log.map((c) => [c.name, c.reason]),
    [["requeueTasks", "no heartbeat for 3000 ms"]],
  );
});

test("a HEARTBEAT resets only the liveness timer, not the steal region", () => {
  const { actor, snap } = running();
  actor.send({ type: "STEAL_START", max: 2 });
  actor.send({ type: "HEARTBEAT" });
  assert.equal(snap().value, { running: { liveness: "beating", steal: "stealing" } });
});

test("steal: request, reply with the slots the executor had not started", () => {
  const { actor, snap, log } = running();
  actor.send({ type: "STEAL_START", max: 3 });
  assert.ok(snap().matches({ running: { steal: "stealing" } }));
  actor.send({ type: "STEAL_START", max: 3 }); // one steal in flight at a time
  actor.send({ type: "STEAL_REPLY", slots: slots(7, 9) }); // slot 8 had started: not released
  assert.ok(snap().matches({ running: { steal: "none" } }));
  assert.equal(
    log.map((c) => c.name),
    ["sendStealRequest", "applyStolen"],
  );
  assert.equal(log[0]!.event, { type: "STEAL_START", max: 3 });
  assert.equal(log[1]!.event, { type: "STEAL_REPLY", slots: slots(7, 9) });
});

test("steal timeout → none; a late reply is still applied", () => {
  const { actor, clock, snap, names } = running();
  actor.send({ type: "STEAL_START", max: 1 });
  clock.increment(499);
  assert.ok(snap().matches({ running: { steal: "stealing" } }));
  clock.increment(1);
  assert.ok(snap().matches({ running: { steal: "none" } }));
  actor.send({ type: "STEAL_REPLY", slots: slots(4) });
  assert.equal(names(), ["sendStealRequest", "applyStolen"]);
});

test("a STEAL_REPLY while suspect or retiring is applied (the executor did drop the tasks)", () => {
  const s = running();
  s.actor.send({ type: "STEAL_START", max: 1 });
  s.clock.increment(1000);
  assert.equal(s.snap().value, "suspect");
  s.actor.send({ type: "STEAL_REPLY", slots: slots(1) });
  assert.equal(s.count("applyStolen"), 1);

  const r = running();
  r.actor.send({ type: "STEAL_START", max: 1 });
  r.actor.send({ type: "RETIRE" });
  r.actor.send({ type: "STEAL_REPLY", slots: slots(1) });
  assert.equal(r.count("applyStolen"), 1);
});

test("a STEAL_REPLY arriving after dead is ignored (its tasks were re-queued)", () => {
  const { actor, clock, snap, names } = running({ suspectAfterMs: 1000, deadAfterMs: 2000, stealTimeoutMs: 10_000 });
  actor.send({ type: "STEAL_START", max: 5 });
  clock.increment(1000); // suspect, the steal still in flight
  clock.increment(2000); // dead
  assert.equal(snap().value, "dead");
  const before = snap();
  actor.send({ type: "STEAL_REPLY", slots: slots(1, 2) });
  assert.equal(snap(), before);
  assert.equal(names(), ["sendStealRequest", "requeueTasks"]);
});

test("RETIRE → retiring: out of running (takes no work), heartbeats keep it; silence → dead (tasks are not lost)", () => {
  const b = running();
  b.actor.send({ type: "RETIRE" });
  assert.equal(b.snap().value, { retiring: "draining" });
  assert.equal(b.names(), []);
  b.clock.increment(900);
  b.actor.send({ type: "HEARTBEAT" });
  b.clock.increment(1000);
  assert.equal(b.snap().value, { retiring: "silent" });
  b.actor.send({ type: "HEARTBEAT" });
  assert.equal(b.snap().value, { retiring: "draining" });
  b.clock.increment(1000);
  b.clock.increment(2000);
  assert.equal(b.snap().value, "dead");
  assert.equal(b.names(), ["requeueTasks"]);
  assert.match(b.snap().context.reason ?? "", /retiring/);
});

test("retiring: LOST (its bye) → dead with requeueTasks", () => {
  const a = running();
  a.actor.send({ type: "RETIRE" });
  a.actor.send({ type: "LOST", reason: "left (bye)" });
  assert.equal(a.snap().value, "dead");
  assert.equal(a.log.map((c) => [c.name, c.reason]), [["requeueTasks", "left (bye)"]]);
});

test("RETIRE while suspect goes to retiring", () => {
  const { actor, clock, snap } = running();
  clock.increment(1000);
  actor.send({ type: "RETIRE" });
  assert.equal(snap().value, { retiring: "draining" });
});

test("LOST (process exit reported by its supervisor) → dead at once; also from joining", () => {
  const { actor, snap, log } = running();
  actor.send({ type: "LOST", reason: "process exited with SIGKILL" });
  assert.equal(snap().value, "dead");
  assert.equal(
    log.map((c) => [c.name, c.reason]),
    [["requeueTasks", "process exited with SIGKILL"]],
  );
  actor.send({ type: "LOST", reason: "again" }); // final: ignored
  actor.send({ type: "HEARTBEAT" });
  assert.equal(snap().value, "dead");
  assert.equal(log.length, 1);
  const j = start();
  j.actor.send({ type: "LOST", reason: "bye" });
  assert.equal(j.snap().value, "dead");
});

test("suspectAfterMs 0: never suspect; deadAfterMs Infinity: suspect forever", () => {
  const a = running({ suspectAfterMs: 0, deadAfterMs: 10 });
  a.clock.increment(2 ** 31);
  assert.ok(a.snap().matches("running"));
  const b = running({ suspectAfterMs: 10, deadAfterMs: Infinity });
  b.clock.increment(10);
  b.clock.increment(2 ** 31);
  assert.equal(b.snap().value, "suspect");
});

test("signs of life noted in a Silence (as the scheduler does) keep it running with one re-arm per window, across a steal; suspect one window after the last", () => {
  const clock = new SimulatedClock();
  const heard = new Silence(() => clock.now());
  const { heard: heardLately, left } = silenceImpl(heard, (c: WorkerContext) => c.suspectAfterMs);
  const requested: number[] = [];
  const machine = workerMachine.provide({
    guards: { heardLately },
    delays: { suspectAfter: left },
    actions: { sendStealRequest: ({ event }) => void (event.type === "STEAL_START" && requested.push(event.max)) },
  });
  const actor = createActor(machine, { clock, input: { suspectAfterMs: 1000, deadAfterMs: 2000 } });
  actor.start();
  heard.note();
  actor.send({ type: "REGISTERED" });
  let steps = 0;
  actor.subscribe(() => steps++);
  for (let i = 0; i < 40; i++) {
    clock.increment(100);
    heard.note();
    if (i === 30) actor.send({ type: "STEAL_START", max: 3 }); // its 2 s timeout is still running at the end
  }
  assert.ok(actor.getSnapshot().matches({ running: { liveness: "beating", steal: "stealing" } }), "4 s of noted beats: running, the steal untouched");
  // 40 beats; the timer re-arms every 900 ms (it fires one window after the beat before it): ~4, plus the steal's step.
  assert.ok(steps >= 4 && steps <= 6, `one step per window, not per beat: ${steps}`);
  assert.equal(requested, [3]);
  clock.increment(999);
  assert.ok(actor.getSnapshot().matches("running"), "999 ms after the last sign");
  clock.increment(1);
  assert.ok(actor.getSnapshot().matches("suspect"), "1000 ms after the last sign: suspect, as when every beat restarted the timer");
  heard.note();
  actor.send({ type: "HEARTBEAT" });
  assert.ok(actor.getSnapshot().matches("running"), "a suspect one's beat is sent, and brings it back");
  actor.stop();
});

test.run();
