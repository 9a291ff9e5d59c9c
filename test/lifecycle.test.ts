/** Long tasks, client.restart(), client leases and the memory limit. */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Client, Scheduler, Supervisor } from "../index.ts";
import { silentLogger } from "../runtime/actor.ts";
import { Transport } from "../runtime/transport.ts";
import { childExit, cleanup, onCleanup, startTestNats, waitFor, waitForLine, withTimeout } from "./helpers/cluster.ts";

test.after(cleanup);

const spin = (ms: number) => {
  const end = Date.now() + ms;
  while (Date.now() < end);
  return ms;
};

test("a synchronous task longer than the heartbeat window is not taken for a dead executor", async () => {
  const client = await withTimeout(Client.connect(undefined, { local: { nprocs: 2 } }), 60_000, "start");
  onCleanup(() => client.close());
  const out = await withTimeout(client.gather(client.map(spin, [4000, 4000])), 30_000, "two 4 s tasks");
  assert.equal(out, [4000, 4000]);
  const info = await client.info();
  assert.is(info.tasks.duplicates, 0, "nothing was re-run");
  assert.is(client.duplicates, 0);
  assert.is(info.workers[0]!.executors.length, 2);

  // client.restart(): fresh executors, pending futures fail clearly.
  const before = info.workers[0]!.executors.map((e) => e.id);
  const pending = client.map((ms: number) => new Promise((r) => setTimeout(r, ms)), [20_000, 20_000, 20_000]);
  await client.flush();
  await withTimeout(client.restart(), 60_000, "restart");
  const err = await pending[0]!.exception();
  assert.is(err?.code, "Restarted");
  const after = (await client.info()).workers[0]!.executors.map((e) => e.id);
  assert.is(after.length, 2);
  assert.ok(after.every((id) => !before.includes(id)), "every executor is a new process");
  assert.is(await client.submit((x: number) => x * 3, 3).result(), 9);
});

test("a client killed with Ctrl-C (SIGINT) loses its queued and running work after the default grace period, and is no longer counted", async () => {
  const nats = await startTestNats();
  const tx = await Transport.connect({ servers: nats.url });
  const sched = await Scheduler.start(tx, { cluster: "lease", log: silentLogger }); // the default grace period (5 s)
  onCleanup(async () => {
    await sched.stop();
    await tx.close();
  });
  const worker = await Supervisor.start({ servers: nats.url, cluster: "lease", name: "w", nprocs: 1, nthreads: 1, memoryLimit: 0, deathTimeoutMs: 30_000, localDirectory: "/tmp/ts-dask-lease", log: silentLogger });
  onCleanup(() => worker.shutdown());
  await worker.ready;
  const script = fileURLToPath(new URL("./fixtures/lease/submit-and-hang.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", script, nats.url, "lease"], { stdio: ["ignore", "pipe", "inherit"] });
  await waitForLine(child.stdout!, /submitted/, { timeoutMs: 30_000, label: "the child's submit" });
  const observer = await Client.connect(nats.url, { cluster: "lease" });
  onCleanup(() => observer.close());
  const before = await observer.info();
  assert.ok(before.tasks.queued > 250, "the child's tasks are queued");
  assert.is(before.clients, 2);
  child.kill("SIGINT");
  await childExit(child);
  await waitFor(
    async () => {
      const i = await observer.info();
      return i.tasks.queued === 0 && i.tasks.assigned === 0 && i.clients === 1;
    },
    { timeoutMs: 20_000, label: "the vanished client's tasks to be dropped and its lease ended" },
  );
});

test("an executor over its memory limit is restarted; the task that does it fails as KilledWorker", async () => {
  const client = await withTimeout(Client.connect(undefined, { local: { nprocs: 1, memoryLimit: 300 * 2 ** 20 } }), 60_000, "start");
  onCleanup(() => client.close());
  const hog = async () => {
    const keep: Float64Array[] = [];
    for (;;) {
      keep.push(new Float64Array(2 ** 20).fill(1)); // 8 MiB off the JS heap, so RSS grows
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const err = await withTimeout(client.submit(hog).exception(), 120_000, "the memory hog to fail");
  assert.is(err?.code, "KilledWorker");
  assert.is(await withTimeout(client.submit((x: number) => x + 1, 1).result(), 30_000, "after the restarts"), 2);
});

test("a task that blocks its event loop while allocating off-heap memory is stopped at the limit (RSS read from outside)", async () => {
  const client = await withTimeout(Client.connect(undefined, { local: { nprocs: 1, memoryLimit: 300 * 2 ** 20 } }), 60_000, "start");
  onCleanup(() => client.close());
  // Never yields: the executor cannot report its own memory, only its supervisor can see it.
  const blockedHog = () => {
    const keep: Buffer[] = [];
    for (let i = 0; i < 64; i++) keep.push(Buffer.alloc(8 * 2 ** 20, 1)); // 512 MiB, all touched
    for (;;);
  };
  const err = await withTimeout(client.submit(blockedHog).exception(), 120_000, "the blocked hog to fail");
  assert.is(err?.code, "KilledWorker");
  assert.is(await withTimeout(client.submit((x: number) => x + 1, 1).result(), 30_000, "after the restarts"), 2);
});

test.run();
