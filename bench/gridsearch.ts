/**
 * bench/gridsearch: the story's grid search — 5 candidates × 3 folds = 15 fits of
 * ml-logistic-regression on a seeded synthetic set (1,500 × 20, 3 classes), scoring f1_weighted —
 * in one process (the same fits in a loop, as scikit-learn with n_jobs=1) and with gridSearchCV on
 * the cluster (`ts-dask up --nprocs 2`). Alternated, medians of BENCH_RUNS rounds (default 5).
 * Cluster start-up excluded; scatter included (X differs by a hair per run, so it is uploaded and
 * fetched each time). Bar (issue 5): ≥ 1.6× one process.
 *
 * Environment: BENCH_RUNS, BENCH_STEPS (gradient steps per fit, default 250).
 */
import { Client } from "../index.ts";
import { f1Weighted, gridSearchCV, stratifiedKFold } from "../workloads/index.ts";
import { makeClassification, standardize } from "../examples/grid-search/data.ts";
import { makeLogReg } from "../examples/grid-search/models.ts";
import { median, report, runs, startUp } from "./lib.ts";

const steps = Number(process.env.BENCH_STEPS ?? 250);
const grid = { learningRate: [0.001, 0.003, 0.01, 0.03, 0.1], numSteps: [steps] };
const base = makeClassification({ n: 1500, features: 20, informative: 8, classes: 3, seed: 11 });
const X0 = standardize(base.X);
const y = base.y;
const dataFor = (salt: number) => X0.map((row, i) => (i === 0 ? [row[0]! + salt * 1e-12, ...row.slice(1)] : row));

const up = await startUp(["--nprocs", "2"]);
const client = await Client.connect(up.url, { cluster: up.cluster });
const models = await client.importModule<typeof import("../examples/grid-search/models.ts")>("../examples/grid-search/models.ts");

/** The same 15 fits, one after another, in this process. */
function oneProcess(X: number[][]): number {
  const splits = stratifiedKFold(y, 3, { seed: 0 });
  let best = -Infinity;
  for (const learningRate of grid.learningRate) {
    let sum = 0;
    for (const s of splits) {
      const est = makeLogReg({ learningRate, numSteps: steps });
      est.fit(Array.from(s.train, (i) => X[i]!), Array.from(s.train, (i) => y[i]!));
      const pred = est.predict!(Array.from(s.test, (i) => X[i]!)) as number[];
      sum += f1Weighted(Array.from(s.test, (i) => y[i]!), pred);
    }
    best = Math.max(best, sum / splits.length);
  }
  return best;
}

try {
  // warm-up: bundle and load the module on the executors, JIT here
  await gridSearchCV(models.makeLogReg, { learningRate: [0.01], numSteps: [5] }, X0, y, { client, cv: 3, refit: false });
  makeLogReg({ learningRate: 0.01, numSteps: 5 }).fit(X0, y);
  const times: Record<string, number[]> = { "one process": [], "cluster (2 executors)": [] };
  const scores: Record<string, number[]> = { "one process": [], "cluster (2 executors)": [] };
  let salt = 1;
  for (let r = 0; r < runs(); r++) {
    const order = r % 2 ? ["cluster (2 executors)", "one process"] : ["one process", "cluster (2 executors)"];
    for (const name of order) {
      const X = dataFor(salt++);
      const t0 = performance.now();
      const score =
        name === "one process"
          ? oneProcess(X)
          : (await gridSearchCV(models.makeLogReg, grid, X, y, { client, cv: 3, scoring: "f1_weighted", refit: false, seed: 0 })).bestScore;
      times[name]!.push((performance.now() - t0) / 1000);
      scores[name]!.push(score);
      console.error(`round ${r + 1}: ${name}: ${times[name]!.at(-1)!.toFixed(2)} s (best f1_weighted ${score.toFixed(4)})`);
    }
  }
  const one = median(times["one process"]!);
  const cl = median(times["cluster (2 executors)"]!);
  report({
    bench: "gridsearch",
    fits: 15,
    rows: 1500,
    features: 20,
    stepsPerFit: steps,
    runs: runs(),
    secondsMedian: { "one process": Number(one.toFixed(3)), "cluster (2 executors)": Number(cl.toFixed(3)) },
    speedup: Number((one / cl).toFixed(2)),
    sameBestScore: scores["one process"]!.every((s, i) => Math.abs(s - scores["cluster (2 executors)"]![i]!) < 1e-6),
    bar: { speedup: ">= 1.6" },
    pass: one / cl >= 1.6,
    allRuns: Object.fromEntries(Object.entries(times).map(([k, v]) => [k, v.map((x) => Number(x.toFixed(3)))])),
  });
} finally {
  await client.close();
  await up.stop();
}
