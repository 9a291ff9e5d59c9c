/**
 * scikit-learn's GridSearchCV on ts-dask: every (parameter combination × fold) fit is one task,
 * X and y are scattered once, scores are computed from the returned predictions, and the best
 * combination is refitted on all the data.
 */
import { pathToFileURL } from "node:url";
import { getModuleRef } from "../../runtime/shipping/index.ts";
import { effectiveOptions, openBackend, type BackendOptions } from "../backends/resolve.ts";
import { cvWrapper } from "../backends/wrappers.ts";
import { delayed, type Delayed } from "../delayed.ts";
import { Engine, type EngineStats } from "../engine.ts";
import { Errors } from "../../runtime/errors.ts";
import { outcomes } from "../parallel.ts";
import { formatParams, type ProgressOptions } from "../progress.ts";
import type { FitOutput, FitRequest } from "./cv-task.ts";
import type { Estimator, EstimatorFactory, Features } from "./estimator.ts";
import { kFold, stratifiedKFold, type Split } from "./folds.ts";
import { expandGrid, type ParamGrid } from "./param-grid.ts";
import { accuracy, r2, resolveScoring, type Scorer, type ScoringFn, type ScoringName } from "./scoring.ts";

/** Options of {@link gridSearchCV}. */
export interface GridSearchOptions extends BackendOptions, ProgressOptions {
  /** Folds (default 5), or explicit splits. */
  cv?: number | readonly Split[];
  /** A scorer name or `(yTrue, yPred) => number` (greater is better). Default: the estimator's own score(), else accuracy (classification) or r2. */
  scoring?: ScoringName | ScoringFn;
  /** Fit the best combination on all the data and return it as `bestEstimator` (default true). */
  refit?: boolean;
  /** Also score the training folds (`cvResults.meanTrainScore`…; default false). */
  returnTrainScore?: boolean;
  /** Seed of the fold shuffle (default 0). */
  seed?: number;
  /** Shuffle rows before making folds (default true). */
  shuffle?: boolean;
  /** Stratified folds (default: true for classification — a classification scorer, or integer labels with ≤ 50 classes). */
  stratified?: boolean;
  /** A fit that throws: `"raise"` (default) stops the search; a number (e.g. NaN) becomes that fit's score. */
  errorScore?: "raise" | number;
  /** More values to scatter (X and y always are). */
  scatter?: readonly unknown[];
  /** Fits in flight at once (default "2*n_jobs"). */
  preDispatch?: string | number;
  /** Filled in with the run's counters. */
  stats?: Partial<EngineStats>;
}

/** Per-combination results, as scikit-learn's `cv_results_` (camelCase columns; times in ms). */
export interface CvResults<P> {
  params: P[];
  meanTestScore: number[];
  stdTestScore: number[];
  rankTestScore: number[];
  /** [combination][fold] */
  splitTestScores: number[][];
  meanTrainScore?: number[];
  stdTrainScore?: number[];
  splitTrainScores?: number[][];
  meanFitTimeMs: number[];
  stdFitTimeMs: number[];
  meanScoreTimeMs: number[];
}

/** What {@link gridSearchCV} returns. */
export interface GridSearchResult<P, E> {
  bestParams: P;
  bestScore: number;
  bestIndex: number;
  /** The best combination fitted on all the data (in this process), unless `refit: false`. */
  bestEstimator?: E;
  refitTimeMs?: number;
  cvResults: CvResults<P>;
  nSplits: number;
  /** The scorer used (its name). */
  scorer: string;
}

/**
 * Searches `paramGrid` by cross-validation: every combination is fitted on every fold (one task
 * each), scored, and ranked by mean test score (ties: the first combination).
 *
 * The factory is an export of a module loaded with `client.importModule()` or {@link importModule}:
 * it runs on the workers, and here for the refit.
 *
 * @example
 * const models = await client.importModule<typeof import("./models.ts")>("./models.ts");
 * const cv = await gridSearchCV(models.makeLogReg, { learningRate: [0.001, 0.01, 0.1] }, X, y,
 *                               { cv: 3, scoring: "f1_weighted", verbose: true, client });
 * cv.bestParams; cv.bestScore; cv.cvResults; cv.bestEstimator?.predict(Xnew);
 */
export async function gridSearchCV<P extends Record<string, unknown>, E extends Estimator>(
  estimatorFactory: EstimatorFactory<P, E>,
  paramGrid: ParamGrid,
  X: Features,
  y: ArrayLike<number>,
  opts: GridSearchOptions = {},
): Promise<GridSearchResult<P, E>> {
  const o = effectiveOptions(opts);
  if (!Array.isArray(X) || X.length !== y.length) throw Errors.BadOption("X, y", `${X?.length} rows, ${y?.length} labels`, "X as rows (number[][]) and y with one value per row");
  const yArr = Array.from(y);
  const candidates = expandGrid(paramGrid) as P[];
  if (!candidates.length) throw Errors.NoCandidates("gridSearchCV");
  const scorer: Scorer | undefined = o.scoring !== undefined ? resolveScoring(o.scoring) : undefined;
  const classification = o.stratified ?? scorer?.classification ?? looksLikeLabels(yArr);
  const splits =
    typeof o.cv === "object"
      ? o.cv
      : classification
        ? stratifiedKFold(yArr, o.cv ?? 5, { seed: o.seed, shuffle: o.shuffle })
        : kFold(yArr.length, o.cv ?? 5, { seed: o.seed, shuffle: o.shuffle });
  const k = splits.length;
  const total = candidates.length * k;
  const fit = await cvWrapper(estimatorFactory);
  const want = (s: Split): FitRequest => ({ train: s.train, test: s.test, mode: scorer ? "predict" : "auto", trainScores: !!o.returnTrainScore });
  const calls: Delayed[] = [];
  for (const p of candidates) for (const s of splits) calls.push(delayed(fit as (...a: unknown[]) => FitOutput)(p, want(s), X, yArr));

  const { backend, release } = await openBackend(o);
  const engine = new Engine(backend, calls, {
    ...o,
    batchSize: 1,
    total,
    scatter: [...(o.scatter ?? []), X, yArr],
  });
  engine.progress.line(`Fitting ${k} folds for each of ${candidates.length} candidates, totalling ${total} fits`);
  const test = candidates.map(() => new Array<number>(k).fill(NaN));
  const train = candidates.map(() => new Array<number>(k).fill(NaN));
  const fitMs = candidates.map(() => new Array<number>(k).fill(NaN));
  const scoreMs = candidates.map(() => new Array<number>(k).fill(NaN));
  const fallback = classification ? accuracy : r2;
  try {
    for await (const b of engine.run()) {
      for (const [index, value, error] of outcomes(b)) {
        const c = Math.floor(index / k);
        const f = index % k;
        if (error) {
          if (o.errorScore === undefined || o.errorScore === "raise") throw Errors.FitFailed(formatParams(candidates[c]), f, error);
          test[c]![f] = train[c]![f] = o.errorScore;
          continue;
        }
        const r = value as FitOutput;
        const s = splits[f]!;
        const score = (pred: number[] | undefined, own: number | undefined, rowsIdx: Uint32Array) =>
          pred ? (scorer?.fn ?? fallback)(Array.from(rowsIdx, (i) => yArr[i]!), pred) : own!;
        test[c]![f] = score(r.testPred, r.testScore, s.test);
        if (o.returnTrainScore) train[c]![f] = score(r.trainPred, r.trainScore, s.train);
        fitMs[c]![f] = r.fitMs;
        scoreMs[c]![f] = r.scoreMs;
      }
    }
  } finally {
    if (opts.stats) Object.assign(opts.stats, engine.stats);
    await release();
  }

  const meanTest = test.map(mean);
  const rank = rankMin(meanTest);
  let bestIndex = 0;
  for (let i = 1; i < candidates.length; i++) if (rank[i]! < rank[bestIndex]!) bestIndex = i;
  const cvResults: CvResults<P> = {
    params: candidates,
    meanTestScore: meanTest,
    stdTestScore: test.map(std),
    rankTestScore: rank,
    splitTestScores: test,
    meanFitTimeMs: fitMs.map(mean),
    stdFitTimeMs: fitMs.map(std),
    meanScoreTimeMs: scoreMs.map(mean),
  };
  if (o.returnTrainScore) {
    cvResults.meanTrainScore = train.map(mean);
    cvResults.stdTrainScore = train.map(std);
    cvResults.splitTrainScores = train;
  }
  const result: GridSearchResult<P, E> = {
    bestParams: candidates[bestIndex]!,
    bestScore: meanTest[bestIndex]!,
    bestIndex,
    cvResults,
    nSplits: k,
    scorer: scorer?.name ?? "estimator.score",
  };
  if (o.refit !== false) {
    const t0 = performance.now();
    const factory = await localFactory(estimatorFactory);
    const est = await factory(result.bestParams);
    await est.fit(X, yArr);
    result.bestEstimator = est;
    result.refitTimeMs = performance.now() - t0;
  }
  engine.progress.line(`Best params: ${formatParams(result.bestParams)}`);
  engine.progress.line(`Best score: ${result.bestScore}`);
  return result;
}

/** The real factory behind a module handle's stub (its module is side-effect free: importing it here is safe). */
async function localFactory<P, E extends Estimator>(stub: EstimatorFactory<P, E>): Promise<EstimatorFactory<P, E>> {
  const ref = getModuleRef(stub);
  if (!ref) return stub;
  const ns = (await import(pathToFileURL(ref.module.file).href)) as Record<string, unknown>;
  return ns[ref.exportName] as EstimatorFactory<P, E>;
}

/** Integer values with at most 50 distinct ones: class labels. */
function looksLikeLabels(y: number[]): boolean {
  const seen = new Set<number>();
  for (const v of y) {
    if (!Number.isInteger(v)) return false;
    seen.add(v);
    if (seen.size > 50) return false;
  }
  return true;
}

function mean(xs: number[]): number {
  return xs.reduce((s, x) => s + x, 0) / xs.length;
}

/** Population standard deviation (numpy's default, as scikit-learn reports). */
function std(xs: number[]): number {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / xs.length);
}

/** scipy's rankdata(-x, method="min"): 1 for the best; NaN ranks last. */
function rankMin(xs: number[]): number[] {
  const key = (v: number) => (Number.isNaN(v) ? -Infinity : v);
  return xs.map((v) => 1 + xs.filter((w) => key(w) > key(v)).length);
}
