/** The ts-dask cluster as a workloads {@link Backend}: one batch is one task of a {@link Client}. */
import { Client, type ClientOptions } from "../../client/client.ts";
// With no address, Client.connect() starts a private local cluster: this provides it (runtime/local-cluster.ts).
import "../../cluster/local.ts";
import type { OutputStream } from "../../client/outputs.ts";
import type { DurableOptions } from "../../client/options.ts";
import type { BatchOutput, BatchPayload } from "../run-rows.ts";
import type { Backend, BatchHandle, PreparedFn } from "./types.ts";
import { batchWrapper } from "./wrappers.ts";

interface ClusterFn extends PreparedFn {
  readonly task: (p: BatchPayload, ...refs: unknown[]) => BatchOutput;
}

/**
 * Runs batches as tasks of `client` (`client.submit(batchWrapper, payload, ...refs)`); scattered
 * values are broadcast scatters held for the run (`client.scatterLease`), fetched once per
 * executor, and released when the last run using them ends (not when the client closes: a
 * long-lived client running many workloads with fresh data would hold it all).
 */
export class ClusterBackend implements Backend {
  readonly name = "ts-dask";
  /** See {@link Backend.releaseAnytime}: a failed or abandoned run lets its data go too. */
  readonly releaseAnytime = true;

  /**
   * @param client the cluster to use
   * @param owned close the client in {@link close} (true when this backend connected it)
   */
  constructor(
    readonly client: Client,
    private readonly owned = false,
  ) {}

  /** Connects a new client (no address: a private local cluster), closed by {@link close}. */
  static async connect(address?: string, opts?: ClientOptions): Promise<ClusterBackend> {
    return new ClusterBackend(await Client.connect(address, opts), true);
  }

  /** Executor threads in the cluster now (at least 1). */
  async workers(): Promise<number> {
    const info = await this.client.info();
    let n = 0;
    for (const w of info.workers) for (const e of w.executors) n += e.nthreads || 1;
    return Math.max(1, n);
  }

  /** See {@link Backend.prepare}. */
  async prepare(fn: Function): Promise<ClusterFn> {
    const task = (await batchWrapper(fn)) as ClusterFn["task"];
    return { name: fn.name || "lambda", task };
  }

  /** See {@link Backend.scatter}. */
  scatter(value: unknown): Promise<unknown> {
    return this.client.scatterLease(value, { broadcast: true });
  }

  /** See {@link Backend.release}: values only runs scattered go once no run uses them. */
  release(tokens: readonly unknown[]): void {
    this.client.endScatterLease(tokens);
  }

  /** See {@link Backend.run}. */
  run(fn: PreparedFn, payload: BatchPayload, refs: readonly unknown[]): BatchHandle {
    const f = this.client.submit((fn as ClusterFn).task as (...a: unknown[]) => BatchOutput, payload, ...refs);
    // run-rows leaves unset fields out (never `undefined`, which would arrive as null): as sent.
    return { result: f.result() as Promise<BatchOutput>, cancel: () => f.cancel() };
  }

  /** See {@link Backend.output}. */
  output(name: string, total: number, durable?: boolean | DurableOptions): OutputStream {
    return this.client.openOutput(name, total, durable);
  }

  /** See {@link Backend.close}. */
  async close(): Promise<void> {
    if (this.owned) await this.client.close();
  }
}
