/**
 * What every actor shares: a transport, its cluster's subjects, and message handlers that never
 * crash on bad input. A message that does not decode, or decodes to the wrong shape, is counted
 * per kind, logged once per kind, and dropped; the handler only ever sees a well-formed message.
 */
import { decode, decodeViews, encode } from "./codec.ts";
import { subjects, type Subjects } from "./protocol.ts";
import { resolveRoute, type BoundRoute, type Guard, type Reply, type Route } from "./route.ts";
import type { Sub, Transport } from "./transport.ts";
import type { TsDaskError } from "./errors.ts";

export type { Guard, Reply } from "./route.ts";

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
}

export const consoleLogger = (prefix: string): Logger => ({
  info: (m) => console.log(`${prefix} ${m}`),
  warn: (m) => console.error(`${prefix} ${m}`),
});

export const silentLogger: Logger = { info: () => {}, warn: () => {} };

/** Warnings to stderr, prefixed; progress lines dropped (a client inside the user's program: Dask's client logs warnings only, too). */
export const warningsLogger = (prefix: string): Logger => ({
  info: () => {},
  warn: (m) => console.error(`${prefix} ${m}`),
});

export class Actor {
  readonly subjects: Subjects;
  /** Bad messages dropped, by kind (e.g. `submit: undecodable`). */
  readonly badInput = new Map<string, number>();
  /** Subscriptions the server refused or ended (e.g. a permissions violation), in order. */
  readonly subscriptionErrors: TsDaskError[] = [];
  private readonly subs: Sub[] = [];

  constructor(
    readonly tx: Transport,
    readonly cluster: string,
    readonly log: Logger,
  ) {
    this.subjects = subjects(cluster);
  }

  /**
   * Handles a route of the protocol's table (`routes` in runtime/routes.ts; a per-peer route bound
   * with `.at(id)`): each message is decoded and checked with the route's guard, bad ones are counted
   * under the route's name, and the handler gets the message and the typed reply subject.
   */
  serve<M, R>(r: Route<M, R> | BoundRoute<M, R>, handler: (msg: M, reply: Reply<R> | undefined) => void, queue?: string): Sub {
    const { route, subject } = resolveRoute(r, this.subjects);
    return this.listen(subject, route.name, route.guard, handler as (msg: M, reply: string | undefined) => void, queue, route.views, route.fanOut, route.ownInbox);
  }

  /** Subscribes `handler` to `subject`, decoding and checking each message with `guard`. */
  private listen<T>(subject: string, kind: string, guard: Guard<T>, handler: (msg: T, reply: string | undefined) => void, queue?: string, views?: boolean, fanOut?: boolean, ownInbox?: boolean): Sub {
    const sub = this.tx.subscribe(
      subject,
      (data, reply) => {
        let msg: unknown;
        try {
          msg = views ? decodeViews(data) : decode(data);
        } catch (e) {
          return this.dropped(`${kind}: undecodable (${(e as Error).message})`);
        }
        if (!guard(msg)) return this.dropped(`${kind}: unexpected shape`);
        try {
          handler(msg, reply);
        } catch (e) {
          // A handler bug must not take the actor down with it; it is still loud.
          this.dropped(`${kind}: handler failed (${(e as Error).stack ?? e})`);
        }
      },
      { ...(queue ? { queue } : {}), ...(fanOut ? { unlinked: true } : {}), ...(ownInbox ? { ownInbox: true } : {}), onError: (e) => this.onSubscriptionError(e) },
    );
    this.subs.push(sub);
    return {
      unsubscribe: () => {
        sub.unsubscribe();
        const i = this.subs.indexOf(sub);
        if (i >= 0) this.subs.splice(i, 1);
      },
    };
  }

  /** The server refused or ended a subscription ({@link Errors.SubscriptionFailed}): the actor hears nothing more there. */
  protected onSubscriptionError(e: TsDaskError): void {
    this.subscriptionErrors.push(e);
    this.log.warn(e.message);
  }

  /** Answers a request with its route's reply type (no-op when the message had no reply subject). */
  respond<R>(reply: Reply<R> | undefined, value: NoInfer<R>): void {
    if (reply) this.tx.publish(reply, encode(value));
  }

  /** Counts a dropped message; the first of each kind is logged. */
  dropped(kind: string): void {
    const key = kind.split(" (")[0]!;
    const n = (this.badInput.get(key) ?? 0) + 1;
    this.badInput.set(key, n);
    if (n === 1) this.log.warn(`dropped a bad message — ${kind} (further ones of this kind are counted silently)`);
  }

  stopListening(): void {
    for (const s of this.subs.splice(0)) s.unsubscribe();
  }
}
