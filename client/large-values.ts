/**
 * Values above the transport's max_payload on the ordinary submit/map/gather path.
 *
 * - Arguments: the submitter encodes each batch once (map's shared `args` were encoded once by map()
 *   and go in as those bytes); only when one task's row alone does not
 *   fit does {@link LargeArgs.offload} encode that row's arguments one by one, store the largest
 *   in the scheduler's data store (`data.put`, owner `<client>/a<key>`, or `<client>/c<job>` for
 *   `map(…, { args })`) and put DataRefs in their place. Released when the task settles (the job,
 *   for shared arguments).
 * - Results: an executor stores a result too large for one message in the scheduler's data store
 *   (owner `<client>/r<key>`); the result message carries a DataRef (Results.large). The value is
 *   held by the scheduler, in memory, until gathered: the first `result()`/`gather()` fetches it in
 *   chunks, keeps it in the future and releases the scheduler's copy. Also released by
 *   `future.release()`, when every future of its call is garbage-collected, or when the client
 *   closes. A future passed as another task's argument hands over the DataRef, not the value: the
 *   value moves scheduler → executor without passing through the client.
 * - Cap: one value may be at most `maxValueBytes` (Client.connect option, default 1 GiB; the
 *   scheduler has its own), else `ValueTooLarge` / `ResultTooLarge` naming size and cap.
 */
import { createHash } from "node:crypto";
import { decodeViews, Encoded, encode, encodeLarge } from "../runtime/codec.ts";
import { ChunkError, getBytes, putBytes } from "../runtime/data-transfer.ts";
import { DataRef } from "../runtime/data-ref.ts";
import { Errors, TaskError, type ErrorCode } from "../runtime/errors.ts";
import type { Subjects } from "../runtime/protocol.ts";
import type { Transport } from "../runtime/transport.ts";
import { ERROR, type Job } from "./jobs.ts";
import type { Piece } from "./submitter.ts";

/** Default cap on one encoded value: 1 GiB. */
export const DEFAULT_MAX_VALUE_BYTES = 1024 ** 3;

/** Room left in a submit message for everything but the row's own arguments. */
const HEADROOM = 64 * 1024;
/** Arguments smaller than this are never worth storing apart. */
const MIN_OFFLOAD = 1024;

interface Candidate {
  /** Column index, or -1 - index into consts. */
  j: number;
  bytes: Uint8Array;
}

export class LargeArgs {
  /** Shared-argument arrays whose values were swapped for references → the values, while their job runs. */
  private readonly swapped = new Map<Encoded[], Map<number, Encoded>>();

  constructor(
    private readonly tx: Transport,
    private readonly subjects: Subjects,
    private readonly clientId: string,
    private readonly cap: number,
    /** The client's token: releases without it are ignored by the scheduler. */
    private readonly auth = "",
  ) {}

  /** Room for one row's message: rows bigger than this get their arguments stored apart. */
  get budget(): number {
    return this.tx.maxPayload - HEADROOM;
  }

  /**
   * Row `p.from` of `p` made a message of `size` bytes, too large to send. Stores its largest
   * arguments in the scheduler and returns the piece for that row with DataRefs in their place;
   * or settles the row with an error (`ValueTooLarge` above the cap) and returns undefined.
   */
  async offload(p: Piece, size: number): Promise<Piece | undefined> {
    const { job } = p;
    const row = p.from;
    const key = job.base + row;
    const fail = (e: { code: ErrorCode; message: string }) => void job.settle(row, ERROR, undefined, new TaskError(e.code, e.message, job.keyName(row), ""));
    const cands: Candidate[] = [];
    try {
      // A lone submit's arguments come encoded already (Piece.enc): not encoded again.
      const enc = p.enc && p.job.size === 1 ? p.enc : undefined;
      for (let j = 0; j < p.cols.length; j++) {
        const v = p.cols[j]![row];
        if (!(v instanceof DataRef)) cands.push({ j, bytes: enc?.[j]?.bytes ?? encodeLarge(v) });
      }
      // Shared arguments come encoded already (map() encoded them once); those already stored apart are references.
      const stored = p.consts && this.swapped.get(p.consts);
      p.consts?.forEach((v, i) => {
        if (!stored?.has(i)) cands.push({ j: -1 - i, bytes: v.bytes });
      });
    } catch (e) {
      return void fail(Errors.NotSerializable(`An argument of task ${job.keyName(row)}`, (e as Error).message));
    }
    const what = (c: Candidate) => (c.j >= 0 ? `Argument ${c.j + 1} of task ${job.keyName(row)}` : `Shared argument ${-c.j} (map args) of task ${job.keyName(row)}`);
    for (const c of cands) if (c.bytes.byteLength > this.cap) return void fail(Errors.ValueTooLarge(what(c), c.bytes.byteLength, this.cap));
    cands.sort((a, b) => b.bytes.byteLength - a.bytes.byteLength);
    const chosen: Candidate[] = [];
    let rest = size;
    for (const c of cands) {
      if (rest <= this.budget || c.bytes.byteLength < MIN_OFFLOAD) break;
      chosen.push(c);
      rest -= c.bytes.byteLength - 100;
    }
    if (!chosen.length || rest > this.budget) return void fail(Errors.PayloadTooLarge(`The task ${job.keyName(row)} (its definitions and arguments)`, size, this.tx.maxPayload));
    const rowOwner = `${this.clientId}/a${key}`;
    const jobOwner = `${this.clientId}/c${job.base}`;
    const refs = new Map<number, DataRef>();
    try {
      await Promise.all(
        chosen.map(async (c) => {
          const hash = createHash("sha256").update(c.bytes).digest("hex");
          await putBytes(this.tx, this.subjects, c.j >= 0 ? rowOwner : jobOwner, c.bytes, hash, { auth: this.auth });
          refs.set(c.j, new DataRef(hash, c.bytes.byteLength, true));
        }),
      );
    } catch (e) {
      const c = chosen.find((x) => !refs.has(x.j)) ?? chosen[0]!;
      if (e instanceof ChunkError && e.code === "ValueTooLarge") return void fail(Errors.ValueTooLarge(what(c), c.bytes.byteLength, e.limit ?? this.cap));
      return void fail(Errors.ScatterFailed(`storing an argument of task ${job.keyName(row)} (${c.bytes.byteLength} bytes): ${(e as Error).message}`));
    }
    const rowHashes = [...refs].filter(([j]) => j >= 0).map(([, r]) => r.hash);
    const jobHashes = [...refs].filter(([j]) => j < 0).map(([, r]) => r.hash);
    if (rowHashes.length) job.onSettled(row, () => this.release(rowOwner, rowHashes));
    if (jobHashes.length) {
      // Shared arguments: swapped in the job's own consts array (map() copies the user's), so
      // every later row of the job, and retries, send the reference.
      const consts = p.consts!;
      let originals = this.swapped.get(consts);
      if (!originals) this.swapped.set(consts, (originals = new Map()));
      for (const [j, r] of refs) {
        if (j >= 0) continue;
        if (!originals.has(-1 - j)) originals.set(-1 - j, consts[-1 - j]);
        consts[-1 - j] = new Encoded(encode(r));
      }
      void job.done().then(() => {
        this.swapped.delete(consts);
        this.release(jobOwner, jobHashes);
      });
    }
    const cols = p.cols.map((c, j) => {
      const r = refs.get(j);
      if (!r) return c;
      const sparse: unknown[] = [];
      sparse[row] = r;
      return sparse;
    });
    const enc = p.enc && p.job.size === 1 ? p.enc.map((e, j) => (refs.has(j) ? new Encoded(encode(refs.get(j))) : e)) : undefined;
    return { ...p, cols, from: row, to: row + 1, enc };
  }

  /**
   * Puts the shared arguments' values back in place of their references: a restarted scheduler
   * (or one that dropped this client) no longer holds them, so re-submitted rows store them again.
   */
  restoreShared(): void {
    for (const [consts, originals] of this.swapped) for (const [i, v] of originals) consts[i] = v;
    this.swapped.clear();
  }

  release(owner: string, hashes: string[]): void {
    try {
      this.tx.send(this.subjects.dataRelease, { client: owner, hashes, auth: this.auth });
    } catch {
      /* closed: the scheduler drops the client's values with it */
    }
  }
}

/** A finished task's result that the scheduler holds until it is gathered (Results.large). */
export class LargeResult {
  /** The value once fetched. */
  fetching: Promise<unknown> | undefined;
  /** Tasks submitted with this result as an argument and not settled yet. */
  pins = 0;
  /** No longer needed by the future (fetched, or released): drop the scheduler's copy when unpinned. */
  done = false;
  released = false;
  constructor(
    readonly ref: DataRef,
    readonly owner: string,
  ) {}
}

/** The client's large results: fetch once, release once. */
export class LargeResults {
  /** When every future of a call is collected, its unfetched large results are released. */
  private readonly registry = new FinalizationRegistry<Set<LargeResult>>((held) => {
    for (const r of held) if (!r.released) ((r.done = true), this.maybeRelease(r));
  });
  private readonly held = new WeakMap<Job, Set<LargeResult>>();

  constructor(
    private readonly tx: Transport,
    private readonly subjects: Subjects,
    private readonly clientId: string,
    private readonly auth = "",
  ) {}

  /** A Results.large entry for row `row` of `job`: the value to settle the row with. */
  adopt(job: Job, row: number, ref: unknown): LargeResult | unknown {
    if (!(ref instanceof DataRef)) return ref;
    const r = new LargeResult(ref, `${this.clientId}/r${job.base + row}`);
    let set = this.held.get(job);
    if (!set) {
      this.held.set(job, (set = new Set()));
      this.registry.register(job, set);
    }
    set.add(r);
    job.large++;
    return r;
  }

  /** The value of a settled row: fetched from the scheduler the first time when it is a large result. */
  value(job: Job, row: number): unknown {
    const v = job.values[row];
    if (!(v instanceof LargeResult)) return v;
    if (!v.fetching) {
      v.fetching = getBytes(this.tx, this.subjects.dataGet, v.ref.hash, { as: () => ({ client: this.clientId, auth: this.auth }) }).then(
        (bytes) => {
          const value = decodeViews(bytes);
          job.values[row] = value;
          job.large--;
          this.held.get(job)?.delete(v);
          v.done = true;
          this.maybeRelease(v);
          return value;
        },
        (e: Error) => {
          v.fetching = undefined;
          throw Errors.ResultUnavailable(job.keyName(row), v.released ? "it was released (future.release())" : e.message);
        },
      );
    }
    return v.fetching;
  }

  /** What to pass for a dependency: the DataRef of an ungathered large result (pinned until `until` settles). */
  forDependency(job: Job, row: number, dependent: Job): unknown {
    const v = job.values[row];
    if (!(v instanceof LargeResult)) return v;
    if (v.released) throw Errors.ResultUnavailable(job.keyName(row), "it was released (future.release()) before a task that takes it ran");
    v.pins++;
    dependent.onSettled(0, () => {
      v.pins--;
      this.maybeRelease(v);
    });
    return v.ref;
  }

  /** A large result for a row settled already (a re-run's duplicate): released at once. */
  discard(key: number, ref: unknown): void {
    if (ref instanceof DataRef) this.maybeRelease(Object.assign(new LargeResult(ref, `${this.clientId}/r${key}`), { done: true }));
  }

  /** future.release(): the scheduler's copy may go (once no pending task needs it). */
  release(job: Job, row: number): void {
    const v = job.values[row];
    if (!(v instanceof LargeResult)) return;
    v.done = true;
    this.maybeRelease(v);
  }

  private maybeRelease(v: LargeResult) {
    if (v.released || !v.done || v.pins > 0) return;
    v.released = true;
    try {
      this.tx.send(this.subjects.dataRelease, { client: v.owner, hashes: [v.ref.hash], auth: this.auth });
    } catch {
      /* closed: the scheduler drops the client's values with it */
    }
  }
}
