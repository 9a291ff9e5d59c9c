/**
 * Results as a public API: the Python follower (examples/consumers/follow.py: msgpack and a raw
 * NATS socket, nothing of ts-dask) reads a live run of examples/consumers/study.ts (a second
 * client process) on a real cluster, and every row arrives once with its value or error.
 * Needs python3 with msgpack (Debian: python3-msgpack, installed by .ci/run): without it the test
 * fails and says so.
 */
import { spawn, spawnSync } from "node:child_process";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Client } from "../index.ts";
import { childExit, runExample, waitForLine, withTimeout } from "./helpers/cluster.ts";

/** A python3 that imports msgpack: Debian's first (python3-msgpack), then the one on PATH. */
function pythonWithMsgpack(): string {
  for (const py of ["/usr/bin/python3", "python3"]) {
    const r = spawnSync(py, ["-c", "import msgpack"], { stdio: "ignore" });
    if (r.status === 0) return py;
  }
  throw new Error("test/consumers.test.ts needs python3 with msgpack: apt-get install -y python3-msgpack (Debian), or pip install msgpack");
}

test("a Python follower reads every row of a named output from a live run", async () => {
  const py = pythonWithMsgpack();
  const client = await withTimeout(Client.connect(undefined, { local: { nprocs: 2, quiet: true } }), 60_000, "cluster start");
  const lc = client.localCluster!;
  const follower = spawn(py, ["examples/consumers/follow.py", "--server", lc.url, "--cluster", lc.cluster, "--name", "study-42", "--calls", "1"], {
    cwd: new URL("..", import.meta.url).pathname,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  follower.stdout!.on("data", (d: Buffer) => (out += d));
  follower.stderr!.on("data", (d: Buffer) => (err += d));
  try {
    await waitForLine(follower.stdout!, /"subscribed"/, { timeoutMs: 15_000, label: "the follower's subscription" });
    follower.stdout!.resume(); // waitForLine's readline paused the stream when it closed
    const n = 600;
    const said = await runExample("examples/consumers/study.ts", { args: [lc.url, "--cluster", lc.cluster, "--n", String(n)] });
    assert.match(said, `published ${n} rows on output 'study-42' (1 failed)`);
    const { code } = await withTimeout(childExit(follower), 30_000, "the follower to see the whole call").catch((e: Error) => {
      throw new Error(`${e.message}; it printed ${out.split("\n").length} lines, the last: ${out.trim().split("\n").pop()}; stderr: ${err}`);
    });
    assert.is(code, 0, `follower exited with ${code}: ${err}`);
    const lines = out.trim().split("\n").map((l) => JSON.parse(l) as Record<string, any>);
    const rows = lines.filter((l) => "index" in l);
    assert.is(rows.length, n, "every row once");
    assert.is(new Set(rows.map((r) => r.index)).size, n);
    for (const r of rows) {
      assert.is(r.key, r.job + r.index);
      if (r.index === 13) {
        assert.is(r.error.code, "TaskFailed");
        assert.is(r.error.name, "RangeError");
        assert.match(r.error.message, "candidate 13 is unlucky");
        assert.match(r.error.stack, "RangeError: candidate 13 is unlucky");
        assert.match(r.error.worker, /^local-[01]$/);
        continue;
      }
      assert.equal(r.value, { candidate: r.index, score: Math.sqrt(r.index), label: `c${r.index}`, weights: [r.index, r.index / 2] }, `row ${r.index}`);
    }
    const done = lines.find((l) => "complete" in l)!.complete;
    assert.equal([done.total, done.errors], [n, 1]);
  } finally {
    if (follower.exitCode === null) follower.kill();
    await client.close();
  }
});

test.run();
