/** The workloads examples run as a user runs them (small sizes through environment variables), and print what they promise. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { runExample } from "./helpers/cluster.ts";

const ckpt = mkdtempSync(join(tmpdir(), "ts-dask-examples-"));
test.after(() => rmSync(ckpt, { recursive: true, force: true }));

const run = (file: string, args: string[], env: Record<string, string>) => runExample(file, { args, env: { TSDASK_CHECKPOINT_DIR: ckpt, ...env }, timeoutMs: 150_000 });

test("examples/brute-force: best() over a generator on the embedded cluster, with a checkpoint", async () => {
  const out = await run("examples/brute-force/main.ts", ["--checkpoint", "example"], { BRUTE_N: "600" });
  assert.match(out, "scoring 600 candidates against 8 MB of reference data");
  assert.match(out, "Using backend ts-dask with");
  assert.match(out, /Done 600 out of 600 \| elapsed: \d+\.\ds finished \| \d+\.\d\dx a plain loop \(\d+\.\ds, estimated from 300 candidates; --compare measures it\)/);
  assert.match(out, /done in \d+\.\d s: 600 scored/);
  assert.match(out, /scattered: 1/);
  assert.match(out, /best candidates:\n(  #\d+ score -\d\.\d{4} freq [\d./]+ amp [\d./]+ phase [\d./]+\n){5}/);
  const again = await run("examples/brute-force/main.ts", ["--checkpoint", "example"], { BRUTE_N: "600" });
  assert.match(again, "600 candidates already scored");
  const best = (s: string) => /best candidates:\n((?:.*\n){5})/.exec(s)![1];
  assert.is(best(again), best(out), "the checkpoint returns the same answer");
});

test("examples/brute-force --local --compare: the plain loop measured over every candidate", async () => {
  const out = await run("examples/brute-force/main.ts", ["--local", "--compare"], { BRUTE_N: "200" });
  assert.match(out, /plain loop over 200 candidates \(--compare\): \d+\.\d s/);
  assert.match(out, "Using backend local with");
  assert.match(out, /Done 200 out of 200 \| elapsed: \d+\.\ds finished \| \d+\.\d\dx a plain loop \(\d+\.\ds, measured\)/);
  assert.match(out, /best candidates:\n {2}#\d+/);
});

test("examples/joblib-style: the same joblib code on local processes and on the cluster", async () => {
  const out = await run("examples/joblib-style/main.ts", [], { JOBLIB_N: "400" });
  assert.match(out, "Using backend local with");
  assert.match(out, "Using backend ts-dask with");
  const local = /local: 400 results, res\[42\] = (\S+)/.exec(out);
  const cluster = /cluster: 400 results, res\[42\] = (\S+);/.exec(out);
  assert.ok(local && cluster, out);
  assert.is(local![1], cluster![1]);
  assert.match(out, /1 value scattered/);
  assert.match(out, /batchSize 200, preDispatch "3\*n_jobs": \d+\.\d+ s/);
  assert.match(out, /streamed 400 results in order/);
});

test("examples/grid-search: iris and a synthetic set, mljs models, the story's log lines", async () => {
  const out = await run("examples/grid-search/main.ts", [], { GRID_N: "150", GRID_STEPS: "60" });
  assert.match(out, "Fitting 3 folds for each of 5 candidates, totalling 15 fits");
  assert.match(out, /Using backend ts-dask with \d+ concurrent workers\./);
  assert.match(out, /Done \d+ out of 15 \| elapsed: \d+\.\ds (remaining: \d+\.\ds|finished)/);
  assert.match(out, /Best params: \{ learningRate: [\d.e-]+, numSteps: 60 \}/);
  assert.match(out, /Best score: 0\.\d+/);
  assert.match(out, "Fitting 3 folds for each of 6 candidates, totalling 18 fits");
  assert.match(out, /tree: {3}best \{"maxDepth":\d+,"minNumSamples":\d+\} accuracy 0\.\d{3} \(train 0\.\d{3}\)/);
  assert.match(out, /forest: best \{"maxDepth":\d+,"nEstimators":\d+\} accuracy 0\.\d{3}/);
  assert.match(out, /refitted best model predicts the first 10 rows: (\d ){9}\d \(true: 0 1 2 0 1 2 0 1 2 0\)/);
});

test("examples/grid-search --local", async () => {
  const out = await run("examples/grid-search/main.ts", ["--local"], { GRID_N: "90", GRID_STEPS: "30" });
  assert.match(out, "Using backend local with");
  assert.match(out, /Best params: \{ learningRate: /);
});

test.run();
