/**
 * Scattered values on an executor: fetched from the scheduler (`data.get`, chunks pulled a few at
 * a time) or received as a broadcast push (`data.push.<hash>`, see actors/scheduler/data/data-push.ts),
 * decoded once (a typed array is a view of the assembled bytes, not a copy), cached by hash for
 * every later task. Task arguments that are DataRefs (top-level
 * arguments: columns and constants) are swapped for the values before a task runs.
 */
import { decodeViews } from "../../runtime/codec.ts";
import { packNumberArrays } from "../../runtime/packed-arrays.ts";
import { DataRef } from "../../runtime/data-ref.ts";
import { Errors } from "../../runtime/errors.ts";
import { getBytes, type DataGetAs } from "../../runtime/data-transfer.ts";
import { ChunkedValue } from "../../runtime/chunked-value.ts";
import { CountWaiters } from "../../runtime/count-waiters.ts";
import type { DataGet, DataGetReply, DataPut, Subjects } from "../../runtime/protocol.ts";
import type { RunGroup } from "./run-group.ts";
import type { Sub, Transport } from "../../runtime/transport.ts";
import { takeSameHost } from "../../runtime/same-host.ts";

/** A push that makes no progress for this long is completed by pulling the missing chunks. */
const PUSH_STALL_MS = 3000;
/** Stalls (each PUSH_STALL_MS) before a value that never completes fails its tasks. */
const MAX_STALLS = 20;

/** A value arriving by push: chunks written straight into its final buffer, hashed as they come. */
interface Arrival {
  value: ChunkedValue;
  stalls: number;
  pulling: boolean;
  sub: Sub;
  timer: NodeJS.Timeout;
  /** The scheduler's window acknowledgements waiting for chunks (see {@link DataCache.progress}). */
  waiters: CountWaiters;
  done(value: unknown): void;
  fail(e: Error): void;
}

/** Bytes of per-task values (DataRef.temp: large arguments and results) an executor keeps decoded. */
const TEMP_BUDGET = 256 * 2 ** 20;

/**
 * Decoded values by hash. Scattered values stay for the life of the process; per-task ones are
 * kept least-recently-used within {@link TEMP_BUDGET}, trimmed only after a swap (so a value is
 * never dropped between its fetch and the task that needs it).
 */
class Values {
  private readonly kept = new Map<string, unknown>();
  private readonly temp = new Map<string, { value: unknown; bytes: number }>();
  private tempBytes = 0;

  has(hash: string): boolean {
    return this.kept.has(hash) || this.temp.has(hash);
  }

  delete(hash: string): boolean {
    const t = this.temp.get(hash);
    if (t) {
      this.temp.delete(hash);
      this.tempBytes -= t.bytes;
    }
    return this.kept.delete(hash) || t !== undefined;
  }

  get size(): number {
    return this.kept.size + this.temp.size;
  }

  get(hash: string): unknown {
    if (this.kept.has(hash)) return this.kept.get(hash);
    const t = this.temp.get(hash);
    if (!t) return undefined;
    this.temp.delete(hash); // most recently used goes last
    this.temp.set(hash, t);
    return t.value;
  }

  set(hash: string, value: unknown, bytes: number, temp: boolean): void {
    if (!temp) return void this.kept.set(hash, value);
    const old = this.temp.get(hash);
    if (old) this.tempBytes -= old.bytes;
    this.temp.set(hash, { value, bytes });
    this.tempBytes += bytes;
  }

  /** Drops the least recently used per-task values beyond the budget. */
  trim(): void {
    for (const [hash, t] of this.temp) {
      if (this.tempBytes <= TEMP_BUDGET) return;
      this.temp.delete(hash);
      this.tempBytes -= t.bytes;
    }
  }
}

export class DataCache {
  private readonly values = new Values();
  /** Hashes named by DataRefs marked temp (per-task values), so a fetch knows how to keep them. */
  private readonly temps = new Set<string>();
  private readonly pending = new Map<string, Promise<unknown>>();
  /** Values obtained, pulled or pushed (each at most once per process while cached). */
  fetches = 0;
  bytesFetched = 0;

  /** Values that arrived by push (no request per chunk). */
  pushed = 0;
  private readonly arrivals = new Map<string, Arrival>();

  constructor(
    private readonly tx: Transport,
    private readonly subjects: Subjects,
    private readonly worker: string,
    /** Subscribes through the actor (decoding, bad-input counting). */
    private readonly subscribe: (hash: string, handler: (m: DataPut) => void) => Sub,
    /** Our id and token for `data.get` (protocol.ts DataGet). */
    private readonly as: () => DataGetAs = () => ({}),
    /** Bytes that did not match their hash were thrown away (a forged push, a corrupted reply). */
    private readonly onCorrupt: () => void = () => {},
  ) {}

  /**
   * Listens for a broadcast push of `hash` (resolves once subscribed at the server). Tasks that
   * need the value meanwhile wait for it; a push that stalls is completed by pulling. Resolves
   * true instead when the value is here already: held, or read from the same-host drop directory
   * `drop` (runtime/same-host.ts) when we share it.
   */
  async listen(hash: string, size: number, chunks: number, drop?: string): Promise<boolean> {
    if (this.values.has(hash)) return true;
    if (this.pending.has(hash)) return false;
    if (drop && (await this.fromDrop(hash, size, drop))) return true;
    if (this.values.has(hash) || this.pending.has(hash)) return this.values.has(hash); // arrived meanwhile
    let done!: (v: unknown) => void;
    let fail!: (e: Error) => void;
    const p = new Promise<unknown>((res, rej) => ((done = res), (fail = rej)));
    const a: Arrival = {
      value: new ChunkedValue(size, chunks),
      stalls: 0,
      pulling: false,
      sub: this.subscribe(hash, (m) => this.onChunk(hash, a, m)),
      timer: setTimeout(() => this.stalled(hash, a), PUSH_STALL_MS),
      waiters: new CountWaiters(),
      done,
      fail,
    };
    this.arrivals.set(hash, a);
    const stored = p.finally(() => this.pending.delete(hash));
    stored.catch(() => {}); // a failure is reported to the tasks that wait for it (through fetch)
    this.pending.set(hash, stored);
    await this.tx.flush();
    return false;
  }

  /** Takes `hash` from the drop directory `drop` (decoded and kept as a pushed value would be); false when it is not there for us. */
  private async fromDrop(hash: string, size: number, drop: string): Promise<boolean> {
    const bytes = await takeSameHost(drop, hash, size).catch(() => undefined);
    if (!bytes || this.values.has(hash)) return this.values.has(hash);
    try {
      this.keep(hash, bytes, false);
    } catch {
      return false; // does not decode: the ordinary way reports it
    }
    return true;
  }

  private onChunk(hash: string, a: Arrival, m: DataPut) {
    if (m.hash !== hash || !m.bytes || m.chunks !== a.value.chunks || m.size !== a.value.size) return;
    if (a.value.place(m.index, m.bytes) !== "placed") return;
    a.timer.refresh();
    a.waiters.reached(a.value.received);
    if (a.value.complete) this.arrived(hash, a);
  }

  /**
   * Resolves once the push of `hash` has delivered chunks up to index `through` here, or at once
   * when no push of it is arriving (complete, abandoned, never invited): the scheduler paces the
   * client's upload by it (actors/scheduler/data/data-push.ts).
   */
  progress(hash: string, through: number): Promise<void> {
    const a = this.arrivals.get(hash);
    if (!a || a.value.received > through) return Promise.resolve();
    return a.waiters.wait(through + 1);
  }

  private arrived(hash: string, a: Arrival) {
    if (!a.value.verify(hash)) {
      // A forged (or corrupted) chunk got in first: never used. Pull the value from the
      // scheduler instead (it checks its copy too), now and, while it is not complete there yet,
      // at each stall.
      this.onCorrupt();
      a.sub.unsubscribe();
      a.waiters.releaseAll(); // the arrival is over or restarts: no window waits for it any more
      a.value = new ChunkedValue(a.value.size, a.value.chunks);
      a.timer.refresh();
      if (a.stalls >= MAX_STALLS) return this.abandon(hash, a, Errors.DataCorrupted(hash, this.worker));
      if (!a.pulling) void this.stalled(hash, a);
      return;
    }
    this.arrivals.delete(hash);
    clearTimeout(a.timer);
    a.sub.unsubscribe();
    a.waiters.releaseAll();
    const bytes = a.value.bytes;
    try {
      const value = this.keep(hash, bytes, false);
      this.pushed++;
      a.done(value);
    } catch (e) {
      a.fail(Errors.DataUnavailable(hash, this.worker, `the pushed value does not decode (${(e as Error).message})`));
    }
  }

  /**
   * No chunk for a while: pull what is missing from the scheduler, which holds the whole value
   * once the client finished (until then it answers DataNotFound and we wait another round).
   */
  private async stalled(hash: string, a: Arrival) {
    if (this.arrivals.get(hash) !== a || a.pulling) return;
    a.pulling = true;
    a.stalls++;
    try {
      const v = a.value;
      for (let i = 0; i < v.chunks && this.arrivals.get(hash) === a && a.value === v; i++) {
        if (v.has(i)) continue;
        const r = await this.tx.request<DataGetReply>(this.subjects.dataGet, { hash, index: i, ...this.as() } satisfies DataGet, 30_000, { views: true });
        if (!r.ok && r.code === "DataNotFound" && a.stalls < MAX_STALLS) return void a.timer.refresh();
        if (!r.ok) throw Errors.DataUnavailable(hash, this.worker, r.message);
        v.place(i, r.bytes);
      }
      if (this.arrivals.get(hash) === a && a.value === v && v.complete) this.arrived(hash, a);
      else a.timer.refresh(); // a chunk that did not fit: again at the next stall
    } catch (e) {
      this.abandon(hash, a, e as Error);
    } finally {
      a.pulling = false;
    }
  }

  /** Drops values the scheduler released for good (every owner let go): a later use fetches again. */
  forget(hashes: readonly string[]): number {
    let n = 0;
    for (const h of hashes) if (this.values.delete(h)) n++;
    return n;
  }

  /** Values held decoded. */
  get held(): number {
    return this.values.size;
  }

  /** Gives up on a pushed value: the tasks waiting for it fail with `e`. */
  private abandon(hash: string, a: Arrival, e: Error) {
    if (this.arrivals.get(hash) !== a) return;
    this.arrivals.delete(hash);
    clearTimeout(a.timer);
    a.sub.unsubscribe();
    a.waiters.releaseAll();
    a.fail(e);
  }

  /** Stops listening to pushes (executor stopping). */
  stop(): void {
    for (const [hash, a] of this.arrivals) {
      clearTimeout(a.timer);
      a.sub.unsubscribe();
      a.waiters.releaseAll();
      this.arrivals.delete(hash);
    }
  }

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
    const temp = this.temps.delete(hash); // taken before the fetch, so a failed one leaves nothing behind
    const bytes = await getBytes(this.tx, this.subjects.dataGet, hash, { as: this.as, onCorrupt: this.onCorrupt, fail: (m) => Errors.DataUnavailable(hash, this.worker, m) });
    return this.keep(hash, bytes, temp);
  }

  /** Decodes a value's bytes (typed arrays as views, number arrays packed), keeps it and counts the fetch; throws when they do not decode. */
  private keep(hash: string, bytes: Uint8Array, temp: boolean): unknown {
    const value = packNumberArrays(decodeViews(bytes));
    this.values.set(hash, value, bytes.byteLength, temp);
    this.fetches++;
    this.bytesFetched += bytes.byteLength;
    return value;
  }

  /**
   * Swaps DataRef arguments of the groups for their values. Returns undefined when done at once,
   * or a promise when some value must be fetched first (then the swap happens when it resolves).
   */
  resolve(groups: readonly RunGroup[]): Promise<void> | undefined {
    const missing = new Set<string>();
    const visit = (v: unknown) => {
      if (v instanceof DataRef && !this.values.has(v.hash)) {
        missing.add(v.hash);
        if (v.temp) this.temps.add(v.hash);
      }
    };
    for (const g of groups) {
      g.consts?.forEach(visit);
      for (const row of g.args) row.forEach(visit);
    }
    if (missing.size === 0) return void this.swap(groups);
    // Another group's trim may drop a per-task value between its fetch and this swap: then again.
    return Promise.all([...missing].map((h) => this.fetch(h))).then(() => (this.swap(groups) ? undefined : this.resolve(groups)));
  }

  /** Swaps in the values; false (nothing swapped) when one is no longer held. */
  private swap(groups: readonly RunGroup[]): boolean {
    const refs = (a: unknown[]) => a.every((v) => !(v instanceof DataRef) || this.values.has(v.hash));
    if (!groups.every((g) => (!g.consts || refs(g.consts)) && g.args.every(refs))) return false;
    const sub = (a: unknown[]) => {
      for (let i = 0; i < a.length; i++) if (a[i] instanceof DataRef) a[i] = this.values.get((a[i] as DataRef).hash);
    };
    for (const g of groups) {
      if (g.consts) sub(g.consts);
      for (const row of g.args) sub(row);
    }
    this.values.trim();
    return true;
  }
}
