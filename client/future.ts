/** A handle on one task's eventual result, as Dask's `Future`. */
import { FUTURE_MARK } from "../runtime/codec.ts";
import { Errors, type TaskError } from "../runtime/errors.ts";
import { CANCELLED, ERROR, type Job, type Status } from "./jobs.ts";

/** What a Future needs from its client. */
export interface FutureOwner {
  cancelRows(job: Job, rows: number[]): void;
  /** A settled row's value (fetched from the scheduler first when it is a large result). */
  rowValue(job: Job, row: number): unknown;
  /** Lets go of the row's large result and deduplication key. */
  releaseRow(job: Job, row: number): void;
}

/**
 * A task's eventual result. Cheap (no promise until you await it): `client.map` over a million
 * items returns a million of these.
 */
export class Future<T = unknown> {
  /** @internal */
  constructor(
    private readonly owner: FutureOwner,
    /** @internal */ readonly job: Job,
    /** @internal */ readonly index: number,
  ) {}

  /** The task's key, e.g. `zoo-1042` (function name and a per-client sequence number). */
  get key(): string {
    return this.job.keyName(this.index);
  }

  /** `"pending"`, `"finished"`, `"error"` or `"cancelled"`. */
  get status(): Status {
    return this.job.statusOf(this.index);
  }

  /** True once the task finished, failed or was cancelled. */
  done(): boolean {
    return this.job.status[this.index] !== 0;
  }

  /**
   * The task's value. Rejects with a {@link TaskError}: `TaskFailed` (remote message, stack,
   * key and worker name), `TaskCancelled`, `KilledWorker`…
   */
  result(): Promise<T> {
    return new Promise((resolve, reject) =>
      this.job.onSettled(this.index, (job, i) => {
        const e = job.errors.get(i);
        if (e) reject(e);
        else resolve((job.large ? this.owner.rowValue(job, i) : job.values[i]) as T);
      }),
    );
  }

  /**
   * Lets the cluster forget this task's result: a large result not gathered yet is dropped by the
   * scheduler (a later `result()` fails with `ResultUnavailable`), and with `pure`/`key` the next
   * identical submit runs again. A value already gathered stays readable here.
   */
  release(): void {
    this.owner.releaseRow(this.job, this.index);
  }

  /** The task's error once settled (undefined when it succeeded). */
  async exception(): Promise<TaskError | undefined> {
    await new Promise<void>((r) => this.job.onSettled(this.index, () => r()));
    return this.job.errors.get(this.index);
  }

  /** Cancels the task if it has not finished: its future rejects with `TaskCancelled` at once. */
  cancel(): void {
    if (this.done()) return;
    this.job.settle(this.index, CANCELLED, undefined, Errors.TaskCancelled(this.key));
    this.owner.cancelRows(this.job, [this.index]);
  }

  /** @internal */
  get failed(): boolean {
    const s = this.job.status[this.index];
    return s === ERROR || s === CANCELLED;
  }
}

// Lets the codec name a Future nested in an argument (findUnencodable) instead of "an unknown object".
Object.defineProperty(Future.prototype, FUTURE_MARK, { value: true });
