/** Tasks that kill their process, hang, or throw: clear errors, nothing else lost. */
import * as assert from "uvu/assert";
import { TaskError } from "../index.ts";
import { clusterSuite, waitFor, withTimeout } from "./helpers/cluster.ts";

const t = clusterSuite("failures", { nprocs: 2 });

t("a task that kills its process fails with KilledWorker after 3 deaths; the tasks around it are not blamed", async ({ client }) => {
  const crashy = (x: number) => {
    if (x === 37) process.exit(7);
    return x * 2;
  };
  const xs = Array.from({ length: 200 }, (_, i) => i);
  const fs = client.map(crashy, xs);
  const err = await withTimeout(fs[37]!.exception(), 90_000, "the crashing task to fail");
  assert.instance(err, TaskError);
  assert.is(err!.code, "KilledWorker");
  assert.match(err!.message, fs[37]!.key);
  assert.match(err!.message, /local-\d/);
  const rest = await withTimeout(client.gather(fs, { errors: "skip" }), 60_000, "the others");
  assert.equal(rest, xs.filter((x) => x !== 37).map((x) => x * 2));
  assert.is(fs.filter((f) => f.status === "error").length, 1, "only the culprit failed");
  // The cluster is whole again: both executors were restarted.
  assert.is(await client.submit((a: number) => a + 1, 1).result(), 2);
  await waitFor(async () => (await client.info()).workers[0]!.executors.length === 2, { timeoutMs: 30_000, label: "both executors back" });
});

t("timeout: an async task that hangs fails with TaskTimeout; its executor keeps working", async ({ client }) => {
  const hang = () => new Promise<number>(() => {});
  const err = await withTimeout(client.with({ timeout: 300 }).submit(hang).exception(), 20_000, "async timeout");
  assert.is(err?.code, "TaskTimeout");
  assert.match(err!.message, "300 ms");
  // The table's error, as every other: its name carries the code, and ts-dask's own frames are not the task's stack.
  assertTimeoutShape(err);
  assert.match(err!.worker, /local-\d/);
});

/** What a client sees of a timed-out task, whichever way it was stopped. */
function assertTimeoutShape(err: TaskError | undefined) {
  assert.instance(err, TaskError);
  assert.is(err!.name, "TsDaskError[TaskTimeout]");
  assert.is(err!.remoteName, "TsDaskError[TaskTimeout]");
  assert.is(err!.remoteStack, "");
}

t("timeout: a synchronous infinite loop is stopped by replacing its process", async ({ client }) => {
  const spin = (ms: number) => {
    const end = Date.now() + ms;
    while (Date.now() < end);
    return ms;
  };
  const c = client.with({ timeout: 500 });
  const ok = c.submit(spin, 10);
  const stuck = c.submit(spin, 60_000);
  assert.is(await withTimeout(ok.result(), 20_000, "quick task"), 10);
  const err = await withTimeout(stuck.exception(), 30_000, "sync timeout");
  assert.is(err?.code, "TaskTimeout");
  assertTimeoutShape(err);
  assert.is(await withTimeout(client.submit((a: number) => a, 5).result(), 30_000, "after the restart"), 5);
});

t("retries: a task that throws is run again, up to `retries` times", async ({ client }) => {
  const flaky = (x: number) => {
    const g = globalThis as { __tries?: Record<number, number> };
    g.__tries ??= {};
    g.__tries[x] = (g.__tries[x] ?? 0) + 1;
    if (g.__tries[x]! < 2) throw new Error(`flaky ${x}`);
    return x;
  };
  const out = await withTimeout(client.gather(client.map(flaky, [100, 101, 102], { retries: 3 })), 30_000, "retried");
  assert.equal(out, [100, 101, 102]);
  const always = (x: number) => {
    throw new Error(`always ${x}`);
  };
  const err = await client.with({ retries: 2 }).submit(always, 1).exception();
  assert.is(err?.code, "TaskFailed");
  assert.match(err!.message, "always 1");
  try {
    client.with({ timeout: -1 });
    assert.unreachable();
  } catch (e) {
    assert.is((e as { code: string }).code, "BadOption");
  }
});

t("a client.with() view and its client share one key space: interleaved maps keep their own results", async ({ client }) => {
  const view = client.with({ retries: 1 });
  const pure = view.with({ pure: true });
  const a = view.map((x: number) => ["view", x], [1, 2, 3]);
  const b = client.map((x: number) => ["plain", x], [1, 2, 3]);
  const c = pure.map((x: number) => ["pure", x], [1, 2, 3]);
  const keys = [...a, ...b, ...c].map((f) => f.key);
  assert.is(new Set(keys).size, keys.length, `keys are unique: ${keys.join(", ")}`);
  const [ra, rb, rc] = await withTimeout(Promise.all([client.gather(a), client.gather(b), client.gather(c)]), 30_000, "three maps");
  assert.equal(ra, [["view", 1], ["view", 2], ["view", 3]]);
  assert.equal(rb, [["plain", 1], ["plain", 2], ["plain", 3]]);
  assert.equal(rc, [["pure", 1], ["pure", 2], ["pure", 3]]);
});

t.run();
