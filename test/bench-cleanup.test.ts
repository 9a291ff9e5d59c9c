/**
 * A benchmark's `ts-dask up` goes away with the benchmark (bench/lib.ts spawnForBench), however the
 * benchmark ends: SIGKILL (the keeper of runtime/platform.ts spawnTethered notices its pipe
 * close), SIGTERM or SIGINT (the benchmark stops it, then exits), an uncaught error (stopped at
 * exit). Real processes: the cluster's PIDs (`up`, its nats-server, its executors) are read from
 * the process table once it is ready, and awaited gone by polling it (there is no exit event for
 * processes that are not our children), with a deadline. The same for what a benchmark starts
 * without `up`: `ts-dask` commands through test/helpers/cli.ts and forked children (forkForBench).
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { descendants, isAlive } from "../runtime/platform.ts";
import { childExit, onCleanup, cleanup, waitFor, waitForLine, withTimeout } from "./helpers/cluster.ts";

test.after(cleanup);

const PARENT = fileURLToPath(new URL("./fixtures/bench/parent.ts", import.meta.url));

/** Starts the fixture benchmark; resolves once its cluster is ready, with the PIDs of the cluster's processes. */
async function benchmark(how: "wait" | "throw") {
  const child = spawn(process.execPath, ["--import", "tsx", PARENT, how], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d));
  onCleanup(() => void (child.exitCode === null && child.signalCode === null && child.kill("SIGKILL")));
  const line = await withTimeout(waitForLine(child.stdout!, /^READY /, { timeoutMs: 90_000 }), 95_000, "the benchmark's cluster").catch((e: Error) => {
    throw new Error(`${e.message}\n${err}`);
  });
  const { up } = JSON.parse(line.slice("READY ".length)) as { up: number };
  const cluster = [up, ...descendants(up)];
  // Whatever happens below, nothing of it outlives the test.
  onCleanup(() => void cluster.forEach((p) => isAlive(p) && process.kill(p, "SIGKILL")));
  return { child, up, cluster };
}

async function allGone(cluster: number[], label: string) {
  await waitFor(() => cluster.every((p) => !isAlive(p)), { timeoutMs: 30_000, label: `${label}: the cluster's processes ${cluster.filter(isAlive).join(", ")} gone` });
}

test("kill -9 of the benchmark: its `up`, nats-server and executors are gone", async () => {
  const { child, cluster } = await benchmark("wait");
  assert.ok(cluster.length >= 3, `up, nats-server and an executor at least: ${cluster.join(", ")}`);
  child.kill("SIGKILL");
  await withTimeout(childExit(child), 10_000, "the benchmark's exit");
  await withTimeout(allGone(cluster, "after SIGKILL"), 35_000, "the cluster gone");
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  test(`${signal} to the benchmark: it stops its cluster, then exits`, async () => {
    const { child, cluster } = await benchmark("wait");
    child.kill(signal);
    const exit = await withTimeout(childExit(child), 20_000, "the benchmark's exit");
    assert.is(exit.code, signal === "SIGTERM" ? 143 : 130, "exits as killed by the signal, after stopping");
    await withTimeout(allGone(cluster, `after ${signal}`), 35_000, "the cluster gone");
  });
}

test("an uncaught error in the benchmark: its cluster is stopped at exit", async () => {
  const { child, cluster } = await benchmark("throw");
  const exit = await withTimeout(childExit(child), 20_000, "the benchmark's exit");
  assert.is(exit.code, 1);
  await withTimeout(allGone(cluster, "after the error"), 35_000, "the cluster gone");
});

test("kill -9 of the benchmark: its cli() processes and forked children (plain loops, simulated clients) are gone", async () => {
  const child = spawn(process.execPath, ["--import", "tsx", PARENT, "children"], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d));
  onCleanup(() => void (child.exitCode === null && child.signalCode === null && child.kill("SIGKILL")));
  const line = await withTimeout(waitForLine(child.stdout!, /^READY /, { timeoutMs: 90_000 }), 95_000, "the benchmark's children").catch((e: Error) => {
    throw new Error(`${e.message}\n${err}`);
  });
  const { cli, forked } = JSON.parse(line.slice("READY ".length)) as { cli: number; forked: number };
  const kids = [cli, forked];
  onCleanup(() => void kids.forEach((p) => isAlive(p) && process.kill(p, "SIGKILL")));
  assert.ok(kids.every(isAlive), `both running before the kill: ${kids.join(", ")}`);
  child.kill("SIGKILL");
  await withTimeout(childExit(child), 10_000, "the benchmark's exit");
  await withTimeout(allGone(kids, "after SIGKILL"), 35_000, "its children gone");
});

test.run();
