/** client.runOnScheduler(): a shipped function run once in the scheduler process, outside the task queue. */
import * as assert from "uvu/assert";
import { TaskError } from "../index.ts";
import { clusterSuite, withTimeout } from "./helpers/cluster.ts";

const t = clusterSuite("run on scheduler", { nprocs: 1 });

/** The error a call rejects with (undefined if it resolves). */
const failure = (p: Promise<unknown>) => p.then(() => undefined, (x: unknown) => x as TaskError);

t("returns the function's value, computed in the scheduler's process (async functions awaited, arguments passed)", async ({ client }) => {
  const info = await client.info();
  assert.is(await withTimeout(client.runOnScheduler(() => process.pid), 10_000, "pid"), info.scheduler.pid);
  const sum = await client.runOnScheduler(async (a: number, b: number[]) => {
    await new Promise((r) => setTimeout(r, 1));
    return a + b.reduce((s, x) => s + x, 0);
  }, 1, [2, 3]);
  assert.is(sum, 6);
  // Outside the task queue: it answers while every executor thread is busy.
  const busy = client.submit(async () => new Promise((r) => setTimeout(() => r("done"), 1500)));
  assert.is(await withTimeout(client.runOnScheduler(() => "right away"), 1000, "while tasks run"), "right away");
  assert.is(await busy.result(), "done");
});

t("a thrown error comes back as a TaskError with the remote stack, naming the scheduler", async ({ client }) => {
  function checkOnScheduler(limit: number): never {
    throw new TypeError(`limit ${limit} is not allowed here`);
  }
  const e = await failure(client.runOnScheduler(checkOnScheduler, 7));
  assert.instance(e, TaskError);
  assert.is(e!.code, "TaskFailed");
  assert.is(e!.worker, "scheduler");
  assert.is(e!.remoteName, "TypeError");
  assert.match(e!.message, "limit 7 is not allowed here");
  assert.match(e!.remoteStack, "checkOnScheduler");
  assert.match(e!.remoteStack, "scheduler-run.test.ts");
  assert.match(e!.stack!, "remote stack (scheduler)");
});

t("a value too large for one reply fails with the table's PayloadTooLarge, not a TaskFailed of the scheduler's own RangeError", async ({ client }) => {
  const e = await failure(client.runOnScheduler(() => "x".repeat(2_000_000)));
  assert.instance(e, TaskError);
  assert.is(e!.code, "PayloadTooLarge");
  assert.is(e!.name, "TsDaskError[PayloadTooLarge]");
  assert.is(e!.worker, "scheduler");
  assert.match(e!.message, "runOnScheduler()");
});

t("a module export runs by reference on the scheduler too", async ({ client }) => {
  const procs = await client.importModule<typeof import("./fixtures/modules/procs.ts")>("./fixtures/modules/procs.ts");
  assert.equal(await withTimeout(client.runOnScheduler(procs.viaMsgpack, { a: 7 }), 10_000, "module export"), { a: 7 });
});

t.run();
