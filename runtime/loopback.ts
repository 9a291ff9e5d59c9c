/**
 * A private, in-process message bus with the part of a nats.js connection that {@link Transport}
 * uses (publish, subscribe with `*` and `>`, request replies, "no responders"), for the embedded
 * process's warm-up (cluster/warm-up.ts): the scheduler, client and codec code run on it as on
 * NATS, and nothing leaves the process. Deliveries happen in batches at the next turn of the event
 * loop, in the order published, as a socket read delivers NATS messages; never inside `publish`.
 */
import type { NatsConnection } from "./transport.ts";

type Callback = (err: Error | null, msg: LoopbackMsg) => void;

interface LoopbackMsg {
  subject: string;
  data: Uint8Array;
  reply: string | undefined;
  headers: { code: number } | undefined;
}

interface LoopbackSub {
  tokens: string[];
  callback: Callback;
  closed: boolean;
}

const EMPTY = new Uint8Array(0);
const NO_RESPONDERS = { code: 503 };

export class LoopbackBus {
  private subs: LoopbackSub[] = [];
  private queue: [LoopbackSub, LoopbackMsg][] = [];
  private scheduled = false;
  private closed = false;

  constructor(private readonly maxPayload = 1024 * 1024) {}

  /** A connection to this bus, typed as nats.js's (only what Transport calls is there). */
  connection(): NatsConnection {
    const bus = this;
    const conn = {
      info: { max_payload: this.maxPayload, server_id: "loopback", server_name: "loopback" },
      publish: (subject: string, data?: Uint8Array, opts?: { reply?: string }) => bus.publish(subject, data ?? EMPTY, opts?.reply),
      subscribe: (subject: string, opts: { callback: Callback }) => bus.subscribe(subject, opts.callback),
      isClosed: () => bus.closed,
      flush: () => Promise.resolve(),
      close: () => Promise.resolve(bus.close()),
      closed: () => new Promise<void>(() => {}),
      getServer: () => "loopback",
      status: () => ({ [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<never>>(() => {}) }) }),
    };
    return conn as unknown as NatsConnection;
  }

  /** Ends every delivery: queued messages are dropped, later publishes too. */
  close(): void {
    this.closed = true;
    this.queue = [];
    this.subs = [];
  }

  private subscribe(subject: string, callback: Callback) {
    const sub: LoopbackSub = { tokens: subject.split("."), callback, closed: false };
    this.subs.push(sub);
    return {
      unsubscribe: () => {
        sub.closed = true;
        this.subs = this.subs.filter((s) => s !== sub);
      },
      isClosed: () => sub.closed,
    };
  }

  private publish(subject: string, data: Uint8Array, reply: string | undefined): void {
    if (this.closed) return;
    const tokens = subject.split(".");
    let heard = false;
    for (const s of this.subs) {
      if (!matches(s.tokens, tokens)) continue;
      heard = true;
      this.queue.push([s, { subject, data, reply, headers: undefined }]);
    }
    // A request nobody serves is answered at once, as nats-server does (an empty 503 message).
    if (!heard && reply) return this.publishNoResponders(reply);
    this.schedule();
  }

  private publishNoResponders(reply: string) {
    const tokens = reply.split(".");
    for (const s of this.subs) if (matches(s.tokens, tokens)) this.queue.push([s, { subject: reply, data: EMPTY, reply: undefined, headers: NO_RESPONDERS }]);
    this.schedule();
  }

  private schedule() {
    if (this.scheduled || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const batch = this.queue;
      this.queue = [];
      for (const [s, m] of batch) if (!s.closed && !this.closed) s.callback(null, m);
      this.schedule();
    });
  }
}

/** NATS subject matching: `*` one token, `>` the rest (one token at least). */
function matches(pattern: string[], subject: string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    if (p === ">") return subject.length > i;
    if (i >= subject.length || (p !== "*" && p !== subject[i])) return false;
  }
  return pattern.length === subject.length;
}
