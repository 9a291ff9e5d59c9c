/**
 * What an idle cluster sends to stay alive (issue 10: every message wakes nats-server and its
 * receivers, on cores that run tasks). Counted at the message level on the cluster's own NATS.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Client } from "../index.ts";
import { everyBeat, msToBeat } from "../runtime/beat-clock.ts";
import { decode } from "../runtime/codec.ts";
import { subjects, type Heartbeat, type Register } from "../runtime/protocol.ts";
import { Transport } from "../runtime/transport.ts";
import { waitFor, withTimeout } from "./helpers/cluster.ts";

test("beats of one period in one process run in the same timer callback; stopping one keeps the other", async () => {
  const calls: string[] = [];
  let turn = 0;
  const tick = () => setImmediate(() => turn++); // a new turn of the loop between timer callbacks
  const seen: number[] = [];
  const stopA = everyBeat(30, () => (calls.push("a"), seen.push(turn), tick()));
  // Registered a third of a period later: on timers of its own it would beat 10 ms after a.
  await new Promise((r) => setTimeout(r, 10));
  const stopB = everyBeat(30, () => (calls.push("b"), seen.push(turn)));
  await waitFor(() => calls.lastIndexOf("b") >= 5, { timeoutMs: 10_000, label: "three beats of b" });
  stopA();
  const from = calls.indexOf("b") - 1; // a may have beaten alone before b joined
  assert.is(calls.slice(from, from + 6).join(""), "ababab", "a and b alternate: one callback runs both");
  for (let i = from; i < from + 6; i += 2) assert.is(seen[i], seen[i + 1], `b ran in a's turn (beat ${i})`);
  const n = calls.length;
  await waitFor(() => calls.length >= n + 2, { timeoutMs: 10_000, label: "b beats on alone" });
  assert.ok(calls.slice(n).every((c) => c === "b"), "a stopped");
  stopB();
});

test("msToBeat: the next point of the wall clock's grid; after a beat, reckoned from the nearest point", () => {
  assert.is(msToBeat(500, 10_000), 500, "on a point: the next one, a whole period on");
  assert.is(msToBeat(500, 10_001), 499);
  assert.is(msToBeat(500, 10_499), 1);
  assert.is(msToBeat(250, 10_100), 150);
  assert.is(msToBeat(500, 10_499, true), 501, "a beat run 1 ms early does not beat again for the same point");
  assert.is(msToBeat(500, 10_030, true), 470, "a beat run late keeps the grid");
});

test("a beat fires on the wall clock's grid, whenever it was started: beats of every period and process meet", async () => {
  // Start 400–500 ms past a second: a plain interval of 1000 ms would fire 400–500 ms past every second.
  for (;;) {
    const phase = Date.now() % 1000;
    if (phase >= 400 && phase < 500) break;
    await new Promise((r) => setTimeout(r, (400 - phase + 1000) % 1000 || 1));
  }
  const started = Date.now();
  const at: number[] = [];
  let stop!: () => void;
  await withTimeout(
    new Promise<void>((resolve) => {
      stop = everyBeat(1000, () => {
        at.push(Date.now());
        if (at.length === 2) resolve();
      });
    }),
    10_000,
    "two beats",
  );
  stop();
  assert.ok(at[0]! - started <= 600 + 300, `first beat ${at[0]! - started} ms after the start: at the next point, not a period later`);
  for (const t of at) assert.ok(t % 1000 < 300, `beat at ${t % 1000} ms past the second: on the grid (less a timer's lateness)`);
  assert.is(Math.round(at[1]! / 1000) - Math.round(at[0]! / 1000), 1, "one beat per point");
});

/** A connection of our own to an embedded cluster's NATS, and its subjects. */
async function listener(client: Client) {
  const local = client.localCluster!;
  return { S: subjects(local.cluster), rx: await Transport.connect({ servers: local.url, token: local.token, name: "listener" }) };
}

test("an idle embedded cluster: executors beat every 2 s once their supervisor vouches, the client renews its lease every 15 s, and nothing goes suspect", async () => {
  // The client over NATS (no in-process link), so that its lease renewals are seen by the listener.
  const client = await withTimeout(Client.connect(undefined, { local: { nprocs: 2, link: false } }), 60_000, "embedded cluster start");
  try {
    const { S, rx } = await listener(client);
    const beats = new Map<string, number>(); // kind → count
    const registers = new Map<string, number>(); // kind → count
    let counting = false;
    rx.subscribe(S.heartbeat, (d) => {
      const m = decode<Heartbeat>(d);
      if (counting) beats.set(m.kind, (beats.get(m.kind) ?? 0) + 1);
    });
    rx.subscribe(S.register, (d) => {
      const m = decode<Register>(d);
      if (counting) registers.set(m.kind, (registers.get(m.kind) ?? 0) + 1);
    });
    await rx.flush();
    await client.gather(client.map((x: number) => x + 1, [1, 2, 3])); // both executors registered and used
    // Past the executors' 5 s of beating at the scheduler's period after registering.
    await new Promise((r) => setTimeout(r, 5_500)); // a fixed wait: the quantity measured is traffic over time
    counting = true;
    const windowMs = 4_500;
    await new Promise((r) => setTimeout(r, windowMs));
    counting = false;
    await rx.close();
    const executorBeats = beats.get("executor") ?? 0;
    const workerBeats = beats.get("worker") ?? 0;
    // 2 executors × 4.5 s / 2 s ≈ 4–6 (every 500 ms it would be ~18)
    assert.ok(executorBeats >= 2 && executorBeats <= 7, `executor heartbeats in ${windowMs} ms: ${executorBeats}`);
    // The supervisor still beats every 500 ms: it is what vouches for the executors.
    assert.ok(workerBeats >= 6, `supervisor heartbeats in ${windowMs} ms: ${workerBeats}`);
    // Renewals fall on the wall clock's 15 s grid (runtime/beat-clock.ts), so one may land in the
    // window (a 4.5 s window holds a grid point 30 % of the time); every second would be 4–5.
    assert.ok((registers.get("client") ?? 0) <= 1, `a private cluster's client renews every 15 s, not every second: ${registers.get("client")} in ${windowMs} ms`);
    const execs = (await client.info()).workers.flatMap((w) => w.executors);
    assert.is(execs.length, 2);
    for (const e of execs) assert.is(e.state, "running", `${e.name} is ${e.state}`);
    assert.equal(await client.gather(client.map((x: number) => x * 2, [1, 2, 3, 4])), [2, 4, 6, 8]);
  } finally {
    await client.close();
  }
});

test("a scheduler whose process stalls 3 s reads its workers' heartbeats before judging their silence: no worker-died", async () => {
  const client = await withTimeout(Client.connect(undefined, { local: { nprocs: 1 } }), 60_000, "embedded cluster start");
  try {
    const { S, rx } = await listener(client);
    const events: string[] = [];
    rx.subscribe(S.events, (d) => events.push((decode<{ type: string }>(d)).type));
    await rx.flush();
    await client.gather(client.map((x: number) => x + 1, [1, 2]));
    // Past the executor's first 5 s: it beats every 2 s, its supervisor (in this process) every 500 ms.
    await new Promise((r) => setTimeout(r, 5_500));
    const end = Date.now() + 3_000;
    while (Date.now() < end); // this process (client, scheduler, supervisor) stalls; the executor beats on
    await new Promise((r) => setTimeout(r, 1_500)); // a few beats after the stall
    await client.gather(client.map((x: number) => x * 3, [1, 2]));
    await rx.flush();
    await rx.close();
    assert.not.ok(events.includes("worker-died"), `events: ${events.join(", ")}`);
    const execs = (await client.info()).workers.flatMap((w) => w.executors);
    assert.is(execs.length, 1);
    assert.is(execs[0]!.state, "running");
  } finally {
    await client.close();
  }
});

test.run();
