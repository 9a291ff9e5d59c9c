/**
 * Named outputs (`map(fn, xs, { publish: "study-42" })`): every settled row of such a call is also
 * published on `tsdask.<cluster>.out.<name>` ({@link OutRows}, docs/subjects.md), for any NATS
 * client (a Python notebook, a Go service, the `nats` CLI) to follow.
 *
 * Who publishes: this client, not the executors. Only the client knows a row's final outcome: a
 * failure it will retry (`retries`) is not settled; rows the scheduler fails (KilledWorker,
 * TaskTimeout of a hung process), rows the client fails itself (an unsendable argument) and
 * cancelled rows never pass through an executor; a row run twice (after a reconnect or an
 * executor's death) is settled once here, and rows with a forged ticket are dropped here. The cost
 * is the same one extra message through nats-server per batch either way; here it is one
 * encode of rows the client already holds, batched: rows settled in one turn of the event loop
 * (all rows of one results message) leave as one message per call.
 */
import { encode } from "../runtime/codec.ts";
import { Errors, remoteError, type TaskError } from "../runtime/errors.ts";
import { isSubjectToken, type OutError, type OutRows, type Subjects } from "../runtime/protocol.ts";
import type { Transport } from "../runtime/transport.ts";
import { ERROR, type Job } from "./jobs.ts";
import { LargeResult } from "./large-values.ts";

/** Throws `BadOutputName` unless `name` can be the last token of a subject. */
export function checkOutputName(name: unknown): string {
  if (typeof name !== "string" || name.length > 200 || !isSubjectToken(name)) throw Errors.BadOutputName(name);
  return name;
}

interface Pending {
  job: Job;
  name: string;
  subject: string;
  rows: number[];
}

export class Outputs {
  private readonly pending = new Map<Job, Pending>();
  private scheduled = false;
  /** Messages and rows published so far (for tests and stats). */
  messages = 0;
  rows = 0;

  constructor(
    private readonly tx: Transport,
    private readonly subjects: Subjects,
    private readonly clientId: string,
  ) {}

  /** Publishes every row of `job` as it settles, on `out.<name>` (`name` checked by {@link checkOutputName}). */
  attach(job: Job, name: string): void {
    const subject = this.subjects.out(name);
    job.listen((j, i) => {
      let p = this.pending.get(j);
      if (!p) this.pending.set(j, (p = { job: j, name, subject, rows: [] }));
      p.rows.push(i);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Publishes everything settled so far (the client calls it before it closes). */
  flush(): void {
    this.scheduled = false;
    if (this.tx.isClosed) return void this.pending.clear();
    for (const p of this.pending.values()) this.send(p, p.rows);
    this.pending.clear();
  }

  private send(p: Pending, rows: number[]): void {
    const { job } = p;
    const values = new Array<unknown>(rows.length);
    const errors: OutError[] = [];
    rows.forEach((r, k) => {
      const e = job.status[r] === ERROR ? job.errors.get(r) : undefined;
      const v = job.values[r];
      if (e) errors.push(outError(k, e));
      else if (v instanceof LargeResult) {
        errors.push({ ...remoteError(Errors.PayloadTooLarge(`The result of task ${job.keyName(r)}`, v.ref.size, this.tx.maxPayload), k), worker: "" });
      }
      values[k] = e || v instanceof LargeResult || v === undefined ? null : v;
    });
    this.publish(p.subject, { name: p.name, client: this.clientId, job: job.base, total: job.size, fn: job.name }, rows, values, errors);
  }

  /**
   * A stream of rows not tied to one Job (the workloads' `publish`: rows settle per batch, in the
   * engine). `job` is a key reserved by the client, so `(client, job)` stays unique.
   */
  stream(name: string, job: number, total: number): OutputStream {
    const subject = this.subjects.out(name);
    return {
      publish: (fn, index, values, errors) => this.publish(subject, { name, client: this.clientId, job, total, fn }, index, values, errors),
    };
  }

  /** Encodes and publishes rows (`errors[].i` index into them), halving a batch above max_payload. */
  private publish(subject: string, head: Omit<OutRows, "index" | "keys" | "values" | "errors">, index: number[], values: unknown[], errors: OutError[]): void {
    const msg: OutRows = { ...head, index, keys: index.map((i) => head.job + i), values };
    if (errors.length) msg.errors = errors;
    let data: Uint8Array;
    try {
      data = encode(msg);
    } catch {
      // Values the client decoded always encode again; anything else is not worth losing the batch over.
      if (index.length > 1) return this.halves(subject, head, index, values, errors);
      data = encode({ ...msg, values: [null], errors: [{ ...remoteError(Errors.NotSerializable(`The result of row ${index[0]}`, "it could not be encoded again")), worker: "" }] });
    }
    if (data.byteLength > this.tx.maxPayload) {
      if (index.length > 1) return this.halves(subject, head, index, values, errors);
      const e = Errors.PayloadTooLarge(`The result of row ${index[0]}`, data.byteLength, this.tx.maxPayload);
      data = encode({ ...msg, values: [null], errors: [{ ...remoteError(e), worker: "" }] });
    }
    try {
      this.tx.publish(subject, data);
      this.messages++;
      this.rows += index.length;
    } catch {
      // Not connected: core NATS drops it anyway (at-most-once, docs/subjects.md).
    }
  }

  private halves(subject: string, head: Omit<OutRows, "index" | "keys" | "values" | "errors">, index: number[], values: unknown[], errors: OutError[]): void {
    const h = index.length >> 1;
    const part = (lo: number, hi: number) =>
      this.publish(subject, head, index.slice(lo, hi), values.slice(lo, hi), errors.filter((e) => e.i >= lo && e.i < hi).map((e) => ({ ...e, i: e.i - lo })));
    part(0, h);
    part(h, index.length);
  }
}

/** Rows published by the caller (see {@link Outputs.stream}). */
export interface OutputStream {
  publish(fn: string, index: number[], values: unknown[], errors: OutError[]): void;
}

/** The published form of a failed row's error. */
export function outError(i: number, e: Error): OutError {
  const t = e as Partial<TaskError> & { code?: string };
  return { i, code: t.code ?? "TaskFailed", name: t.remoteName ?? e.name ?? "Error", message: e.message, stack: t.remoteStack ?? "", worker: t.worker ?? "" };
}
