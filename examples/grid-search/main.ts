/**
 * The story's grid search: scikit-learn's
 *   GridSearchCV(LogisticRegression(...), {"C": 10.0 ** np.arange(-2, 3)}, cv=3, scoring="f1_weighted")
 * with mljs models on ts-dask. Every (parameters × fold) fit is one task; X and y are scattered once.
 *
 *   npx tsx examples/grid-search/main.ts                    # private local cluster
 *   npx tsx examples/grid-search/main.ts nats://host:4222   # a running cluster (--cluster NAME)
 *   npx tsx examples/grid-search/main.ts --local            # this machine's processes, no cluster
 *
 * Environment: GRID_N (rows of the synthetic set, default 600), GRID_STEPS (logistic regression
 * gradient steps, default 400).
 */
import { Client, gridSearchCV, importModule, type BackendOptions } from "ts-dask";
import { iris, makeClassification, standardize } from "./data.ts";

const args = process.argv.slice(2);
const address = args.find((a) => !a.startsWith("--") && args[args.indexOf(a) - 1] !== "--cluster");
const cluster = args.includes("--cluster") ? args[args.indexOf("--cluster") + 1] : undefined;
const local = args.includes("--local");
const n = Number(process.env.GRID_N ?? 600);
const steps = Number(process.env.GRID_STEPS ?? 400);

const client = local ? undefined : await Client.connect(address, { cluster });
try {
  // The factories run on the workers: a module handle (by reference), typed as the module.
  const models = client
    ? await client.importModule<typeof import("./models.ts")>("./models.ts")
    : await importModule<typeof import("./models.ts")>("./models.ts", { from: import.meta.url });
  const where: BackendOptions = client ? { client } : { backend: "local" };

  console.log("== iris, logistic regression (the story's search: 5 candidates × 3 folds)");
  const flowers = iris();
  const cv = await gridSearchCV(models.makeLogReg, { learningRate: [0.0001, 0.001, 0.01, 0.1, 1], numSteps: [steps] }, standardize(flowers.X), flowers.y, {
    ...where,
    cv: 3,
    scoring: "f1_weighted",
    verbose: true,
    progress: true,
    log: (line) => console.log(line),
  });
  console.log(`mean test f1_weighted per learning rate: ${cv.cvResults.meanTestScore.map((s) => s.toFixed(3)).join(", ")}`);

  console.log(`== synthetic (${n} rows, 12 features, 3 classes), decision tree vs random forest`);
  const syn = makeClassification({ n, features: 12, informative: 6, classes: 3, seed: 7 });
  const tree = await gridSearchCV(models.makeTree, { maxDepth: [2, 4, 8], minNumSamples: [3, 10] }, syn.X, syn.y, {
    ...where,
    cv: 3,
    scoring: "accuracy",
    returnTrainScore: true,
    verbose: true,
    log: (line) => console.log(line),
  });
  const forest = await gridSearchCV(models.makeForest, { nEstimators: [4, 8], maxDepth: [4, 6] }, syn.X, syn.y, {
    ...where,
    cv: 3,
    scoring: "accuracy",
    seed: 1,
  });
  console.log(`tree:   best ${JSON.stringify(tree.bestParams)} accuracy ${tree.bestScore.toFixed(3)} (train ${tree.cvResults.meanTrainScore![tree.bestIndex]!.toFixed(3)})`);
  console.log(`forest: best ${JSON.stringify(forest.bestParams)} accuracy ${forest.bestScore.toFixed(3)}`);
  const winner = forest.bestScore > tree.bestScore ? forest : tree;
  const pred = await winner.bestEstimator!.predict!(syn.X.slice(0, 10));
  console.log(`refitted best model predicts the first 10 rows: ${Array.from(pred).join(" ")} (true: ${syn.y.slice(0, 10).join(" ")})`);
} finally {
  await client?.close();
}
