/**
 * Named outputs (`{ publish }`): the rows of a call, as a plain NATS subscriber (`nats` +
 * `@msgpack/msgpack`, nothing of ts-dask) sees them on `tsdask.<cluster>.out.<name>`.
 */
import { decode } from "@msgpack/msgpack";
import { connect, type NatsConnection } from "nats";
import * as assert from "uvu/assert";
import { best, delayed, parallel, type OutRows } from "../index.ts";
import { clusterSuite, withTimeout } from "./helpers/cluster.ts";

const t = clusterSuite("outputs", { nprocs: 2, quiet: true });

/** A plain subscriber collecting OutRows messages; `until` resolves on a message, not a poll. */
async function follow(url: string, subject: string) {
  const nc: NatsConnection = await connect({ servers: url });
  const msgs: OutRows[] = [];
  let wake = () => {};
  nc.subscribe(subject, {
    callback: (_e, m) => {
      msgs.push(decode(m.data) as OutRows);
      wake();
    },
  });
  await nc.flush();
  const rows = () => msgs.reduce((n, m) => n + m.index.length, 0);
  return {
    msgs,
    async until(n: number, ms = 30_000) {
      const t0 = Date.now();
      while (rows() < n) {
        if (Date.now() - t0 > ms) throw new Error(`only ${rows()} of ${n} rows arrived`);
        await new Promise<void>((r) => {
          const timer = setTimeout(r, ms);
          wake = () => (clearTimeout(timer), r());
        });
      }
    },
    close: () => nc.close(),
  };
}

t("map(…, { publish }): every settled row once, batched, with values and errors", async ({ client }) => {
  const lc = client.localCluster!;
  const sub = await follow(lc.url, `tsdask.${lc.cluster}.out.study-42`);
  try {
    const n = 2000;
    const f = (x: number) => {
      if (x === 7) throw new RangeError(`bad ${x}`);
      return x * x;
    };
    const futures = client.map(f, Array.from({ length: n }, (_, i) => i), { publish: "study-42" });
    await withTimeout(client.wait(futures), 60_000, "the map");
    await sub.until(n);
    const seen = new Map<number, { v: unknown; e?: OutRows["errors"] extends (infer E)[] | undefined ? E : never }>();
    for (const m of sub.msgs) {
      assert.is(m.name, "study-42");
      assert.is(m.total, n);
      assert.is(m.fn, "f");
      const errs = new Map((m.errors ?? []).map((e) => [e.i, e]));
      m.index.forEach((i, k) => {
        assert.not.ok(seen.has(i), `row ${i} published twice`);
        assert.is(m.keys[k], m.job + i);
        seen.set(i, { v: m.values[k], e: errs.get(k) });
      });
    }
    assert.is(seen.size, n);
    for (let i = 0; i < n; i++) if (i !== 7) assert.is(seen.get(i)!.v, i * i, `row ${i}`);
    const e = seen.get(7)!.e!;
    assert.ok(e, "row 7 failed");
    assert.is(e.code, "TaskFailed");
    assert.is(e.name, "RangeError");
    assert.match(e.message, /bad 7/);
    assert.match(e.stack, /RangeError: bad 7/);
    assert.match(e.worker, /^local-[01]$/);
    assert.ok(sub.msgs.length < n / 10, `batched: ${sub.msgs.length} messages for ${n} rows`);
  } finally {
    await sub.close();
  }
});

t("a retried row is published once, with its final value; submit publishes through client.with", async ({ client }) => {
  const lc = client.localCluster!;
  const sub = await follow(lc.url, `tsdask.${lc.cluster}.out.flaky_1`);
  try {
    const flaky = (x: number) => {
      const g = globalThis as { __outTries?: Record<number, number> };
      g.__outTries ??= {};
      g.__outTries[x] = (g.__outTries[x] ?? 0) + 1;
      if (g.__outTries[x]! < 2) throw new Error(`flaky ${x}`);
      return x + 0.5;
    };
    const out = await withTimeout(client.gather(client.map(flaky, [1, 2, 3], { retries: 3, publish: "flaky_1" })), 30_000, "retried");
    assert.equal(out, [1.5, 2.5, 3.5]);
    const one = await client.with({ publish: "flaky_1" }).submit((s: string) => s.toUpperCase(), "abc").result();
    assert.is(one, "ABC");
    await sub.until(4);
    const rows = sub.msgs.flatMap((m) => m.index.map((i, k) => ({ total: m.total, i, v: m.values[k], err: m.errors?.length ?? 0 })));
    assert.is(rows.length, 4, "no failed attempt published");
    assert.equal(rows.filter((r) => r.total === 3).map((r) => [r.i, r.v]).sort(), [[0, 1.5], [1, 2.5], [2, 3.5]]);
    assert.equal(rows.filter((r) => r.total === 1).map((r) => [r.i, r.v, r.err]), [[0, "ABC", 0]]);
  } finally {
    await sub.close();
  }
});

t("an output name that is not a subject token is refused with BadOutputName", ({ client }) => {
  for (const bad of ["a.b", "x y", "*", ">", "", 42]) {
    assert.throws(() => client.map((x: number) => x, [1], { publish: bad as string }), (e: Error & { code?: string }) => e.code === "BadOutputName", String(bad));
  }
  assert.throws(() => client.with({ publish: "a.b" }), (e: Error & { code?: string }) => e.code === "BadOutputName");
  assert.throws(() => client.map((x: number) => x, [1], { publish: "ok", pure: true }), (e: Error & { code?: string }) => e.code === "BadOption");
});

t("parallel and best with { publish }: every call's outcome, by input index; refused on the local backend", async ({ client }) => {
  const lc = client.localCluster!;
  const sub = await follow(lc.url, `tsdask.${lc.cluster}.out.>`);
  try {
    const n = 300;
    const half = (x: number) => {
      if (x === 5) throw new TypeError("five");
      return x / 2;
    };
    const res = await withTimeout(parallel({ client, publish: "par", errors: "return", batchSize: 16 }, Array.from({ length: n }, (_, i) => delayed(half)(i))), 60_000, "parallel");
    assert.is(res.length, n);
    const top = await withTimeout(best([3, 9, 4, 1], (c: number) => -Math.abs(c - 5), { client, publish: "best-1" }), 60_000, "best");
    assert.is(top[0]!.candidate, 4);
    await sub.until(n + 4);
    const par = sub.msgs.filter((m) => m.name === "par");
    assert.ok(par.length > 1 && par.length < n / 4, `batched: ${par.length} messages`);
    const rows = new Map<number, { v: unknown; e?: { code: string; name: string; worker: string; stack: string } }>();
    for (const m of par) {
      assert.is(m.total, n);
      assert.is(m.fn, "half");
      const errs = new Map((m.errors ?? []).map((e) => [e.i, e]));
      m.index.forEach((i, k) => {
        assert.not.ok(rows.has(i), `call ${i} twice`);
        rows.set(i, { v: m.values[k], e: errs.get(k) });
      });
    }
    assert.is(rows.size, n);
    for (let i = 0; i < n; i++) if (i !== 5) assert.is(rows.get(i)!.v, i / 2);
    const e = rows.get(5)!.e!;
    assert.equal([e.code, e.name], ["TaskFailed", "TypeError"]);
    assert.match(e.stack, "TypeError: five");
    assert.match(e.worker, /^local-[01]$/);
    const b = sub.msgs.filter((m) => m.name === "best-1").flatMap((m) => m.index.map((i, k) => [i, m.values[k]]));
    assert.equal(b.sort(), [[0, -2], [1, -4], [2, -1], [3, -4]]);
    const codeOf = (p: Promise<unknown>) => p.then(() => "resolved", (err: Error & { code?: string }) => err.code);
    assert.is(await codeOf(parallel({ backend: "local", nJobs: 1, publish: "x" }, [delayed(half)(1)])), "BadOption");
    assert.is(await codeOf(parallel({ client, publish: "x.y" }, [delayed(half)(1)])), "BadOutputName");
  } finally {
    await sub.close();
  }
});

t.run();
