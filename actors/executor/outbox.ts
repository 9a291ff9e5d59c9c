/**
 * What an executor sends back, batched: results per client (`results.<client>`) and completions
 * for the scheduler (`sched.done`). Every message has a fixed cost far above a small task's (a
 * wake-up of nats-server, the scheduler and the client on a machine whose cores run tasks), so
 * what finishes lingers and leaves together:
 *   - at once when nothing is queued behind it (the runner also calls {@link Outbox.flush} when it
 *     goes idle): a lone task is never delayed;
 *   - as soon as the completions held back are as many as the tasks still queued here: the
 *     scheduler refills a queue when half of it is done (placement.ts), so it hears in time and
 *     this executor never waits for its next batch. Once per batch received: if no batch follows,
 *     the scheduler had nothing more to send, and telling it again at every halving of what is
 *     left (a message pair per halving, 5–10 per executor at the end of every map) told it nothing;
 *   - after the linger at the latest, at a point of the wall clock's linger grid shared by every
 *     executor and the scheduler's beats (results keep flowing to progress bars and as-completed
 *     loops), or once {@link FLUSH_AT} results wait. The linger grows with the tasks' mean duration
 *     ({@link lingerFor}: ~{@link LINGER_TASKS} tasks' worth, from {@link LINGER_MS} up to
 *     {@link LINGER_MAX_MS}): a message pair (~3 wake-ups, ~450 µs on the measuring VM) every
 *     250 ms is ~2 µs per 1 ms task but ~18 µs per 10 ms task; a result of a 10 ms task may now wait
 *     up to 1 s for others while work is queued behind it on its executor (never when nothing is).
 * A batch too large for one message is split by size; a result too large alone is stored in the
 * scheduler's data store first (large-results.ts), and its completion waits until it is stored,
 * so a crash meanwhile re-runs the task instead of losing it.
 */
import { msToBeat } from "../../runtime/beat-clock.ts";
import { encode, findUnencodable } from "../../runtime/codec.ts";
import { Errors, remoteError, remoteErrorInfo } from "../../runtime/errors.ts";
import type { Done, FnStat, RemoteError, Results, Subjects } from "../../runtime/protocol.ts";
import { TICKET_WORDS } from "../../runtime/tickets.ts";
import type { Transport } from "../../runtime/transport.ts";
import { packResults, storeResult } from "./large-results.ts";

interface ClientBuf {
  keys: number[];
  values: unknown[];
  errors: RemoteError[];
  /** The scheduler slot of each row (a large result's completion is held back until stored). */
  slots: number[];
  /** Rows whose value is a DataRef to a stored large result. */
  large?: number[];
  /** Each row's ticket as dispatched, 2 words (8 bytes) per row, echoed to the client (runtime/tickets.ts). */
  tickets: TicketColumn;
}

/** Flush early once this many results wait, so messages stay well below max_payload. */
const FLUSH_AT = 5_000;
/** The shortest linger, and its grid's unit: a finished task's result waits at most this long for others when tasks are short. */
export const LINGER_MS = 250;
/** The longest linger (long tasks). */
export const LINGER_MAX_MS = 1000;
/** A linger covers about this many tasks of the mean duration: its message pair then costs ≤ ~2.5 µs per task on the measuring VM (~3 wake-ups of ~150 µs). */
export const LINGER_TASKS = 200;

/**
 * The linger for tasks of mean duration `meanMs`: the shortest of LINGER_MS × 2^k covering
 * {@link LINGER_TASKS} of them, at most `maxMs`. Powers of two of one unit keep the grids nested,
 * so executors lingering for different times still meet at the longer grid's points.
 */
export function lingerFor(meanMs: number, maxMs = LINGER_MAX_MS): number {
  let ms = LINGER_MS;
  while (ms < LINGER_TASKS * meanMs && ms * 2 <= maxMs) ms *= 2;
  return Math.min(ms, maxMs);
}

export class Outbox {
  private readonly results = new Map<string, ClientBuf>();
  private slots: number[] = [];
  private failed = 0;
  private readonly stats = new Map<string, FnStat>();
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;
  /** When {@link timer} is due (performance.now()), Infinity when none is armed. */
  private dueAt = Infinity;
  private pending = 0;
  /** For the dashboard (Done.span / failedSlots / error): set once per message, not per task. */
  private t0 = 0;
  private failedSlots: number[] | undefined;
  private firstError: { name: string; message: string } | undefined;
  /** The scheduler instance the completions belong to, and our registration's token with it. */
  sched = "";
  auth = "";
  /** Runs before results leave (console lines of a task go out before its result). */
  beforeFlush: () => void = () => {};
  /** The longest linger (see {@link lingerFor}). Infinity: no linger timer (tests). */
  lingerMs = LINGER_MAX_MS;
  /** Mean task duration here (ms, moving average; -1 before the first): the linger's length. */
  private meanMs = -1;

  /** Mean task duration here (ms, moving average), 0 before the first task ends. */
  get meanTaskMs(): number {
    return Math.max(0, this.meanMs);
  }
  /** An early flush asked the scheduler for a refill since the last batch arrived (see {@link refilled}). */
  private asked = false;
  /** When the last completion message left (performance.now()); it tells the scheduler we are alive. */
  lastDoneAt = -Infinity;
  /** Tasks still queued on this executor (the runner's count): completions leave before it runs dry. */
  queued: () => number = () => 0;

  constructor(
    private readonly tx: Transport,
    private readonly subjects: Subjects,
    private readonly execId: string,
    private readonly worker: string,
  ) {}

  ok(client: string, slot: number, key: number, value: unknown, fn: string, ms: number, tickets?: Uint32Array, row = 0): void {
    const b = this.buf(client);
    b.tickets.add(tickets, row);
    b.keys.push(key);
    b.values.push(value);
    b.slots.push(slot);
    this.complete(slot, fn, ms);
  }

  fail(client: string, slot: number, key: number, err: Omit<RemoteError, "i">, fn: string, ms: number, tickets?: Uint32Array, row = 0): void {
    const b = this.buf(client);
    b.tickets.add(tickets, row);
    b.errors.push({ i: b.keys.length, ...err });
    b.keys.push(key);
    b.values.push(null);
    b.slots.push(slot);
    this.noteFailure(slot, err);
    this.complete(slot, fn, ms);
  }

  private noteFailure(slot: number, err: Omit<RemoteError, "i">) {
    this.failed++;
    (this.failedSlots ??= []).push(slot);
    this.firstError ??= { name: err.name, message: err.message };
  }

  /** A large result stored in the scheduler (or its failure), leaving with the next flush, with its completion. */
  private late(client: string, slot: number, key: number, ref: unknown, ticket: Uint32Array, err?: Omit<RemoteError, "i">): void {
    const b = this.buf(client);
    b.tickets.add(ticket, 0);
    if (err) {
      b.errors.push({ i: b.keys.length, ...err });
      this.noteFailure(slot, err);
    } else (b.large ??= []).push(b.keys.length);
    b.keys.push(key);
    b.values.push(err ? null : ref);
    b.slots.push(slot);
    this.slots.push(slot);
    this.pending++;
    this.soon();
  }

  /** Slots whose large results are being stored in the scheduler now (their completion waits). */
  readonly storing = new Set<number>();
  private storedWaiters: (() => void)[] = [];

  /** Resolves once no large result is being stored (a retiring executor waits for this). */
  whenStored(): Promise<void> {
    if (this.storing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.storedWaiters.push(resolve));
  }

  /** A task that produced nothing to send (cancelled before it started). */
  drop(slot: number): void {
    this.slots.push(slot);
    this.soon();
  }

  private buf(client: string): ClientBuf {
    let b = this.results.get(client);
    if (!b) this.results.set(client, (b = { keys: [], values: [], errors: [], slots: [], tickets: new TicketColumn() }));
    return b;
  }

  private complete(slot: number, fn: string, ms: number) {
    this.slots.push(slot);
    let st = this.stats.get(fn);
    if (!st) {
      this.stats.set(fn, (st = [fn, 0, 0]));
      if (!this.t0) this.t0 = performance.now() - ms;
    }
    st[1]++;
    st[2] += ms;
    this.meanMs = this.meanMs < 0 ? ms : this.meanMs + (ms - this.meanMs) * 0.1;
    const queued = this.queued();
    if (++this.pending >= FLUSH_AT) this.flush();
    else if (queued === 0) this.soon();
    else if (!this.asked && this.pending >= queued) {
      this.asked = true;
      this.soon();
    } else this.linger();
  }

  /** A batch arrived: the next time the queue runs half down, the scheduler hears of it at once again. */
  refilled(): void {
    this.asked = false;
  }

  /** Flushes at the next turn (whatever else finishes in this one goes along). */
  private soon() {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /**
   * Flushes within the linger ({@link lingerFor}; sooner if the runner goes idle or runs low), at the
   * next point of the wall clock's grid of that period (runtime/beat-clock.ts): every executor's lingering results
   * leave at the same instants, in step with the scheduler's beats, so nats-server, the client and
   * the scheduler read them together rather than each at a phase of its own.
   */
  private linger() {
    if (this.lingerMs === Infinity || this.timer) return; // tests: only turns and explicit flushes
    const ms = msToBeat(lingerFor(this.meanMs, this.lingerMs));
    this.dueAt = performance.now() + ms;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, ms);
  }

  /**
   * Whether a flush waits for the event loop's next turn: one asked for ({@link soon}) or a linger
   * whose time has come. The runner ends its slice of synchronous tasks early for it
   * (runner.ts), so results leave when outbox decided and not a slice later.
   */
  wantsTurn(now: number): boolean {
    return this.scheduled || now >= this.dueAt;
  }

  /** Sends everything buffered now. */
  flush(): void {
    this.scheduled = false;
    this.dueAt = Infinity;
    if (this.timer) clearTimeout(this.timer), (this.timer = undefined);
    if (this.pending === 0 && this.slots.length === 0) return;
    this.beforeFlush();
    this.pending = 0;
    let held: Set<number> | undefined;
    for (const [client, b] of this.results) {
      const msg: Results = { worker: this.worker, keys: Uint32Array.from(b.keys), values: b.values, tickets: b.tickets.take() };
      if (b.errors.length) msg.errors = b.errors;
      if (b.large) msg.large = Uint32Array.from(b.large);
      const stored = this.sendResults(this.subjects.results(client), msg, client, b.slots);
      if (stored) for (const s of stored) (held ??= new Set()).add(s);
    }
    this.results.clear();
    // Completions of results still being stored leave once they are (see late()).
    if (held) this.slots = this.slots.filter((s) => !held.has(s));
    if (this.slots.length) {
      const done: Done = {
        exec: this.execId,
        sched: this.sched,
        auth: this.auth,
        slots: Uint32Array.from(this.slots),
        failed: this.failed,
        stats: [...this.stats.values()],
      };
      if (this.t0) done.span = performance.now() - this.t0;
      if (this.failedSlots) (done.failedSlots = Uint32Array.from(this.failedSlots)), (done.error = this.firstError);
      this.t0 = 0;
      this.failedSlots = this.firstError = undefined;
      this.slots = [];
      this.failed = 0;
      this.stats.clear();
      this.tx.send(this.subjects.done, done);
      this.lastDoneAt = performance.now();
    }
  }

  /**
   * Encodes results (once, on the ordinary path), replacing unencodable values by per-task errors.
   * An oversize message is split by size; results too large alone are stored in the scheduler
   * first: returns their slots (their completions wait), or undefined.
   */
  private sendResults(subject: string, msg: Results, client: string, slots: number[]): number[] | undefined {
    let data: Uint8Array;
    try {
      data = encode(msg);
    } catch {
      return this.sendResults(subject, this.withoutUnencodable(msg), client, slots);
    }
    if (data.byteLength <= this.tx.maxPayload) return void this.tx.publish(subject, data);
    if (msg.keys.length === 1 && msg.errors?.length) {
      // One error alone too big for a message (a huge message or stack): cut it down.
      const e = msg.errors[0]!;
      const cut = { ...e, i: 0, message: e.message.slice(0, 10_000), stack: e.stack.slice(0, 10_000) };
      return this.sendResults(subject, { worker: msg.worker, keys: msg.keys, values: [null], errors: [cut], tickets: msg.tickets }, client, slots);
    }
    const { parts, large } = packResults(msg, this.tx.maxPayload);
    const held: number[] = [];
    for (const p of parts) {
      const s = p.rows.map((r) => slots[r]!);
      const n = p.msg.keys.length;
      if (n < msg.keys.length) {
        held.push(...(this.sendResults(subject, p.msg, client, s) ?? []));
        continue;
      }
      if (n === 1) {
        const e = Errors.PayloadTooLarge(`The result of task ${p.msg.keys[0]}`, data.byteLength, this.tx.maxPayload);
        this.sendResults(subject, { worker: msg.worker, keys: p.msg.keys, values: [null], errors: [remoteError(e)], tickets: p.msg.tickets }, client, s);
        continue;
      }
      // Packing split nothing off (its estimate was wrong): halve instead.
      const half = n >> 1;
      held.push(...(this.sendResults(subject, this.rowsOf(p.msg, 0, half), client, s.slice(0, half)) ?? []));
      held.push(...(this.sendResults(subject, this.rowsOf(p.msg, half, n), client, s.slice(half)) ?? []));
    }
    for (const { row, bytes } of large) {
      const slot = slots[row]!;
      const key = msg.keys[row]!;
      const ticket = ticketOf(msg.tickets, row);
      held.push(slot);
      this.storing.add(slot);
      storeResult(this.tx, this.subjects, client, key, this.worker, bytes, { auth: this.auth, exec: this.execId }).then(
        (ref) => this.late(client, slot, key, ref, ticket),
        (e: { remote?: Omit<RemoteError, "i">; message?: string }) =>
          this.late(client, slot, key, null, ticket, e.remote ?? remoteErrorInfo(Errors.ResultStoreFailed(String(key), this.worker, bytes.byteLength, String(e?.message ?? e)))),
      ).finally(() => {
        this.storing.delete(slot);
        if (this.storing.size === 0) for (const w of this.storedWaiters.splice(0)) w();
      });
    }
    return held.length ? held : undefined;
  }

  private rowsOf(msg: Results, lo: number, hi: number): Results {
    const part: Results = { worker: msg.worker, keys: msg.keys.slice(lo, hi), values: msg.values.slice(lo, hi) };
    if (msg.tickets) part.tickets = msg.tickets.slice(lo * TICKET_WORDS, hi * TICKET_WORDS);
    const errs = (msg.errors ?? []).filter((e) => e.i >= lo && e.i < hi).map((e) => ({ ...e, i: e.i - lo }));
    if (errs.length) part.errors = errs;
    const large = [...(msg.large ?? [])].filter((i) => i >= lo && i < hi).map((i) => i - lo);
    if (large.length) part.large = Uint32Array.from(large);
    return part;
  }

  private withoutUnencodable(msg: Results): Results {
    const errors = [...(msg.errors ?? [])];
    const values = msg.values.map((v, i) => {
      try {
        encode(v);
        return v;
      } catch (e) {
        const detail = findUnencodable(v, "result") ?? (e as Error).message;
        const err = Errors.ResultNotSerializable(String(msg.keys[i]), msg.worker, detail);
        errors.push(remoteError(err, i));
        return null;
      }
    });
    return { worker: msg.worker, keys: msg.keys, values, errors, tickets: msg.tickets, ...(msg.large ? { large: msg.large } : {}) };
  }
}

/** Appends row `row`'s ticket (zeros when the batch had none: the client then drops the row as unproven). */
/** A growing column of echoed tickets: two word copies per task, no per-task allocation. */
class TicketColumn {
  private words = new Uint32Array(64 * TICKET_WORDS);
  private n = 0;

  /** Appends row `row`'s ticket (zeros when the batch had none: the client then drops the row as unproven). */
  add(tickets: Uint32Array | undefined, row: number): void {
    if (this.n + TICKET_WORDS > this.words.length) {
      const w = new Uint32Array(this.words.length * 2);
      w.set(this.words);
      this.words = w;
    }
    const o = row * TICKET_WORDS;
    if (tickets && tickets.length >= o + TICKET_WORDS) {
      this.words[this.n] = tickets[o]!;
      this.words[this.n + 1] = tickets[o + 1]!;
    }
    this.n += TICKET_WORDS;
  }

  /** The column so far, as its own array. */
  take(): Uint32Array {
    return this.words.slice(0, this.n);
  }
}

function ticketOf(tickets: Uint32Array | undefined, row: number): Uint32Array {
  const o = row * TICKET_WORDS;
  return tickets && tickets.length >= o + TICKET_WORDS ? tickets.slice(o, o + TICKET_WORDS) : new Uint32Array(TICKET_WORDS);
}

