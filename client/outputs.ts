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
 *
 * Durable outputs (`{ publish, durable }`) go through JetStream instead: the stream is made on
 * first use, each message is published with an acknowledgement and a message id (a repeat is
 * stored once), and {@link Outputs.drain} waits for the outstanding acknowledgements.
 */
import { encode } from "../runtime/codec.ts";
import { Errors, remoteError, type TaskError } from "../runtime/errors.ts";
import type { Logger } from "../runtime/actor.ts";
import { isSubjectToken, type OutError, type OutRows, type Subjects } from "../runtime/protocol.ts";
import type { StreamLimits, Transport } from "../runtime/transport.ts";
import { ERROR, type Job } from "./jobs.ts";
import { LargeResult } from "./large-values.ts";
import type { DurableOptions } from "./options.ts";

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

/** A durable output's stream: resolves true once it exists, false when it could not be made. */
type StreamReady = Promise<boolean>;

/** Retention when `durable: true`: a week, 1 GiB, no cap on messages. */
const DEFAULT_LIMITS: StreamLimits = { maxAgeMs: 7 * 24 * 3600_000, maxBytes: 2 ** 30, maxMessages: -1 };

/** The stream limits of `durable` (undefined: not durable); throws BadOption on a bad limit. */
function durableLimits(durable: boolean | DurableOptions | undefined): StreamLimits | undefined {
  if (durable === undefined || durable === false) return undefined;
  if (durable === true) return DEFAULT_LIMITS;
  if (typeof durable !== "object" || durable === null) throw Errors.BadOption("durable", durable, "true, or { maxAgeMs, maxBytes, maxMessages }");
  const pick = (k: keyof DurableOptions, d: number) => {
    const v = durable[k];
    if (v === undefined) return d;
    if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) throw Errors.BadOption(`durable.${k}`, v, "a positive number");
    return Math.floor(v);
  };
  return { maxAgeMs: pick("maxAgeMs", DEFAULT_LIMITS.maxAgeMs), maxBytes: pick("maxBytes", DEFAULT_LIMITS.maxBytes), maxMessages: pick("maxMessages", DEFAULT_LIMITS.maxMessages) };
}

export class Outputs {
  private readonly pending = new Map<Job, Pending>();
  private scheduled = false;
  /** Durable outputs by name: their stream, made once per client. */
  private readonly streams = new Map<string, StreamReady>();
  /** JetStream publishes not yet acknowledged. */
  private readonly unacked = new Set<Promise<void>>();
  private readonly warned = new Set<string>();
  /** Messages and rows published so far (for tests and stats); `stored`: messages JetStream acknowledged. */
  messages = 0;
  rows = 0;
  stored = 0;

  constructor(
    private readonly tx: Transport,
    private readonly subjects: Subjects,
    private readonly clientId: string,
    private readonly log: Logger,
  ) {}

  /**
   * Checks an output before a call uses it: its name ({@link checkOutputName}), its `durable`
   * limits, and that the server runs JetStream when it is durable (else `JetStreamUnavailable`).
   * Starts making the stream, so it is usually ready before the first row.
   */
  check(name: unknown, durable?: boolean | DurableOptions): void {
    const n = checkOutputName(name);
    const limits = durableLimits(durable);
    if (!limits) return;
    if (!this.tx.hasJetStream) throw Errors.JetStreamUnavailable(n, this.tx.server);
    if (!this.streams.has(n)) {
      const ready = this.tx.ensureStream(this.subjects.outStream(n), this.subjects.out(n), limits).then(
        () => true,
        (e: Error) => (this.warnOnce(n, e.message), false),
      );
      this.streams.set(n, ready);
    }
  }

  /** Publishes every row of `job` as it settles, on `out.<name>` ({@link check} first). */
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

  /** Resolves when every durable publish so far was acknowledged (or given up on). */
  async drain(): Promise<void> {
    while (this.unacked.size) await Promise.all([...this.unacked]);
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
    const stream = this.streams.get(head.name);
    if (stream) return this.store(stream, head, subject, data, index);
    try {
      this.tx.publish(subject, data);
      this.messages++;
      this.rows += index.length;
    } catch {
      // Not connected: core NATS drops it anyway (at-most-once, docs/subjects.md).
    }
  }

  /** A durable output's message: into JetStream with an id (repeats stored once), acknowledged. */
  private store(ready: StreamReady, head: Pick<OutRows, "name" | "job">, subject: string, data: Uint8Array, index: number[]): void {
    const id = `${this.clientId}.${head.job}.${index[0]}.${index.length}`;
    this.messages++;
    this.rows += index.length;
    const atMostOnce = () => {
      try {
        this.tx.publish(subject, data);
      } catch {
        /* not connected */
      }
    };
    const p: Promise<void> = ready
      .then(async (ok) => {
        if (!ok) return atMostOnce(); // the stream could not be made (warned once)
        await this.tx.publishStored(subject, data, id);
        this.stored++;
      })
      .catch((e: Error) => (this.warnOnce(head.name, e.message), atMostOnce()))
      .finally(() => this.unacked.delete(p));
    this.unacked.add(p);
  }

  private warnOnce(name: string, detail: string): void {
    if (this.warned.has(name)) return;
    this.warned.add(name);
    this.log.warn(Errors.DurableOutputFailed(name, detail).message);
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
