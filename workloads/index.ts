/**
 * The story's workloads on ts-dask: joblib-style {@link parallel}/{@link delayed} with automatic
 * batching, bounded pre-dispatch and scatter, on local processes or the cluster with one switch;
 * {@link best} (streaming top-k with checkpoints); {@link gridSearchCV} (cross-validated grid search).
 *
 * @example
 * import { parallel, delayed, best, gridSearchCV } from "ts-dask";
 * const res = await parallel({ backend: "cluster", client, scatter: [refData] }, candidates.map((c) => delayed(procs.myProc)(c, refData)));
 */
export { delayed, isDelayed, type Delayed, type DelayedResult } from "./delayed.ts";
export { parallel, parallelStream, type ParallelOptions } from "./parallel.ts";
export { type CallSource, type DispatchOptions, type EngineStats, parsePreDispatch } from "./engine.ts";
export { AutoBatcher, TARGET_BATCH_MS } from "./batch-size.ts";
export { withBackend, type BackendOptions, type BackendDefaults } from "./backends/resolve.ts";
export type { Backend, BatchHandle, PreparedFn } from "./backends/types.ts";
export { ClusterBackend } from "./backends/cluster.ts";
export { LocalPool, type LocalPoolOptions } from "./local/pool.ts";
export { importModule } from "./modules.ts";
export { ItemError } from "../runtime/errors.ts";
export { formatTime, type Baseline, type ProgressOptions as WorkloadProgressOptions } from "./progress.ts";
export { best, type BestOptions, type BestStats, type Scored } from "./best/best.ts";
export { gridSearchCV, type GridSearchOptions, type GridSearchResult, type CvResults } from "./grid/grid-search.ts";
export type { Estimator, EstimatorFactory, Features } from "./grid/estimator.ts";
export { expandGrid, type ParamGrid, type ParamGridSpec } from "./grid/param-grid.ts";
export { kFold, stratifiedKFold, type Split, type FoldOptions } from "./grid/folds.ts";
export { accuracy, f1Macro, f1Weighted, negMeanSquaredError, r2, type ScoringFn, type ScoringName } from "./grid/scoring.ts";
