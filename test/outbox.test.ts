/**
 * The executor's outbox decides when results and completions leave (issue 10): counted at the
 * message level on a real nats-server, with the turns of the event loop as the only clock.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { lingerFor, LINGER_MAX_MS, LINGER_MS, Outbox } from "../actors/executor/outbox.ts";
import type { RunGroup } from "../actors/executor/run-group.ts";
import { Runner } from "../actors/executor/runner.ts";
import { decode } from "../runtime/codec.ts";
import { subjects, type Done, type Results } from "../runtime/protocol.ts";
import { Transport } from "../runtime/transport.ts";
import { cleanup, onCleanup, startTestNats, waitFor } from "./helpers/cluster.ts";

test.after(cleanup);

const S = subjects("ob");
const nextTurn = () => new Promise((r) => setImmediate(r));

/** An outbox on one connection and a listener on another that counts what arrives. */
async function rig() {
  const { url } = await startTestNats();
  const tx = await Transport.connect({ servers: url, name: "outbox" });
  const rx = await Transport.connect({ servers: url, name: "listener" });
  onCleanup(() => tx.close());
  onCleanup(() => rx.close());
  const results: Results[] = [];
  const dones: Done[] = [];
  rx.subscribe(S.results("c1"), (d) => results.push(decode<Results>(d)));
  rx.subscribe(S.done, (d) => dones.push(decode<Done>(d)));
  await rx.flush();
  const out = new Outbox(tx, S, "e1", "W-0");
  out.sched = "s1";
  out.lingerMs = Infinity; // the linger timer stays out of these tests (a loaded machine may be slow)
  /** Lets everything published so far arrive. */
  const settle = async () => {
    await tx.flush();
    await rx.flush();
  };
  return { out, results, dones, settle };
}

test("a lone task's result leaves at the next turn when nothing is queued behind it", async () => {
  const { out, results, dones, settle } = await rig();
  out.queued = () => 0;
  out.ok("c1", 7, 70, "v", "f", 1);
  await nextTurn();
  await settle();
  assert.is(results.length, 1, "no batch window: the result left at once");
  assert.equal([...results[0]!.keys], [70]);
  assert.is(dones.length, 1);
  assert.equal([...dones[0]!.slots], [7]);
});

test("with a deep queue, completions linger and leave together (one message per destination)", async () => {
  const { out, results, dones, settle } = await rig();
  let queued = 100;
  out.queued = () => queued;
  for (let i = 0; i < 10; i++) {
    queued--;
    out.ok("c1", i, 100 + i, i * i, "f", 1);
    await nextTurn(); // a task per turn, as the runner's slices do
  }
  await settle();
  assert.is(results.length, 0, "10 done, 90 still queued: nothing sent yet");
  assert.is(dones.length, 0);
  out.flush(); // what the runner does when it goes idle (or the linger timer)
  await settle();
  assert.is(results.length, 1);
  assert.equal([...results[0]!.keys], Array.from({ length: 10 }, (_, i) => 100 + i));
  assert.equal(results[0]!.values, Array.from({ length: 10 }, (_, i) => i * i));
  assert.is(dones.length, 1);
  assert.is(dones[0]!.slots.length, 10);
});

test("completions leave once as many are held back as are still queued (the scheduler refills in time)", async () => {
  const { out, dones, settle } = await rig();
  let queued = 8;
  out.queued = () => queued;
  const sent: number[] = [];
  for (let i = 0; i < 8; i++) {
    queued--;
    out.ok("c1", i, i, null, "f", 1);
    await nextTurn();
    await settle();
    sent.push(dones.length);
  }
  // After 4 completions, 4 are still queued: that is the moment to tell the scheduler.
  assert.equal(sent.slice(0, 3), [0, 0, 0], "held back while the queue is deep");
  assert.is(sent[3], 1, "sent when held ≥ queued");
  assert.is(dones[0]!.slots.length, 4);
});

test("the refill is asked for once per batch: the rest of the queue lingers until a batch arrives or it runs dry", async () => {
  const { out, dones, settle } = await rig();
  let queued = 8;
  out.queued = () => queued;
  const finish = async (slot: number) => {
    queued--;
    out.ok("c1", slot, slot, null, "f", 1);
    await nextTurn();
    await settle();
  };
  for (let i = 0; i < 4; i++) await finish(i);
  assert.is(dones.length, 1, "asked at the half (4 held, 4 queued)");
  // No batch follows (the scheduler had nothing more): halving again (2 of 2, 1 of 1) would tell it nothing.
  for (let i = 4; i < 7; i++) await finish(i);
  assert.is(dones.length, 1, "3 more held back while 1 is still queued");
  await finish(7);
  assert.is(dones.length, 2, "the last one: nothing queued behind it, everything leaves");
  assert.equal([...dones[1]!.slots], [4, 5, 6, 7]);
  // A new batch re-arms the ask.
  queued = 6;
  out.refilled();
  for (let i = 8; i < 11; i++) await finish(i);
  assert.is(dones.length, 3, "asked again at the half of the new batch");
  assert.equal([...dones[2]!.slots], [8, 9, 10]);
});

test("the linger grows with the tasks' mean duration, on nested grids, within its bounds", () => {
  assert.is(lingerFor(0.01), LINGER_MS, "tiny tasks: the shortest linger");
  assert.is(lingerFor(1), LINGER_MS, "1 ms: 250 ms already covers 200 of them");
  assert.is(lingerFor(2), 2 * LINGER_MS);
  assert.is(lingerFor(10), LINGER_MAX_MS, "long tasks: the longest");
  assert.is(lingerFor(1e6), LINGER_MAX_MS);
  assert.is(lingerFor(10, 500), 500, "never above the cap");
  for (const ms of [0.1, 1, 3, 7, 50]) assert.is(LINGER_MAX_MS % lingerFor(ms), 0, "every linger divides the longest: their grids meet");
});

/** Resolves once the wall clock is `from`–`to` ms past a multiple of `period` (an event of the clock itself). */
async function atPhase(period: number, from: number, to: number): Promise<void> {
  for (;;) {
    const phase = Date.now() % period;
    if (phase >= from && phase < to) return;
    await new Promise((r) => setTimeout(r, (from - phase + period) % period || 1));
  }
}

test("what lingers leaves at the next point of the wall clock's linger grid: two executors' results arrive together", async () => {
  const { url } = await startTestNats();
  const rx = await Transport.connect({ servers: url, name: "listener" });
  onCleanup(() => rx.close());
  const arrivals: { exec: string; at: number; keys: number[] }[] = [];
  rx.subscribe(S.results("c1"), (d) => {
    const m = decode<Results>(d);
    arrivals.push({ exec: m.worker, at: Date.now(), keys: [...m.keys] });
  });
  await rx.flush();
  const outs = await Promise.all(
    ["W-1", "W-2"].map(async (w, i) => {
      const tx = await Transport.connect({ servers: url, name: w });
      onCleanup(() => tx.close());
      const out = new Outbox(tx, S, `e${i}`, w);
      out.sched = "s1";
      out.lingerMs = 1000;
      out.queued = () => 100; // a deep queue: neither the turn nor the refill rule sends it
      return out;
    }),
  );
  // Each finishes a task at its own phase of the second, well off the grid.
  await atPhase(1000, 300, 400);
  const t1 = Date.now();
  outs[0]!.ok("c1", 1, 11, "a", "f", 10); // 10 ms tasks: the longest linger (lingerFor)
  await atPhase(1000, 500, 600);
  const t2 = Date.now();
  outs[1]!.ok("c1", 2, 22, "b", "f", 10);
  await waitFor(() => arrivals.length === 2, { timeoutMs: 10_000, label: "both results" });
  for (const a of arrivals) {
    // On a timer of its own (the linger after each task) each would arrive 1000 ms after its task, 300–600 ms past the second.
    assert.ok(a.at % 1000 < 300, `${a.exec}'s result arrived at ${a.at % 1000} ms past the second: on the grid (less a timer's lateness)`);
  }
  assert.is(Math.round(arrivals[0]!.at / 1000), Math.round(arrivals[1]!.at / 1000), "the same point of the grid");
  assert.ok(arrivals.every((a) => a.at - (a.exec === "W-1" ? t1 : t2) <= 1000 + 300), "never later than the linger (less a timer's lateness)");
  assert.equal(arrivals.map((a) => a.keys[0]).sort(), [11, 22]);
});

test("the outbox wants a turn once a flush is asked for or a linger is due, and not after the flush", async () => {
  const { out } = await rig();
  out.lingerMs = 1000;
  out.queued = () => 100; // a deep queue: the result lingers
  out.ok("c1", 1, 11, "a", "f", 1);
  const now = performance.now();
  assert.not.ok(out.wantsTurn(now), "lingering: nothing to send yet");
  assert.ok(out.wantsTurn(now + LINGER_MAX_MS + 1), "the linger is due by then");
  out.flush();
  assert.not.ok(out.wantsTurn(now + LINGER_MAX_MS + 1), "flushed: nothing waits");
  out.queued = () => 0; // nothing behind it: a flush at the next turn
  out.ok("c1", 2, 22, "b", "f", 1);
  assert.ok(out.wantsTurn(performance.now()));
  await nextTurn();
  assert.not.ok(out.wantsTurn(performance.now()), "the turn flushed it");
});

test("a slice of synchronous tasks ends when the outbox asks for a turn: the refill request leaves with half the queue still to run", async () => {
  const { out, dones, settle } = await rig();
  const runner = new Runner(1, out, "W-0");
  // 400 tasks of 2 ms: 800 ms queued, so the runner's slices are long (up to 50 ms, runner.ts),
  // and the point where the completions held equal the tasks still queued (200) falls inside one.
  const n = 400;
  const spin = (ms: number) => {
    const t = performance.now();
    while (performance.now() - t < ms);
    return ms;
  };
  const g: RunGroup = {
    client: "c1",
    fn: "f",
    slots: Uint32Array.from({ length: n }, (_, i) => i),
    keys: Uint32Array.from({ length: n }, (_, i) => 100 + i),
    args: Array.from({ length: n }, () => [2]),
    consts: undefined,
    timeout: undefined,
    careful: undefined,
    tickets: undefined,
    error: undefined,
  };
  runner.enqueue(g, spin);
  runner.kick();
  await waitFor(
    async () => {
      await settle();
      return dones.reduce((a, d) => a + d.slots.length, 0) === n;
    },
    { label: "every completion", timeoutMs: 30_000 },
  );
  assert.is(dones.length, 2, "the refill request, then the rest when the queue ran dry");
  assert.equal([...dones[0]!.slots], [...Array(n / 2).keys()], "completions as many as the tasks still queued: the scheduler hears in time to refill");
});

test.run();
