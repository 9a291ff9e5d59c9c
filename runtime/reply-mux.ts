/**
 * Replies to a connection's requests, multiplexed (issue 10): one wildcard subscription
 * `<inbox>.*` per connection and a table of waiting requests by token, as nats.js's own `request`
 * does, instead of a SUB and an UNSUB at the server for every request (a submit's acknowledgement
 * from a client in another process paid both, each a protocol line the server parses and a change
 * to its subscription table). Used by runtime/transport.ts, which owns the NATS connection; this
 * module does not import `nats`.
 *
 * A request's reply subject is `<inbox>.<token>`. Replies are offered to the request's `take` until
 * it accepts one (any peer may answer a request on a shared NATS: the caller decides whom to
 * believe). A reply for a token no longer waiting (answered, timed out, closed) is dropped and
 * counted ({@link ReplyMux.late}). Timeouts, "no responders" and a close while waiting reject with
 * the errors table's {@link Errors.NoReply}, {@link Errors.NoResponders} and {@link Errors.RequestClosed}.
 *
 * Requests through the in-process link (runtime/link.ts) take tokens from the same table under a
 * second inbox, `<link inbox>.<token>`, which the wildcard does not cover: a reply the scheduler
 * passes on to NATS (a bridged inbox, see Transport) arrives once, not twice.
 */
import { Errors, type TsDaskError } from "./errors.ts";

/** A reply as the connection hands it over. */
export interface MuxMessage {
  subject: string;
  data: Uint8Array;
  /** The server's "no responders" status (503, empty body): nobody subscribes the request's subject. */
  noResponders: boolean;
}

/** Subscribes `subject` on the connection; `err` is the subscription's own failure (e.g. refused by permissions). */
export type MuxSubscribe = (subject: string, callback: (err: Error | undefined, msg: MuxMessage | undefined) => void) => { unsubscribe(): void };

/** One waiting request. */
interface Waiting {
  /** The request's subject, for errors. */
  subject: string;
  /** Offered every reply; returns the answer (wrapped) or undefined to keep waiting. */
  take(data: Uint8Array): { value: unknown } | undefined;
  resolve(v: unknown): void;
  reject(e: TsDaskError): void;
  timer: NodeJS.Timeout;
  /** Answered through the in-process link, not the wildcard subscription. */
  linked: boolean;
  /** Runs when the request ends (a link inbox closes). */
  cleanup?: () => void;
}

/** A request waiting in the table: its reply subject and answer. */
export interface Expected<T> {
  /** Where the answer must be sent (the request's reply subject). */
  readonly reply: string;
  readonly token: string;
  readonly answer: Promise<T>;
}

export class ReplyMux {
  private readonly waiting = new Map<string, Waiting>();
  private sub: { unsubscribe(): void } | undefined;
  private seq = 0;
  private closed = false;
  /** Replies that arrived for no waiting request (answered already, timed out, closed): dropped. */
  late = 0;
  /** Wildcard subscriptions made so far (1 unless the server refused one). */
  subscriptions = 0;

  constructor(
    /** `<prefix>.<unique id>`: the wildcard `<inbox>.*` is subscribed on first use. */
    private readonly inbox: string,
    /** A second unique inbox for requests through the in-process link (never subscribed here). */
    private readonly linkInbox: string,
    private readonly subscribe: MuxSubscribe,
    /** The connection's name, for errors. */
    private readonly connName: string,
  ) {}

  /** Requests waiting for their answer now. */
  get pending(): number {
    return this.waiting.size;
  }

  /**
   * Enters a request in the table. Publish it with `reply` as its reply subject after this call.
   * `linked`: the answer comes through the in-process link (delivered with {@link deliver}); no
   * subscription is needed. Otherwise the wildcard subscription is made now if there is none.
   */
  expect<T>(subject: string, timeoutMs: number, take: (data: Uint8Array) => { value: T } | undefined, linked = false): Expected<T> {
    const token = (++this.seq).toString(36);
    const reply = `${linked ? this.linkInbox : this.inbox}.${token}`;
    let resolve!: (v: unknown) => void;
    let reject!: (e: TsDaskError) => void;
    const answer = new Promise<T>((res, rej) => ((resolve = res as (v: unknown) => void), (reject = rej)));
    if (this.closed) {
      reject(Errors.RequestClosed(subject, this.connName));
      return { reply, token, answer };
    }
    if (!linked && !this.sub) this.listen();
    const timer = setTimeout(() => this.fail(token, Errors.NoReply(subject, timeoutMs)), timeoutMs);
    this.waiting.set(token, { subject, take, resolve, reject, timer, linked });
    return { reply, token, answer };
  }

  /** Runs `fn` when the request `token` ends (answered, failed or closed); at once if it has ended. */
  onEnd(token: string, fn: () => void): void {
    const w = this.waiting.get(token);
    if (w) w.cleanup = fn;
    else fn();
  }

  /** A reply for request `token` (from the wildcard subscription or the link). */
  deliver(token: string, data: Uint8Array): void {
    const w = this.waiting.get(token);
    if (!w) return void this.late++;
    const got = w.take(data);
    if (got) this.end(token, w).resolve(got.value);
  }

  /** Ends request `token` with `err` (a timeout, a failed publish). */
  fail(token: string, err: TsDaskError): void {
    const w = this.waiting.get(token);
    if (w) this.end(token, w).reject(err);
  }

  /** Rejects every waiting request with {@link Errors.RequestClosed} and drops the subscription. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const [token, w] of this.waiting) this.end(token, w).reject(Errors.RequestClosed(w.subject, this.connName));
    this.sub?.unsubscribe();
    this.sub = undefined;
  }

  private end(token: string, w: Waiting): Waiting {
    this.waiting.delete(token);
    clearTimeout(w.timer);
    w.cleanup?.();
    return w;
  }

  private listen() {
    const prefixLength = this.inbox.length + 1;
    const wildcard = `${this.inbox}.*`;
    this.subscriptions++;
    const sub = this.subscribe(wildcard, (err, msg) => {
      if (err) {
        // Refused (permissions): every request waiting on it fails, named; the next one tries again.
        if (this.sub === sub) this.sub = undefined;
        const e = Errors.SubscriptionFailed(wildcard, this.connName, err.message);
        for (const [token, w] of this.waiting) if (!w.linked) this.end(token, w).reject(e);
        return;
      }
      const token = msg!.subject.slice(prefixLength);
      if (!msg!.noResponders) return this.deliver(token, msg!.data);
      const w = this.waiting.get(token);
      if (w) this.end(token, w).reject(Errors.NoResponders(w.subject));
      else this.late++;
    });
    this.sub = sub;
  }
}
