/**
 * Opt-in deduplication: by default repeated arguments run every time; with `pure: true` (or an
 * explicit `key`) identical work shares one task while its future is alive. Executions are counted
 * on the executors themselves (a global counter per label, read back with client.run).
 */
import * as assert from "uvu/assert";
import { Client, TaskError } from "../index.ts";
import { clusterSuite, withTimeout } from "./helpers/cluster.ts";

const t = clusterSuite("dedup", { nprocs: 2 });

/** A trial that counts its executions per label on the executor that runs it. */
const trial = (seed: number, label: string) => {
  const g = globalThis as unknown as { __runs?: Record<string, number> };
  g.__runs ??= {};
  g.__runs[label] = (g.__runs[label] ?? 0) + 1;
  return seed * 10;
};
async function runs(client: Client, label: string): Promise<number> {
  const per = await client.run((l: string) => (globalThis as unknown as { __runs?: Record<string, number> }).__runs?.[l] ?? 0, label);
  return Object.values(per).reduce((a, b) => a + b, 0);
}

t("by default, repeated arguments run every time (map and submit)", async ({ client }) => {
  const out = await withTimeout(client.gather(client.map(trial, [1, 1, 2, 2, 3], { args: ["plain"] })), 20_000, "map");
  assert.equal(out, [10, 10, 20, 20, 30]);
  await client.gather([client.submit(trial, 1, "plain"), client.submit(trial, 1, "plain")]);
  assert.is(await runs(client, "plain"), 7);
});

t("pure: equal arguments share one execution while the future is alive, in map, across calls and with submit", async ({ client }) => {
  const first = client.map(trial, [1, 1, 2, 2, 3], { pure: true, args: ["pure"] });
  assert.equal(await withTimeout(client.gather(first), 20_000, "pure map"), [10, 10, 20, 20, 30]);
  assert.is(await runs(client, "pure"), 3);
  assert.is(first[0]!.key, first[1]!.key, "repeated rows share one task");
  const second = client.map(trial, [1, 2, 4], { pure: true, args: ["pure"] });
  assert.equal(await client.gather(second), [10, 20, 40]);
  assert.is(second[0]!.key, first[0]!.key);
  const pure = client.with({ pure: true });
  const f = pure.submit(trial, 3, "pure");
  assert.is(f.key, first[4]!.key);
  assert.is(await f.result(), 30);
  assert.is(await runs(client, "pure"), 4, "only seed 4 was new");
  // Other arguments (here the label) are other work.
  await pure.submit(trial, 3, "pure-other").result();
  assert.is(await runs(client, "pure-other"), 1);
  // A Future argument counts by its task.
  const base = client.submit((x: number) => x + 1, 1);
  const [g1, g2] = [pure.submit(trial, base, "pure-dep"), pure.submit(trial, base, "pure-dep")];
  assert.is(g1.key, g2.key);
  assert.equal(await client.gather([g1, g2]), [20, 20]);
  assert.is(await runs(client, "pure-dep"), 1);
});

t("released futures drop their key; failed tasks are not shared", async ({ client }) => {
  const pure = client.with({ pure: true });
  const a = pure.submit(trial, 5, "release");
  await a.result();
  assert.is(pure.submit(trial, 5, "release").key, a.key);
  a.release();
  const b = pure.submit(trial, 5, "release");
  assert.is.not(b.key, a.key);
  await b.result();
  assert.is(await runs(client, "release"), 2);
  const flaky = (x: number) => {
    const g = globalThis as unknown as { __flaky?: number };
    g.__flaky = (g.__flaky ?? 0) + 1;
    if (x > 0) throw new Error("always fails");
    return x;
  };
  const e1 = await pure.submit(flaky, 1).exception();
  assert.instance(e1, TaskError);
  const e2 = await pure.submit(flaky, 1).exception();
  assert.instance(e2, TaskError);
  assert.is.not(e2!.key, e1!.key, "a failed task runs again");
});

t("an explicit key: submit (string) and map (a function of the row's arguments)", async ({ client }) => {
  const keyed = client.with({ key: "load-2024" });
  const a = keyed.submit(trial, 1, "keyed");
  const b = keyed.submit(trial, 2, "keyed"); // same key: shares a's task, whatever its arguments
  assert.is(b.key, a.key);
  assert.is(await b.result(), 10);
  const parity = client.map(trial, [1, 2, 3, 4], { key: (s: number) => `parity-${s % 2}`, args: ["keyed-map"] });
  assert.equal(await withTimeout(client.gather(parity), 20_000, "keyed map"), [10, 20, 10, 20]);
  assert.is(await runs(client, "keyed"), 1);
  assert.is(await runs(client, "keyed-map"), 2);
  try {
    client.map(trial, [1], ["k"], { key: "one-key-for-all" as unknown as () => string });
    assert.unreachable();
  } catch (e) {
    assert.is((e as TaskError).code, "BadOption");
  }
});

t.run();
