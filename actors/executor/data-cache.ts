/**
 * Scattered values on an executor: fetched from the scheduler (`data.get`, chunks pulled a few at
 * a time), decoded once, cached by hash for every later task. Task arguments that are DataRefs
 * (top-level arguments: columns and constants) are swapped for the values before a task runs.
 */
import { decode } from "../../runtime/codec.ts";
import { DataRef } from "../../runtime/data-ref.ts";
import { Errors } from "../../runtime/errors.ts";
import { getBytes } from "../../runtime/data-transfer.ts";
import type { Subjects, TaskGroup } from "../../runtime/protocol.ts";
import type { Transport } from "../../runtime/transport.ts";

export class DataCache {
  private readonly values = new Map<string, unknown>();
  private readonly pending = new Map<string, Promise<unknown>>();
  /** Values fetched from the scheduler (each at most once per process while cached). */
  fetches = 0;
  bytesFetched = 0;

  constructor(
    private readonly tx: Transport,
    private readonly subjects: Subjects,
    private readonly worker: string,
  ) {}

  /** Starts fetching `hash` if not cached; resolves with the value. */
  fetch(hash: string): Promise<unknown> {
    if (this.values.has(hash)) return Promise.resolve(this.values.get(hash));
    let p = this.pending.get(hash);
    if (!p) {
      p = this.load(hash).finally(() => this.pending.delete(hash));
      this.pending.set(hash, p);
    }
    return p;
  }

  private async load(hash: string): Promise<unknown> {
    const bytes = await getBytes(this.tx, this.subjects.dataGet, hash, (m) => Errors.DataUnavailable(hash, this.worker, m));
    const value = decode(bytes);
    this.values.set(hash, value);
    this.fetches++;
    this.bytesFetched += bytes.byteLength;
    return value;
  }

  /**
   * Swaps DataRef arguments of the groups for their values. Returns undefined when done at once,
   * or a promise when some value must be fetched first (then the swap happens when it resolves).
   */
  resolve(groups: readonly TaskGroup[]): Promise<void> | undefined {
    const missing = new Set<string>();
    const visit = (v: unknown) => {
      if (v instanceof DataRef && !this.values.has(v.hash)) missing.add(v.hash);
    };
    for (const g of groups) {
      g.consts?.forEach(visit);
      for (const c of g.cols) c.forEach(visit);
    }
    if (missing.size === 0) return void this.swap(groups);
    return Promise.all([...missing].map((h) => this.fetch(h))).then(() => this.swap(groups));
  }

  private swap(groups: readonly TaskGroup[]) {
    const sub = (a: unknown[]) => {
      for (let i = 0; i < a.length; i++) if (a[i] instanceof DataRef) a[i] = this.values.get((a[i] as DataRef).hash);
    };
    for (const g of groups) {
      if (g.consts) sub(g.consts);
      for (const c of g.cols) sub(c);
    }
  }
}
