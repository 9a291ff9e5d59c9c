/** What the workloads need from a place to run batches: the cluster (a Client) or local processes. */
import type { BatchOutput, BatchPayload } from "../run-rows.ts";
import type { OutputStream } from "../../client/outputs.ts";
import type { DurableOptions } from "../../client/options.ts";

/** A batch on its way: its output, or a rejection when the batch as a whole failed. */
export interface BatchHandle {
  /** Resolves with the batch's output (per-row values and errors); rejects if the batch could not run at all. */
  readonly result: Promise<BatchOutput>;
  /** Stops the batch if it has not finished (its result then rejects or is ignored). */
  cancel(): void;
}

/**
 * A place to run batches of calls. {@link ClusterBackend} (a ts-dask cluster through a Client) and
 * {@link LocalPool} (child processes of this machine) implement it; the workloads are written
 * against this interface only, so the same code runs on both.
 */
export interface Backend {
  /** Shown in verbose output: `Using backend <name> with N concurrent workers.` */
  readonly name: string;
  /** How many batches can run at once (executor threads, or local processes). */
  workers(): Promise<number>;
  /**
   * Makes `fn` runnable as a batch (`(payload, ...refs) => BatchOutput`) on this backend. Throws
   * the shipping errors (`ClosureCaptured`, `FunctionNotShippable`) for a function that cannot travel.
   */
  prepare(fn: Function): Promise<PreparedFn>;
  /** Stores `value` once where the work runs; the token stands for it in {@link run}'s `refs`. */
  scatter(value: unknown): Promise<unknown>;
  /**
   * Forgets scattered values (their tokens) once a run no longer needs them. The cluster backend
   * keeps a value the user scattered too, or that another run still uses.
   */
  release?(tokens: readonly unknown[]): void;
  /**
   * {@link release} may be called while cancelled batches still run (a run that failed or was left
   * early): true on the cluster, where a batch already dispatched holds what it read and the rest
   * are cancelled first; the local pool releases after complete runs only.
   */
  readonly releaseAnytime?: boolean;
  /** Runs one batch. `refs` are tokens from {@link scatter} (or a user's own DataRefs on the cluster). */
  run(fn: PreparedFn, payload: BatchPayload, refs: readonly unknown[]): BatchHandle;
  /**
   * A named output for rows of this run (`publish`), on backends that have NATS (the cluster's);
   * absent on the local backend.
   */
  output?(name: string, total: number, durable?: boolean | DurableOptions): OutputStream;
  /** Releases what this backend holds (stops processes it started, closes a client it opened). */
  close(): Promise<void>;
}

/** A function made ready by {@link Backend.prepare} (opaque to callers). */
export interface PreparedFn {
  /** The user function's name, for messages. */
  readonly name: string;
}
