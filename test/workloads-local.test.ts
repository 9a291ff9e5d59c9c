/** The workloads suite on backend "local" (child processes of this machine, no NATS). */
import * as assert from "uvu/assert";
import { test } from "uvu";
import { delayed, LocalPool, parallel } from "../workloads/index.ts";
import { withTimeout } from "./helpers/cluster.ts";
import { workloadsSuite } from "./helpers/workloads-suite.ts";

workloadsSuite("local processes", async () => {
  const pool = await LocalPool.start({ nJobs: 2 });
  return { opts: { backend: pool }, close: () => pool.close() };
});

test('backend: "local" starts a pool for the call and stops it; a process that dies fails its batch and is replaced', async () => {
  const out = await withTimeout(parallel({ backend: "local", nJobs: 2 }, [1, 2, 3].map((x) => delayed((y: number) => y + 0.5)(x))), 60_000, "local call");
  assert.equal(out, [1.5, 2.5, 3.5]);
  const pool = await LocalPool.start({ nJobs: 1 });
  try {
    const res = await withTimeout(parallel({ backend: pool, batchSize: 1, errors: "return" }, [0, 1, 2].map((x) => delayed((y: number) => (y === 1 ? process.exit(3) : y))(x))), 60_000, "dying child");
    assert.is(res[0], 0);
    assert.match(String(res[1]), /KilledWorker|died while running a batch \(exit code 3\)/);
    assert.is(res[2], 2, "the replacement process ran the rest");
  } finally {
    await pool.close();
  }
});

test.run();
