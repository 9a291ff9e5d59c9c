/**
 * Opt-in deduplication (`pure: true`, or an explicit `key`), per client: identical work submitted
 * while the first future is alive shares that future's task instead of running again.
 *
 * - identity: `pure` → SHA-256 of the function's hash and the msgpack encoding of the arguments
 *   (a Future argument counts by its task); `key` → the key string itself (any function);
 * - lifetime: an entry lives while its task is pending or finished and some future of its call is
 *   alive (a weak reference: nothing is kept for the table's sake); a failed or cancelled task's
 *   entry is dropped (the next submit runs it again), and so is a released future's
 *   (`future.release()`);
 * - cost: nothing unless asked; with `pure`, one encode and one hash per task.
 */
import { createHash } from "node:crypto";
import { encode } from "../runtime/codec.ts";
import { FINISHED, PENDING, type Job } from "./jobs.ts";
import { Future } from "./future.ts";

export class DedupTable {
  private readonly entries = new Map<string, { job: WeakRef<Job>; row: number }>();
  /** Row → key, per job (to drop a released future's entry). */
  private readonly byJob = new WeakMap<Job, Map<number, string>>();
  private sweepAt = 1024;

  /** The live task registered under `key`, if any. */
  get(key: string): { job: Job; row: number } | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    const job = e.job.deref();
    const st = job?.status[e.row];
    if (!job || (st !== PENDING && st !== FINISHED)) {
      this.entries.delete(key);
      return undefined;
    }
    return { job, row: e.row };
  }

  set(key: string, job: Job, row: number): void {
    this.entries.set(key, { job: new WeakRef(job), row });
    let m = this.byJob.get(job);
    if (!m) this.byJob.set(job, (m = new Map()));
    m.set(row, key);
    if (this.entries.size > this.sweepAt) this.sweep();
  }

  /** Forgets the entry of a released future. */
  drop(job: Job, row: number): void {
    const key = this.byJob.get(job)?.get(row);
    if (key === undefined) return;
    this.byJob.get(job)!.delete(row);
    const e = this.entries.get(key);
    if (e && e.job.deref() === job && e.row === row) this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }

  private sweep() {
    for (const k of [...this.entries.keys()]) this.get(k);
    this.sweepAt = Math.max(1024, this.entries.size * 2);
  }
}

/** The `pure` identity of a call: function hash + encoded arguments (Futures by their task). */
export function pureKey(fnHash: string, args: readonly unknown[], encoded?: readonly Uint8Array[]): string {
  const h = createHash("sha256").update(fnHash).update("\0");
  if (!encoded) h.update(encode(args.map((a) => (a instanceof Future ? null : a))));
  else {
    // The same bytes as encoding the array: its msgpack header, then each element's encoding.
    const n = encoded.length;
    h.update(n < 16 ? Uint8Array.of(0x90 + n) : Uint8Array.of(0xdc, n >> 8, n & 0xff));
    for (const b of encoded) h.update(b);
  }
  args.forEach((a, i) => {
    if (a instanceof Future) h.update(`\0f${i}:${a.job.base + a.index}`);
  });
  return "p:" + h.digest("base64");
}

/** The identity of an explicit key. */
export const explicitKey = (key: string) => "k:" + key;

/**
 * Plans a deduplicated map: the rows that need a task of their own (`unique`, with their `keys`),
 * and for every row either its index among them or the live task it shares.
 */
export function planMap(table: DedupTable, n: number, keyOf: (row: number) => string): { unique: number[]; keys: string[]; target: (number | { job: Job; row: number })[] } {
  const unique: number[] = [];
  const keys: string[] = [];
  const target: (number | { job: Job; row: number })[] = new Array(n);
  const local = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const k = keyOf(i);
    const hit = table.get(k);
    if (hit) {
      target[i] = hit;
      continue;
    }
    const u = local.get(k);
    if (u !== undefined) {
      target[i] = u;
      continue;
    }
    local.set(k, unique.length);
    target[i] = unique.length;
    unique.push(i);
    keys.push(k);
  }
  return { unique, keys, target };
}
