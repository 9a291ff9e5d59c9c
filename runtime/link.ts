/**
 * An in-process link between a client and the scheduler it embeds (`Client.connect()` with no
 * address; cluster/local.ts makes one per private cluster). Messages from the client to a subject
 * the scheduler serves (`sched.submit`, `sched.register`, `data.put`, …), and the scheduler's replies
 * to those requests, are handed over inside the process instead of making a round trip through
 * nats-server: on the 2-core machines this project is measured on, that hop cost a lone submit
 * ~0.4 ms of its ~2 ms (bench/embedded `hops`). So do the scheduler's messages to subjects only that
 * client listens on (Route.ownInbox: its results and log lines, e.g. a task the scheduler failed or
 * a `ResourcesUnavailable` warning), which then keep their order with its replies: a warning sent
 * before an `info()` reply is printed before `info()` resolves. Everything else still travels over NATS: the
 * scheduler keeps its NATS subscriptions, so executors, other clients, `ts-dask info` and the
 * dashboard reach it as before, and the scheduler's messages to executors and the executors'
 * results go through nats-server. So do subjects that other peers listen on too (`Route.fanOut`:
 * a broadcast scatter's `data.push.<hash>`, which the listening executors must receive): the link
 * would hand them to the scheduler alone.
 *
 * The messages are the same bytes as over NATS (encoded by the sender, decoded and checked by the
 * receiver's route guard): only the carrier changes. Each is delivered in the order sent, never
 * inside the sender's call, as a NATS message would be: a message to the scheduler at the next
 * microtask (a lone submit's latency), a reply at the next turn of the event loop (see toClient). All of the client's
 * messages to the scheduler's subjects take the link, so they keep their order among themselves.
 * A subject the scheduler stops serving (it stopped) falls back to NATS at once.
 */
import { HOP_TRACE, hopReceived, hopSent } from "./hop-trace.ts";

/** A message handler: bytes, reply subject, subject (as runtime/transport.ts `Handler`). */
export type LinkHandler = (data: Uint8Array, reply: string | undefined, subject: string) => void;

export class Link {
  /** Exact subjects the scheduler's side serves, and their handlers. */
  private readonly served = new Map<string, LinkHandler[]>();
  /** Reply subjects of requests the client's side sent through the link. */
  private readonly inboxes = new Map<string, { handler: LinkHandler; bridges: (() => void)[] }>();
  /** Messages handed over so far, each way (tests and benchmarks check the link is used). */
  readonly delivered = { toServer: 0, toClient: 0 };

  /** The server side subscribes `subject` (no wildcards); returns the undo. */
  serve(subject: string, handler: LinkHandler): () => void {
    if (subject.includes("*") || subject.includes(">")) return () => {};
    let hs = this.served.get(subject);
    if (!hs) this.served.set(subject, (hs = []));
    hs.push(handler);
    return () => {
      const list = this.served.get(subject);
      const i = list ? list.indexOf(handler) : -1;
      if (i < 0) return;
      list!.splice(i, 1);
      if (list!.length === 0) this.served.delete(subject);
    };
  }

  /** Whether the server side serves `subject` now (the client side then sends through the link). */
  serves(subject: string): boolean {
    return this.served.has(subject);
  }

  /** The client side sends to a served subject; false when nothing serves it (send over NATS instead). */
  toServer(subject: string, data: Uint8Array, reply?: string): boolean {
    const hs = this.served.get(subject);
    if (!hs) return false;
    this.delivered.toServer++;
    if (HOP_TRACE) hopSent(subject, data.byteLength, "link");
    queueMicrotask(() => {
      for (const h of hs) deliver(h, data, reply, subject);
    });
    return true;
  }

  /** The client side expects replies on `inbox` (or listens on a subject of its own, Route.ownInbox); returns the undo. */
  openInbox(inbox: string, handler: LinkHandler): () => void {
    const box = { handler, bridges: [] as (() => void)[] };
    this.inboxes.set(inbox, box);
    return () => {
      if (this.inboxes.get(inbox) !== box) return;
      this.inboxes.delete(inbox);
      for (const b of box.bridges) b();
    };
  }

  /**
   * The server side passes a request on to another peer over NATS with the client's reply subject
   * (`sched.run` forwarded to an executor): the answer will come over NATS. True when `inbox` is an
   * open link inbox not bridged yet: the caller then subscribes it on NATS, feeding
   * {@link toClient}, and gives the undo, which runs when the inbox closes.
   */
  needsBridge(inbox: string): boolean {
    const box = this.inboxes.get(inbox);
    return !!box && box.bridges.length === 0;
  }

  /** See {@link needsBridge}. */
  bridged(inbox: string, undo: () => void): void {
    const box = this.inboxes.get(inbox);
    if (box) box.bridges.push(undo);
    else undo();
  }

  /** The server side publishes on `subject`: handed over when it is an open inbox of the client side. */
  toClient(subject: string, data: Uint8Array): boolean {
    const h = this.inboxes.get(subject)?.handler;
    if (!h) return false;
    this.delivered.toClient++;
    if (HOP_TRACE) hopSent(subject, data.byteLength, "link");
    // At the next turn, not the next microtask: a map's submits and their acknowledgements would
    // otherwise chain through microtasks, and the process would read no completion or result until
    // the whole map had been submitted. A reply is never on a lone task's latency path.
    setImmediate(() => deliver(h, data, undefined, subject));
    return true;
  }
}

function deliver(h: LinkHandler, data: Uint8Array, reply: string | undefined, subject: string) {
  const done = HOP_TRACE ? hopReceived(subject, data.byteLength, "link") : undefined;
  try {
    h(data, reply, subject);
  } catch (e) {
    // As a throwing NATS subscription callback would: loud, but the sender is not hurt.
    console.error(`ts-dask: a handler of ${subject} failed: ${(e as Error).stack ?? e}`);
  }
  done?.();
}
