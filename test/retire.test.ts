/** SIGTERM to `ts-dask worker`: running tasks finish there, queued ones move, exit 0. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Client } from "../index.ts";
import { killTree } from "../runtime/platform.ts";
import { cli, EventWatcher, stopAllCli } from "./helpers/cli.ts";
import { cleanup, startTestNats, waitFor, withTimeout } from "./helpers/cluster.ts";

test.after(async () => {
  await stopAllCli();
  await cleanup();
});

test("graceful retire: running tasks finish on the retiring worker, queued ones run elsewhere", async () => {
  const { url } = await startTestNats();
  const watch = await EventWatcher.start(url, "r");
  const sched = cli(["scheduler", "--nats", url, "--cluster", "r", "--dashboard-address", "none"]);
  await sched.waitFor(/scheduler for cluster 'r'/);
  const a = cli(["worker", url, "--cluster", "r", "--nprocs", "1", "--nthreads", "2", "--name", "A"]);
  await watch.until((e) => e.type === "executor-joined" && e.name === "A-0");
  const client = await Client.connect(url, { cluster: "r" });
  try {
    // A task that runs until `gate` exists, then says where it ran.
    const where = async (gate: string) => {
      const { existsSync } = await import("node:fs");
      while (!existsSync(gate)) await new Promise((r) => setTimeout(r, 20));
      return JSON.parse(process.env.TSDASK_EXECUTOR!).name as string;
    };
    const dir = mkdtempSync(join(tmpdir(), "ts-dask-retire-"));
    const release = join(dir, "release");
    const open = join(dir, "open");
    writeFileSync(open, "");
    const long = client.map(where, [release, release]); // running on A until released
    await waitFor(async () => (await client.info()).workers[0]?.executors[0]?.running === 2, { timeoutMs: 20_000, label: "both long tasks running" });
    const queued = client.map(where, [open, open, open, open]); // wait behind the long ones
    await client.flush();
    cli(["worker", url, "--cluster", "r", "--nprocs", "1", "--name", "B"]);
    await watch.until((e) => e.type === "executor-joined" && e.name === "B-0");
    const t0 = Date.now();
    a.proc.kill("SIGTERM");
    await a.waitFor(/retiring/);
    // The executor hands its queued tasks back when its supervisor's retire order reaches it: only
    // then may the running ones finish (a thread freed earlier would start a queued task there).
    await watch.until((e) => e.type === "executor-retiring" && e.name === "A-0");
    writeFileSync(release, "");
    assert.is(await withTimeout(a.exited, 25_000, "A to exit"), 0, "a graceful stop exits 0");
    assert.ok(Date.now() - t0 < 20_000, "within the retire timeout");
    assert.match(a.output(), "retiring");
    assert.equal(await client.gather(long), ["A-0", "A-0"], "running tasks finished where they ran");
    const moved = await withTimeout(client.gather(queued), 20_000, "queued tasks");
    assert.equal(moved, ["B-0", "B-0", "B-0", "B-0"], `queued tasks were handed back and ran on B; A said:\n${a.output()}`);
    assert.is(client.duplicates, 0);
  } finally {
    await client.close();
    await watch.close();
  }
});

test("Ctrl-C in the worker's terminal (SIGINT to each of its processes): the same graceful stop, and the scheduler logs that the worker left", async () => {
  const { url } = await startTestNats();
  const watch = await EventWatcher.start(url, "ctrlc");
  const sched = cli(["scheduler", "--nats", url, "--cluster", "ctrlc", "--dashboard-address", "none"]);
  await sched.waitFor(/scheduler for cluster 'ctrlc'/);
  const c = cli(["worker", url, "--cluster", "ctrlc", "--nprocs", "2", "--name", "C"]);
  await watch.until((e) => e.type === "executor-joined" && e.name === "C-0");
  await watch.until((e) => e.type === "executor-joined" && e.name === "C-1");
  const client = await Client.connect(url, { cluster: "ctrlc" });
  try {
    const where = async (gate: string) => {
      const { existsSync } = await import("node:fs");
      while (!existsSync(gate)) await new Promise((r) => setTimeout(r, 20));
      return JSON.parse(process.env.TSDASK_EXECUTOR!).name as string;
    };
    const gate = join(mkdtempSync(join(tmpdir(), "ts-dask-ctrlc-")), "release");
    const running = client.submit(where, gate);
    await waitFor(async () => (await client.info()).workers[0]?.executors.some((e) => e.running === 1) === true, { timeoutMs: 20_000, label: "the task running" });
    // What a terminal does on Ctrl+C: SIGINT to every process in its foreground group.
    const signalled = killTree(c.proc.pid!, "SIGINT");
    assert.ok(signalled.length >= 3, `the worker and its 2 executors were signalled: ${signalled}`);
    await c.waitFor(/retiring/);
    writeFileSync(gate, "");
    assert.is(await withTimeout(c.exited, 25_000, "C to exit"), 0, `a graceful stop exits 0:\n${c.output()}`);
    assert.match(await withTimeout(running.result(), 20_000, "the running task"), /^C-[01]$/, "the running task finished where it ran");
    assert.not.match(c.output(), /killed by SIGINT|restart/i, "executors ignore the terminal's SIGINT: none died or restarted");
    assert.is(client.duplicates, 0);
    await sched.waitFor(/worker C left/);
  } finally {
    await client.close();
    await watch.close();
  }
});

test.run();
