/** The embedded default (Client.connect() with no address) leaves no process behind. */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fileURLToPath } from "node:url";
import { Client } from "../index.ts";
import { isAlive } from "../runtime/platform.ts";
import { childExit, waitFor, waitForLine, withTimeout } from "./helpers/cluster.ts";

const allGone = (pids: number[]) => () => pids.every((p) => !isAlive(p));

test("close() stops nats-server and every executor", async () => {
  const client = await withTimeout(Client.connect(undefined, { local: { nprocs: 2 } }), 60_000, "embedded start");
  const pids = client.localCluster!.pids();
  assert.is(pids.length, 3, "nats-server and two executors");
  assert.ok(pids.every(isAlive));
  assert.is(await client.submit((x: number) => x + 1, 1).result(), 2);
  await withTimeout(client.close(), 30_000, "close");
  await waitFor(allGone(pids), { timeoutMs: 10_000, label: "embedded processes to exit" });
});

test("close() removes the worker directory of a private cluster (uploads, shipped modules)", async () => {
  const client = await withTimeout(Client.connect(undefined, { local: { nprocs: 1, quiet: true } }), 60_000, "embedded start");
  const dir = join(tmpdir(), "ts-dask", client.localCluster!.cluster);
  const mod = await client.importModule<typeof import("./fixtures/modules/procs.ts")>("./fixtures/modules/procs.ts", { from: import.meta.url });
  assert.is(typeof (await client.submit(mod.score, 3, 2).result()), "number");
  assert.ok(existsSync(join(dir, "modules")), "the shipped module was written under the worker directory");
  await withTimeout(client.close(), 30_000, "close");
  assert.not.ok(existsSync(dir), `${dir} left behind`);
});

test("a client killed with SIGKILL takes its embedded cluster with it", async () => {
  const script = fileURLToPath(new URL("./fixtures/embedded/hold.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", script], { stdio: ["ignore", "pipe", "inherit"] });
  const line = await waitForLine(child.stdout!, /"pids"/, { timeoutMs: 60_000, label: "the child's PIDs" });
  const { pids } = JSON.parse(line) as { pids: number[] };
  assert.is(pids.length, 3);
  child.kill("SIGKILL");
  await childExit(child);
  await waitFor(allGone(pids), { timeoutMs: 15_000, label: "orphaned nats-server and executors to exit" });
});

test.run();
