/**
 * Sends submitted rows to the scheduler in batches (`sched.submit`): everything submitted in one
 * synchronous stretch of user code leaves together at the next microtask, split into messages
 * below max_payload, with a bounded number of messages awaiting their acknowledgement.
 */
import { Encoded, encode, encodeSpliced, findUnencodable, RowWriter } from "../runtime/codec.ts";
import { Errors, TaskError, TsDaskError } from "../runtime/errors.ts";
import type { FnDef, ModuleDef, Resources, Submit, SubmitAck, SubmitGroup } from "../runtime/protocol.ts";
import { Transport } from "../runtime/transport.ts";
import { CANCELLED, ERROR, PENDING, type Job, type Piece } from "./jobs.ts";

export type { Piece } from "./jobs.ts";

export interface SubmitterDeps {
  tx: Transport;
  subject: string;
  clientId: string;
  /** The client's token (protocol.ts RegisterClient.auth): submits without it are ignored. */
  auth: string;
  /** Whether an acknowledgement from scheduler `instance` may be believed (scheduler-watch.ts). */
  accepts(instance: unknown): boolean;
  /** Sends a cancel for rows that were cancelled before their slots were known. */
  cancelRows(job: Job, rows: number[]): void;
  /** A message could not be sent at all (no scheduler): fail its rows. */
  onUnsent(rows: { job: Job; row: number }[], err: TsDaskError): void;
  /**
   * One row alone makes a message of `size` bytes, above `rowBudget`: store its large arguments
   * apart (client/large-values.ts) and return the row's piece with references, or settle the row
   * with an error and return undefined. Absent: such a row fails with PayloadTooLarge.
   */
  offload?(p: Piece, size: number): Promise<Piece | undefined>;
  rowBudget?: number;
}

const MAX_ROWS = 10_000;
const MAX_IN_FLIGHT = 4;
const ACK_TIMEOUT_MS = 10_000;
/** Wait before re-sending a submit that got no answer. */
const RETRY_MS = 500;

export class Submitter {
  private readonly queue: Piece[] = [];
  private inFlight = 0;
  private flushQueued = false;
  private rowsPerMsg = MAX_ROWS;
  private readonly sentFns = new Set<string>();
  private readonly sentMods = new Set<string>();
  private idleWaiters: (() => void)[] = [];
  /** Offloads in progress: nothing leaves meanwhile (keeps order; a job's shared args are swapped once). */
  private blocked = 0;

  private readonly retryTimers = new Set<NodeJS.Timeout>();
  /** Number of the last submit message (Submit.seq). */
  private seq = 0;
  private closed = false;

  constructor(private readonly d: SubmitterDeps) {}

  /** The scheduler changed: definitions must travel again with the next messages. */
  forgetDefinitions(): void {
    this.sentFns.clear();
    this.sentMods.clear();
  }

  /** Stops retrying (the client closed). */
  close(): void {
    this.closed = true;
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    this.queue.length = 0;
  }

  add(p: Piece): void {
    if (p.to <= p.from) return;
    this.queue.push(p);
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => {
        this.flushQueued = false;
        this.pump();
      });
    }
  }

  /** Everything added so far was acknowledged by the scheduler. */
  get isIdle(): boolean {
    return this.queue.length === 0 && this.inFlight === 0 && this.blocked === 0;
  }

  /** Resolves when everything added so far was acknowledged by the scheduler. */
  idle(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0 && this.blocked === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private pump(): void {
    while (this.queue.length && this.inFlight < MAX_IN_FLIGHT && this.blocked === 0) this.sendOne();
    if (this.queue.length === 0 && this.inFlight === 0 && this.blocked === 0) for (const r of this.idleWaiters.splice(0)) r();
  }

  /** Takes up to rowsPerMsg rows off the queue into one Submit message and sends it. */
  private sendOne(): void {
    const groups: SubmitGroup[] = [];
    const rows: Rows = [];
    const fns: FnDef[] = [];
    const mods: ModuleDef[] = [];
    const newFns: string[] = [];
    const newMods: string[] = [];
    let n = 0;
    // Each row's arguments are encoded once, here, into the group's `rows` (the scheduler passes these bytes on).
    const w = new RowWriter();
    let last: SubmitGroup | undefined;
    try {
      while (this.queue.length && n < this.rowsPerMsg) {
        const p = this.queue[0]!;
        const take = Math.min(p.to - p.from, this.rowsPerMsg - n);
        const to = p.from + take;
        if (!this.sentFns.has(p.fn.hash) && !newFns.includes(p.fn.hash)) {
          fns.push(p.fn);
          newFns.push(p.fn.hash);
          if (p.module && !this.sentMods.has(p.module.hash) && !newMods.includes(p.module.hash)) {
            mods.push(p.module);
            newMods.push(p.module.hash);
          }
        }
        const keys = new Uint32Array(take);
        for (let i = 0; i < take; i++) keys[i] = p.job.base + p.from + i;
        // Consecutive single submits of one function share a group (a loop of client.submit()).
        if (last && last.fn === p.fn.hash && !last.consts && !p.consts && last.timeout === p.timeout && last.priority === (p.priority || undefined) && last.resources === p.resources) {
          last.keys = concatU32(last.keys, keys);
          // Rows of several calls in one group: no single job (the scheduler pools them per function).
          if (last.job !== p.job.base) (delete last.job, delete last.total);
        } else {
          if (last) Object.assign(last, w.take());
          // The shared arguments, each encoded once by map(), as one array: these bytes go on to every batch.
          last = { fn: p.fn.hash, keys, rows: NO_ROWS, ends: NO_ENDS, ...(p.consts ? { consts: encodeSpliced(p.consts) } : {}), ...(p.timeout ? { timeout: p.timeout } : {}), ...(p.priority ? { priority: p.priority } : {}), ...(p.resources ? { resources: p.resources } : {}), job: p.job.base, total: p.job.size };
          groups.push(last);
        }
        rows.push({ p, job: p.job, from: p.from, to });
        writeRows(w, p, to, take === 1 && p.from === 0 ? p.enc : undefined);
        n += take;
        if (to === p.to) this.queue.shift();
        else p.from = to;
      }
      if (last) Object.assign(last, w.take());
    } catch {
      // A row that does not encode: the piece being written leaves the queue with the rows taken
      // so far; each of their rows is checked alone (the bad ones fail, the rest queue again).
      const cur = rows[rows.length - 1];
      if (cur && this.queue[0] === cur.p) {
        if (cur.to === cur.p.to) this.queue.shift();
        else cur.p.from = cur.to;
      }
      return this.requeueWithoutUnencodable(rows);
    }
    const msg: Submit = { client: this.d.clientId, auth: this.d.auth, seq: ++this.seq, groups };
    if (rows.some((r) => r.p.resync)) msg.resync = true;
    if (fns.length) msg.fns = fns;
    if (mods.length) msg.mods = mods;
    const data = encode(msg);
    if (data.byteLength > this.d.tx.maxPayload || (n === 1 && this.d.rowBudget !== undefined && data.byteLength > this.d.rowBudget)) return this.tooLarge(rows, data.byteLength);
    // Back towards full batches once messages are small again (after a run of large rows).
    if (this.rowsPerMsg < MAX_ROWS && data.byteLength * 4 < this.d.tx.maxPayload) this.rowsPerMsg = Math.min(MAX_ROWS, this.rowsPerMsg * 2);
    for (const h of newFns) this.sentFns.add(h);
    for (const h of newMods) this.sentMods.add(h);
    this.inFlight++;
    void this.d.tx
      // Only our scheduler's acknowledgement counts: any peer may answer a request.
      .requestWhere<SubmitAck>(this.d.subject, new Encoded(data), ACK_TIMEOUT_MS, (ack) => this.d.accepts(ack?.sched))
      .then(
        (ack) => {
          // Not registered with this scheduler yet (it restarted): again once the lease is renewed.
          if (!ack.ok && ack.code === "UnknownClient") return this.retryLater(rows, newFns, newMods);
          if (!ack.ok && ack.code === "UnknownFunction") {
            // A new scheduler (restarted) has not seen our definitions: send them again.
            this.forgetDefinitions();
            for (const p of this.piecesFor(rows)) this.add({ ...p, resync: true });
            return;
          }
          if (!ack.ok) return this.failRows(rows, new TsDaskError(ack.code, ack.message));
          let o = 0;
          for (const r of rows) {
            const cancelled: number[] = [];
            for (let i = r.from; i < r.to; i++) {
              r.job.slots[i] = ack.slots[o++]!;
              if (r.job.status[i] === CANCELLED) cancelled.push(i);
            }
            if (cancelled.length) this.d.cancelRows(r.job, cancelled);
          }
        },
        (e) => {
          if (!Transport.isNoAnswer(e) || this.closed) return this.failRows(rows, Transport.isNoAnswer(e) ? Errors.RequestTimedOut("Submitting tasks", ACK_TIMEOUT_MS) : (e as TsDaskError));
          this.retryLater(rows, newFns, newMods);
        },
      )
      .finally(() => {
        this.inFlight--;
        this.pump();
      });
  }

  /**
   * No (believable) answer: the scheduler is restarting, a connection blipped, or it does not
   * know us yet. Sent again shortly, marked as a re-submission so rows that did arrive are not
   * added twice; definitions travel again (they may not have arrived).
   */
  private retryLater(rows: Rows, newFns: Iterable<string>, newMods: Iterable<string>) {
    for (const h of newFns) this.sentFns.delete(h);
    for (const h of newMods) this.sentMods.delete(h);
    const again = this.piecesFor(rows).map((p) => ({ ...p, resync: true }));
    const t = setTimeout(() => {
      this.retryTimers.delete(t);
      for (const p of again) this.add(p);
    }, RETRY_MS);
    this.retryTimers.add(t);
  }

  private failRows(rows: Rows, err: TsDaskError) {
    const list: { job: Job; row: number }[] = [];
    for (const r of rows) for (let i = r.from; i < r.to; i++) list.push({ job: r.job, row: i });
    this.d.onUnsent(list, err);
  }

  /** The message held an argument msgpack cannot carry: fail just those rows, resend the rest. */
  private requeueWithoutUnencodable(rows: Rows) {
    const pieces = this.piecesFor(rows);
    for (const p of pieces) {
      for (let i = p.from; i < p.to; i++) {
        const args = p.cols.map((c) => c[i]);
        const bad = findUnencodable(args, "args");
        let err: string | undefined = bad;
        if (!err) {
          try {
            encode(args);
          } catch (e) {
            err = (e as Error).message;
          }
        }
        if (err) {
          const e = Errors.NotSerializable(`An argument of task ${p.job.keyName(i)}`, err);
          p.job.settle(i, ERROR, undefined, new TaskError(e.code, e.message, p.job.keyName(i), ""));
        } else if (p.job.status[i] === PENDING) this.queue.unshift({ ...p, from: i, to: i + 1 });
      }
    }
    this.pump();
  }

  private tooLarge(rows: Rows, bytes: number) {
    const total = rows.reduce((a, r) => a + r.to - r.from, 0);
    if (total === 1 && this.d.offload) {
      const r = rows[0]!;
      this.blocked++;
      void this.d
        .offload({ ...r.p, from: r.from, to: r.to }, bytes)
        .then((piece) => {
          if (piece) this.queue.unshift(piece);
        })
        .finally(() => {
          this.blocked--;
          this.pump();
        });
      return;
    }
    if (total === 1) {
      const r = rows[0]!;
      const e = Errors.PayloadTooLarge(`The arguments of task ${r.job.keyName(r.from)}`, bytes, this.d.tx.maxPayload);
      r.job.settle(r.from, ERROR, undefined, new TaskError(e.code, e.message, r.job.keyName(r.from), ""));
    } else {
      this.rowsPerMsg = Math.max(1, Math.floor(total / 2));
      // Large shared arguments (map's `args`) make every message too large: go to single rows at
      // once (which store them apart) instead of halving a dozen times, each time encoding them.
      const consts = rows[0]!.p.consts;
      if (consts && this.d.offload && this.d.rowBudget !== undefined && this.rowsPerMsg > 1) {
        if (consts.reduce((a, c) => a + c.bytes.byteLength, 0) > this.d.rowBudget / 2) this.rowsPerMsg = 1;
      }
      this.queue.unshift(...this.piecesFor(rows));
    }
    this.pump();
  }

  /** Pieces (for a resend) of row ranges taken off the queue. */
  private piecesFor(rows: Rows): Piece[] {
    return rows.map((r) => ({ ...r.p, from: r.from, to: r.to }));
  }
}

type Rows = { p: Piece; job: Job; from: number; to: number }[];

const NO_ROWS = new Uint8Array(0);
const NO_ENDS = new Uint32Array(0);

/** Rows [p.from, to) of a piece into `w`: each row's arguments (`enc`: a lone submit's, encoded already: written as they are). */
function writeRows(w: RowWriter, p: Piece, to: number, enc: readonly Encoded[] | undefined): void {
  if (enc) {
    w.begin(enc.length);
    for (const e of enc) w.arg(e);
    return w.end();
  }
  const cols = p.cols;
  const nc = cols.length;
  for (let i = p.from; i < to; i++) {
    w.begin(nc);
    for (let j = 0; j < nc; j++) w.arg(cols[j]![i]);
    w.end();
  }
}

function concatU32(a: Uint32Array, b: Uint32Array): Uint32Array {
  const out = new Uint32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
