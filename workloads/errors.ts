/**
 * Errors of the workloads (parallel, best, gridSearchCV), as {@link TsDaskError}s with a `code`
 * and a message that says what to do, like the project's `Errors` table.
 */
import { TaskError, TsDaskError } from "../runtime/errors.ts";

/**
 * One call of a batch failed. The batch's other calls are not affected: each item keeps its own
 * error. `index` is the item's position in the input; `remoteName`/`remoteStack` are the thrown
 * error's, `worker` where it ran.
 */
export class ItemError extends TaskError {
  /** The item's position in the input (0-based). */
  readonly index: number;
  constructor(code: string, message: string, index: number, fnName: string, worker: string, remoteName = "Error", remoteStack = "", cause?: unknown) {
    super(code, message, `${fnName}[${index}]`, worker, remoteName, remoteStack, cause);
    this.index = index;
  }
}

/** The table of workload errors. */
export const WorkloadErrors = {
  /** The user's function threw for one item. */
  ItemFailed: (index: number, fnName: string, worker: string, name: string, message: string, stack: string) =>
    new ItemError("TaskFailed", `Item ${index} (${fnName}) failed on ${worker}: ${name}: ${message}`, index, fnName, worker, name, stack),
  /** The whole batch holding this item failed (its process died, the function did not load, …). */
  ItemBatchFailed: (index: number, fnName: string, cause: Error) => {
    const t = cause as Partial<TaskError> & { code?: string };
    return new ItemError(
      t.code ?? "TaskFailed",
      `Item ${index} (${fnName}) did not run: its batch failed: ${cause.message}`,
      index,
      fnName,
      t.worker ?? "",
      t.remoteName ?? cause.name,
      t.remoteStack ?? cause.stack ?? "",
      cause,
    );
  },
  BadOption: (option: string, value: unknown, expected: string) =>
    new TsDaskError("BadOption", `Option ${option} = ${safe(value)} is not valid: expected ${expected}.`),
  PoolClosed: () => new TsDaskError("PoolClosed", "The local process pool is closed; start a new one (LocalPool.start) or pass backend: \"local\"."),
  Cancelled: () => new TsDaskError("TaskCancelled", "The batch was cancelled."),
  BatchFailed: (worker: string, name: string, message: string, stack: string) =>
    new TaskError("FunctionLoadFailed", `A batch failed on ${worker}: ${name}: ${message}`, "batch", worker, name, stack),
  WorkerDied: (worker: string, code: number | null, signal: string | null) =>
    new TaskError(
      "KilledWorker",
      `Local process ${worker} died while running a batch (${signal ? `signal ${signal}` : `exit code ${code}`}); it was replaced. ` +
        `The function probably crashes or exhausts the memory of the process (process.exit, a native crash, an infinite allocation).`,
      "batch",
      worker,
    ),
  NotSerializable: (detail: string) =>
    new TsDaskError(
      "NotSerializable",
      `An argument cannot be sent to a local process: ${detail}. Supported: JSON-like values, typed arrays, Date, BigInt, Map, Set.`,
    ),
  NotAScore: (value: unknown) =>
    new TsDaskError("NotAScore", `The score function returned ${safe(value)}, not a number. Return a finite number (NaN ranks last).`),
  CheckpointMismatch: (name: string, file: string, what: string) =>
    new TsDaskError(
      "CheckpointMismatch",
      `Checkpoint '${name}' (${file}) was written by a different run: ${what} differ. ` +
        `Use another checkpoint name for a new study, or delete the file to start this one again.`,
    ),
  CheckpointCorrupt: (file: string, detail: string) =>
    new TsDaskError("CheckpointCorrupt", `Checkpoint file ${file} cannot be read: ${detail}. Delete it to start again.`),
  NoCandidates: (what: string) => new TsDaskError("NoCandidates", `${what}: nothing to evaluate (empty input).`),
  FactoryNotAModuleExport: (name: string) =>
    new TsDaskError(
      "FactoryNotAModuleExport",
      `gridSearchCV: the estimator factory '${name || "<anonymous>"}' must be an export of a module loaded with client.importModule() ` +
        `or importModule() from ts-dask: it runs on the workers and imports the ML library, so it cannot travel by source. ` +
        `Example: const models = await client.importModule<typeof import("./models.ts")>("./models.ts"); gridSearchCV(models.makeLogReg, …)`,
    ),
  FitFailed: (params: string, fold: number, cause: Error) =>
    new TsDaskError("FitFailed", `Fitting the estimator with ${params} on fold ${fold} failed: ${cause.message}`, { cause }),
};

function safe(v: unknown): string {
  try {
    if (typeof v === "function") return `a function (${v.name || "anonymous"})`;
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 80 ? s.slice(0, 77) + "..." : s;
  } catch {
    return String(v);
  }
}
