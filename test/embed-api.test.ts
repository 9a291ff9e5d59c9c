/**
 * Embedding (issue 14, part 2): startScheduler / startWorker inside another program — the
 * example with a shared NATS connection and logger, and stop() leaving no process behind.
 */
import { connect } from "nats";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Client, startScheduler, startWorker, type Logger } from "../index.ts";
import { isAlive } from "../runtime/platform.ts";
import { cleanup, runExample, startTestNats, waitFor, withTimeout } from "./helpers/cluster.ts";

test.after(cleanup);

test("examples/embed.ts: scheduler and worker inside a program, sharing its connection and logger", async () => {
  const nats = await startTestNats();
  const out = await runExample("examples/embed.ts", { args: [nats.url, "--cluster", "emb1"] });
  assert.match(out, /scheduler and worker 'svc' run inside pid \d+ \(cluster 'emb1'\)/);
  assert.match(out, "squares: 1 4 9 16");
  assert.match(out, "worker stopped (exit code 0); the shared connection is still open");
  assert.match(out, /[1-9]\d* log lines went to the host's logger/);
});

test("startScheduler({ servers }) / startWorker: tasks run; stop() ends every executor; a bad call is refused", async () => {
  const nats = await startTestNats();
  const lines: string[] = [];
  const log: Logger = { info: (m) => lines.push(m), warn: (m) => lines.push(m) };
  const sched = await startScheduler({ servers: nats.url, cluster: "emb2", log, dashboardAddress: "127.0.0.1:0" });
  assert.ok(sched.dashboard?.url.startsWith("http://127.0.0.1:"));
  const w = await withTimeout(startWorker({ servers: nats.url, cluster: "emb2", name: "emb", nprocs: 2, log }), 30_000, "worker start");
  const client = await withTimeout(Client.connect(nats.url, { cluster: "emb2" }), 30_000, "client");
  try {
    await waitFor(async () => (await client.info()).workers.flatMap((x) => x.executors).length === 2, { timeoutMs: 30_000, label: "both executors" });
    assert.equal(await withTimeout(client.gather(client.map((x: number) => x + 1, [1, 2, 3])), 30_000, "map"), [2, 3, 4]);
    const pids = w.worker.executors.map((e) => e.child?.pid).filter((p): p is number => !!p);
    assert.is(pids.length, 2);
    const outcome = await withTimeout(w.stop(), 30_000, "worker stop");
    assert.is(outcome.exitCode, 0);
    await waitFor(() => pids.every((p) => !isAlive(p)), { timeoutMs: 10_000, label: "executors to exit" });
  } finally {
    await client.close();
    await sched.stop();
  }
  const nc = await connect({ servers: nats.url });
  const codeOf = (p: Promise<unknown>) => p.then(() => "resolved", (e: Error & { code?: string }) => e.code);
  assert.is(await codeOf(startScheduler({})), "BadOption");
  assert.is(await codeOf(startScheduler({ nc, cluster: "a.b" })), "BadOption");
  await nc.close();
  assert.ok(lines.length > 0, "log lines went to the given logger");
});

test.run();
