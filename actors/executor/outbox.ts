/**
 * What an executor sends back, batched: results per client (`results.<client>`) and completions
 * for the scheduler (`sched.done`). Everything finished in one turn of the event loop leaves in
 * one message per destination; a lone result leaves at the next turn (setImmediate), so batching
 * never delays a single task.
 */
import { encode, findUnencodable } from "../../runtime/codec.ts";
import { Errors } from "../../runtime/errors.ts";
import type { Done, FnStat, RemoteError, Results, Subjects } from "../../runtime/protocol.ts";
import type { Transport } from "../../runtime/transport.ts";

interface ClientBuf {
  keys: number[];
  values: unknown[];
  errors: RemoteError[];
}

/** Flush early once this many results wait, so messages stay well below max_payload. */
const FLUSH_AT = 5_000;

export class Outbox {
  private readonly results = new Map<string, ClientBuf>();
  private slots: number[] = [];
  private failed = 0;
  private readonly stats = new Map<string, FnStat>();
  private scheduled = false;
  private pending = 0;
  /** For the dashboard (Done.span / failedSlots / error): set once per message, not per task. */
  private t0 = 0;
  private failedSlots: number[] | undefined;
  private firstError: { name: string; message: string } | undefined;
  /** The scheduler instance the completions belong to. */
  sched = "";
  /** Runs before results leave (console lines of a task go out before its result). */
  beforeFlush: () => void = () => {};

  constructor(
    private readonly tx: Transport,
    private readonly subjects: Subjects,
    private readonly execId: string,
    private readonly worker: string,
  ) {}

  ok(client: string, slot: number, key: number, value: unknown, fn: string, ms: number): void {
    const b = this.buf(client);
    b.keys.push(key);
    b.values.push(value);
    this.complete(slot, fn, ms);
  }

  fail(client: string, slot: number, key: number, err: Omit<RemoteError, "i">, fn: string, ms: number): void {
    const b = this.buf(client);
    b.errors.push({ i: b.keys.length, ...err });
    b.keys.push(key);
    b.values.push(null);
    this.failed++;
    (this.failedSlots ??= []).push(slot);
    this.firstError ??= { name: err.name, message: err.message };
    this.complete(slot, fn, ms);
  }

  /** A task that produced nothing to send (cancelled before it started). */
  drop(slot: number): void {
    this.slots.push(slot);
    this.soon();
  }

  private buf(client: string): ClientBuf {
    let b = this.results.get(client);
    if (!b) this.results.set(client, (b = { keys: [], values: [], errors: [] }));
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
    if (++this.pending >= FLUSH_AT) this.flush();
    else this.soon();
  }

  private soon() {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Sends everything buffered now. */
  flush(): void {
    this.scheduled = false;
    if (this.pending === 0 && this.slots.length === 0) return;
    this.beforeFlush();
    this.pending = 0;
    for (const [client, b] of this.results) {
      const msg: Results = { worker: this.worker, keys: Uint32Array.from(b.keys), values: b.values };
      if (b.errors.length) msg.errors = b.errors;
      this.sendResults(this.subjects.results(client), msg);
    }
    this.results.clear();
    if (this.slots.length) {
      const done: Done = {
        exec: this.execId,
        sched: this.sched,
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
    }
  }

  /** Encodes results, replacing unencodable values by per-task errors and splitting oversize messages. */
  private sendResults(subject: string, msg: Results): void {
    let data: Uint8Array;
    try {
      data = encode(msg);
    } catch {
      return this.sendResults(subject, this.withoutUnencodable(msg));
    }
    if (data.byteLength <= this.tx.maxPayload) return this.tx.publish(subject, data);
    if (msg.keys.length === 1) {
      const e = Errors.PayloadTooLarge("The task's result", data.byteLength, this.tx.maxPayload);
      return this.sendResults(subject, { worker: msg.worker, keys: msg.keys, values: [null], errors: [{ i: 0, code: e.code, name: "TsDaskError", message: e.message, stack: "" }] });
    }
    const half = msg.keys.length >> 1;
    for (const [lo, hi] of [[0, half], [half, msg.keys.length]] as const) {
      const part: Results = { worker: msg.worker, keys: msg.keys.slice(lo, hi), values: msg.values.slice(lo, hi) };
      const errs = (msg.errors ?? []).filter((e) => e.i >= lo && e.i < hi).map((e) => ({ ...e, i: e.i - lo }));
      if (errs.length) part.errors = errs;
      this.sendResults(subject, part);
    }
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
        errors.push({ i, code: err.code, name: "TsDaskError", message: err.message, stack: "" });
        return null;
      }
    });
    return { worker: msg.worker, keys: msg.keys, values, errors };
  }
}
