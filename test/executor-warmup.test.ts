/**
 * An executor's warm-up (actors/executor/warmup.ts, issue 13 item 5): scratch batches through the
 * executor's own per-task path while it waits, resumable, bounded, and silent — no message of it
 * reaches NATS, and the scheduler's counters see only the real tasks.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Client, startScheduler } from "../index.ts";
import { silentLogger } from "../runtime/actor.ts";
import { Transport } from "../runtime/transport.ts";
import { ExecutorWarmup, WARMUP_ID, WARMUP_ROUNDS } from "../actors/executor/warmup.ts";
import { cli } from "./helpers/cli.ts";
import { cleanup, startTestNats, withTimeout } from "./helpers/cluster.ts";

test.after(cleanup);

test("the warm-up runs its rounds until stopped, resumes where it stopped, and ends after WARMUP_ROUNDS", async () => {
  assert.is(await new ExecutorWarmup().run(() => true), 0, "stopped at once: no round");
  const w = new ExecutorWarmup(Infinity); // no time budget: a loaded machine must not end it early here
  let calls = 0;
  assert.is(await w.run(() => ++calls > 3), 3, "three rounds, then stopped");
  assert.is(await w.run(() => false), WARMUP_ROUNDS, "resumed: the rest of the rounds");
  assert.is(await w.run(() => false), WARMUP_ROUNDS, "complete: nothing more");
  assert.is(w.rounds, WARMUP_ROUNDS);
  assert.is(await new ExecutorWarmup(0).run(() => false), 0, "no budget: no round");
});

test("a worker's executors warm up before their first batch, and no message of it leaves: the scheduler counts only real tasks", async () => {
  const nats = await startTestNats();
  // Every message on this NATS server, from before the worker starts.
  const rx = await Transport.connect({ servers: nats.url, name: "listener" });
  const seen: Uint8Array[] = [];
  rx.subscribe(">", (d) => void seen.push(Uint8Array.from(d)));
  await rx.flush();
  const sched = await startScheduler({ servers: nats.url, cluster: "warm1", log: silentLogger });
  const worker = cli(["worker", nats.url, "--cluster", "warm1", "--name", "wu", "--nprocs", "2"], { TSDASK_STARTUP_TRACE: "1" });
  let client: Client | undefined;
  try {
    // Each executor process reports its warm-up rounds (runtime/startup-trace.ts, on the worker's stderr).
    const marks = async () => [...worker.output().matchAll(/ts-dask-startup executor (\d+) warmed-up \((\d+) rounds\)/g)];
    await worker.waitFor(/ts-dask-startup executor \d+ warmed-up[^\n]*\n(?:[^]*)ts-dask-startup executor \d+ warmed-up/, 60_000);
    const rounds = (await marks()).map((m) => Number(m[2]));
    assert.is(rounds.length, 2, "both executors warmed up");
    // No batch came: each ran rounds until its time budget or all of them (fewer on a loaded machine).
    for (const r of rounds) assert.ok(r >= 1 && r <= WARMUP_ROUNDS, `rounds run: ${r}`);
    client = await withTimeout(Client.connect(nats.url, { cluster: "warm1" }), 30_000, "client");
    const out = await withTimeout(client.gather(client.map((x: number) => x * 2, Array.from({ length: 50 }, (_, i) => i))), 30_000, "map");
    assert.is(out[49], 98);
    const info = await client.info();
    assert.is(info.tasks.done, 50, "the scheduler finished exactly the real tasks");
    assert.is(info.tasks.duplicates, 0);
    assert.equal([info.trust?.scheduler ?? 0, info.trust?.executors ?? 0, info.trust?.clients ?? 0], [0, 0, 0], "nothing dropped as untrusted");
    await rx.flush();
    const leaked = seen.filter((d) => Buffer.from(d).includes(WARMUP_ID));
    assert.is(leaked.length, 0, "no message carries the warm-up's ids");
    assert.ok(seen.length > 0, "the listener heard the cluster");
  } finally {
    await client?.close();
    await worker.stop();
    await sched.stop();
    await rx.close();
  }
});

test.run();
