/**
 * Chaos: during a 2,000-task run of mixed durations, kill -9 in turn an executor, a whole worker,
 * the scheduler and the nats-server, each after a seeded number of results. Every future must
 * resolve exactly once with the right value. Replay a failure with CHAOS_SEED=<printed seed>.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Client } from "../index.ts";
import { startNatsServer, type NatsServer } from "../runtime/nats-server.ts";
import { isAlive } from "../runtime/platform.ts";
import { cli, EventWatcher, stopAllCli, type CliProcess } from "./helpers/cli.ts";
import { waitFor, withTimeout } from "./helpers/cluster.ts";

const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 100_000);
console.log(`chaos seed: ${seed} (replay with CHAOS_SEED=${seed})`);
let state = seed;
const rand = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);

let nats: NatsServer | undefined;
test.after(async () => {
  await stopAllCli();
  await nats?.stop();
});

test("kill -9 an executor, a worker, the scheduler and nats-server during a run: every future resolves once, correctly", async () => {
  nats = await startNatsServer();
  const port = nats.port;
  const url = nats.url;
  const dir = mkdtempSync(join(tmpdir(), "ts-dask-chaos-"));
  const log = join(dir, "executions.log");
  const watch = await EventWatcher.start(url, "chaos");
  let sched: CliProcess = cli(["scheduler", "--nats", url, "--cluster", "chaos", "--dashboard-address", "none"]);
  await sched.waitFor(/scheduler for cluster 'chaos'/);
  const workerArgs = (name: string) => ["worker", url, "--cluster", "chaos", "--nprocs", "2", "--name", name, "--death-timeout", "60"];
  let workerA = cli(workerArgs("A"));
  cli(workerArgs("B"));
  await watch.until((e) => e.type === "executor-joined", 4);
  await watch.close();

  const client = await Client.connect(url, { cluster: "chaos" });
  try {
    const n = 2000;
    const xs = Array.from({ length: n }, (_, i) => i);
    const durations = xs.map(() => Math.floor(rand() * 12));
    const task = async (x: number, ms: number, file: string) => {
      const { appendFileSync: append } = await import("node:fs");
      append(file, `${x}\n`);
      await new Promise((r) => setTimeout(r, ms));
      return x * 7 + 1;
    };
    const fs = client.map(task, xs, durations, xs.map(() => log));
    // Counted where duplicates happen, at the message level: every result row the client receives
    // either settles its future (`resolved`, once per key) or is dropped and counted.
    const { resolved: resolved0, duplicates: duplicates0, forged: forged0, received: received0 } = client;
    const resolvedNow = () => client.resolved - resolved0;
    const counting = fs.map((f) => f.exception());
    const at = (frac: number) => Math.floor(n * frac);
    const points = [0.1, 0.3, 0.5, 0.7].map((base) => at(base + rand() * 0.08));
    const reach = (k: number) => waitFor(() => resolvedNow() >= k, { timeoutMs: 90_000, label: `${k} results` });

    // 1. one executor of worker A
    await reach(points[0]!);
    const info = await client.info();
    const execPid = info.workers.find((w) => w.name === "A")!.executors[0]!.pid;
    process.kill(execPid, "SIGKILL");
    // 2. the whole of worker A (supervisor and executors), then a replacement with the same name
    await reach(points[1]!);
    const aPids = (await client.info()).workers.find((w) => w.name === "A")!.executors.map((e) => e.pid);
    workerA.proc.kill("SIGKILL");
    for (const p of aPids) if (isAlive(p)) process.kill(p, "SIGKILL");
    await workerA.exited;
    workerA = cli(workerArgs("A"));
    // 3. the scheduler, then a new one
    await reach(points[2]!);
    sched.proc.kill("SIGKILL");
    await sched.exited;
    sched = cli(["scheduler", "--nats", url, "--cluster", "chaos", "--dashboard-address", "none"]);
    await sched.waitFor(/scheduler for cluster 'chaos'/);
    // 4. the NATS server itself, restarted on the same port
    await reach(points[3]!);
    process.kill(nats.pid, "SIGKILL");
    await nats.exited;
    nats = await startNatsServer({ port });

    await withTimeout(Promise.all(counting), 120_000, "every future to resolve");
    const values = await client.gather(fs);
    assert.equal(values, xs.map((x) => x * 7 + 1));
    assert.is(resolvedNow(), n, "each key settled its future exactly once");
    const received = client.received - received0;
    const duplicates = client.duplicates - duplicates0;
    assert.is(received, n + duplicates + (client.forged - forged0), "every other row received was dropped and counted (duplicates, forged)");
    const executions = new Uint32Array(n);
    for (const line of readFileSync(log, "utf8").split("\n")) if (line) executions[Number(line)]!++;
    const missing = xs.filter((x) => executions[x] === 0);
    assert.equal(missing, [], "every task ran at least once");
    const extra = executions.reduce((a, b) => a + b, 0) - n;
    console.log(`chaos: ${extra} re-run(s) after 4 kills; ${received} result rows received, ${duplicates} duplicate(s) dropped; ${client.resubmitted} re-submitted; kill points ${points.join(", ")}`);
  } finally {
    await client.close();
  }
});

test.run();
