/**
 * The client's table of futures, as plain columns per job (one job = one submit or map call):
 * a million futures cost a status byte, a result slot and a small Future object each, with no
 * promise created unless someone awaits that one future.
 */
import type { Encoded } from "../runtime/codec.ts";
import type { TaskError } from "../runtime/errors.ts";
import type { FnDef, ModuleDef, Resources } from "../runtime/protocol.ts";

/** Rows [from, to) of a job; row r's arguments are cols[j][r] for each column, then consts. */
export interface Piece {
  job: Job;
  fn: FnDef;
  module?: ModuleDef;
  cols: ArrayLike<unknown>[];
  /**
   * The shared arguments (map's `args`), each encoded once by map(): every message of the call
   * carries these bytes. The job's own array: a large one is swapped for its reference in place
   * (client/large-values.ts).
   */
  consts?: Encoded[];
  /** Per-task timeout in ms. */
  timeout?: number;
  /** Dispatch priority (TaskOptions.priority). */
  priority?: number;
  /** Worker resources each row holds (TaskOptions.resources). */
  resources?: Resources;
  /** A re-submission (see Submit.resync). */
  resync?: boolean;
  /**
   * A one-row piece's arguments (one per column), encoded by submit() when it checked them: the
   * message carries these bytes instead of encoding `cols` again, and a large one is stored apart
   * from them (client/large-values.ts). Absent when the row's values changed since (futures, references).
   */
  enc?: Encoded[];
  from: number;
  to: number;
}

export const PENDING = 0;
export const FINISHED = 1;
export const ERROR = 2;
export const CANCELLED = 3;

export type Status = "pending" | "finished" | "error" | "cancelled";
const STATUS: Status[] = ["pending", "finished", "error", "cancelled"];

type Waiter = (job: Job, index: number) => void;

/**
 * Row → error. Rows failed all at once ({@link Job.failPending}: the client closed) get theirs
 * made when first read: closing a client with 2.5 × 10^6 pending futures made as many errors,
 * stack traces and all (over a minute), though almost none is ever looked at.
 */
class RowErrors extends Map<number, TaskError> {
  private lazy: ((i: number) => TaskError) | undefined;
  private lazyRows = 0;
  constructor(private readonly status: Uint8Array) {
    super();
  }

  /** Rows with status ERROR and no error yet get `make(i)`'s when read. */
  failLazily(make: (i: number) => TaskError, rows: number): void {
    this.lazy = make;
    this.lazyRows += rows;
  }

  override get(i: number): TaskError | undefined {
    const e = super.get(i);
    if (e || !this.lazy || this.status[i] !== ERROR) return e;
    const made = this.lazy(i);
    super.set(i, made);
    this.lazyRows--;
    return made;
  }

  override has(i: number): boolean {
    return super.has(i) || (!!this.lazy && this.status[i] === ERROR);
  }

  override get size(): number {
    return super.size + this.lazyRows;
  }
}

export class Job {
  readonly status: Uint8Array;
  readonly values: unknown[];
  readonly errors: Map<number, TaskError>;
  /** Scheduler slot of each row once acknowledged (for cancel), 0xffffffff before. */
  readonly slots: Uint32Array;
  remaining: number;
  /** What was submitted (to resubmit a row for `retries`). */
  piece?: Omit<Piece, "from" | "to">;
  /** Rows whose value is a large result held by the scheduler until gathered (client/large-values.ts). */
  large = 0;
  /** Retries per row (TaskFailed / TaskTimeout), and how many each row has left (lazily). */
  retries = 0;
  private retriesLeft: Uint8Array | undefined;
  private waiters: Map<number, Waiter[]> | undefined;
  private listeners: Set<Waiter> | undefined;
  private whenDone: (() => void)[] = [];

  constructor(
    /** First client key of the job; row i has key base + i. */
    readonly base: number,
    readonly size: number,
    /** Function name, for task keys in messages (e.g. `zoo-1042`). */
    readonly name: string,
  ) {
    this.status = new Uint8Array(size);
    this.errors = new RowErrors(this.status);
    this.values = new Array(size);
    this.slots = new Uint32Array(size).fill(0xffffffff);
    this.remaining = size;
  }

  /** Uses one retry of row i if it has any left. */
  takeRetry(i: number): boolean {
    if (this.retries <= 0) return false;
    this.retriesLeft ??= new Uint8Array(this.size).fill(Math.min(255, this.retries));
    if (this.retriesLeft[i] === 0) return false;
    this.retriesLeft[i]!--;
    return true;
  }

  keyName(i: number): string {
    return `${this.name || "task"}-${this.base + i}`;
  }

  statusOf(i: number): Status {
    return STATUS[this.status[i]!]!;
  }

  /** Settles row i once; returns false when it was settled already (a duplicate result). */
  settle(i: number, status: number, value: unknown, error?: TaskError): boolean {
    if (this.status[i] !== PENDING) return false;
    this.status[i] = status;
    if (error) this.errors.set(i, error);
    else this.values[i] = value;
    this.remaining--;
    const w = this.waiters?.get(i);
    if (w) {
      this.waiters!.delete(i);
      for (const f of w) f(this, i);
    }
    if (this.listeners) for (const l of this.listeners) l(this, i);
    if (this.remaining === 0) for (const f of this.whenDone.splice(0)) f();
    return true;
  }

  /** Fails every pending row with `make(row)`'s error, made only when that row's error is read. */
  failPending(make: (i: number) => TaskError): void {
    let n = 0;
    for (let i = 0; i < this.size; i++) if (this.status[i] === PENDING) n++;
    if (n === 0) return;
    (this.errors as RowErrors).failLazily(make, n);
    for (let i = 0; i < this.size; i++) if (this.status[i] === PENDING) this.settle(i, ERROR, undefined);
  }

  /** Calls `f` once row i is settled (at once if it is). */
  onSettled(i: number, f: Waiter): void {
    if (this.status[i] !== PENDING) return f(this, i);
    this.waiters ??= new Map();
    const l = this.waiters.get(i);
    if (l) l.push(f);
    else this.waiters.set(i, [f]);
  }

  /** Calls `f` for every row settled from now on; returns an unsubscribe function. */
  listen(f: Waiter): () => void {
    (this.listeners ??= new Set()).add(f);
    return () => this.listeners?.delete(f);
  }

  /** Resolves when every row is settled. */
  done(): Promise<void> {
    if (this.remaining === 0) return Promise.resolve();
    return new Promise((r) => this.whenDone.push(r));
  }
}

/** Finds the job of a client key; jobs are appended in key order, so a binary search works. */
export class JobIndex {
  private readonly jobs: Job[] = [];
  private last: Job | undefined;

  add(job: Job): void {
    this.jobs.push(job);
  }

  find(key: number): Job | undefined {
    const l = this.last;
    if (l && key >= l.base && key < l.base + l.size) return l;
    let lo = 0;
    let hi = this.jobs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const j = this.jobs[mid]!;
      if (key < j.base) hi = mid - 1;
      else if (key >= j.base + j.size) lo = mid + 1;
      else return (this.last = j);
    }
    return undefined;
  }

  /** Drops finished jobs from the index (their futures keep them alive for the user). */
  prune(): void {
    let w = 0;
    for (const j of this.jobs) if (j.remaining > 0) this.jobs[w++] = j;
    this.jobs.length = w;
    this.last = undefined;
  }

  pending(): Job[] {
    return this.jobs.filter((j) => j.remaining > 0);
  }
}
