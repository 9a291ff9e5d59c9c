/**
 * What a route is: one subject of runtime/protocol.ts with its message type, the guard that checks
 * it and (for a request) the type of its reply. The table itself is `routes` in runtime/routes.ts;
 * actors subscribe with `Actor.serve(routes.x, handler)`, which infers the handler's message and
 * reply types from the record, so "who handles `sched.submit`?" is a search for `routes.submit`.
 */
import type { Subjects } from "./protocol.ts";

/** A cheap structural check of a decoded message (top-level fields only: hot paths call it). */
export type Guard<T> = (m: unknown) => m is T;

/** What a per-peer subject is built from: an executor id, a client id, a worker instance, a value's hash, an output's name, a user actor's id. */
export type RouteParam = "exec" | "client" | "instance" | "hash" | "output" | "actor";

declare const replyOf: unique symbol;
/** The reply subject of a request whose answer must be an `R` (see `Actor.respond`). */
export type Reply<R> = string & { readonly [replyOf]: R };

/** One subject of the protocol. `R` is `never` for a publish (nothing answers it). */
export interface Route<M, R = never> {
  /** The subject's name below the cluster prefix, e.g. `sched.submit`, `exec.<id>.tasks`. Also the kind bad input is counted under. */
  readonly name: string;
  readonly kind: "publish" | "request";
  /** Who sends it, and who handles it (the handler is found by searching for `routes.<field>`). */
  readonly from: string;
  readonly to: string;
  /** Set for per-peer subjects: what the subject is built from (`Route.at(value)` binds it). */
  readonly param?: RouteParam;
  /** The subject within a cluster (`p`: the bound parameter, "" for routes without one). */
  readonly subject: (s: Subjects, p: string) => string;
  readonly guard: Guard<M>;
  /**
   * Typed arrays in its messages are decoded as views of the message (codec.ts decodeViews), not
   * copies: only for routes whose handlers copy them at once (a value's chunks, written straight
   * into the value's buffer), where a copy per message would cost a fresh buffer per chunk.
   */
  readonly views?: true;
  /**
   * Peers other than the one that handles it listen on it too (a broadcast push goes to the
   * scheduler and every listening executor): never handed over by the in-process link
   * (runtime/link.ts), which delivers to the embedded scheduler alone.
   */
  readonly fanOut?: true;
  /**
   * Only the peer it is bound to listens on it (a client's results and log lines): what the
   * scheduler that client embeds sends there takes the in-process link, so it arrives in order
   * with that scheduler's replies (runtime/link.ts), not behind them over NATS.
   */
  readonly ownInbox?: true;
  /** Type-only: the reply's type. Never set. */
  readonly replyType?: R;
  /** This route for one peer (its `param`): what `Actor.serve` subscribes to. */
  at(p: string): BoundRoute<M, R>;
}

/** A per-peer route with its parameter bound (e.g. `routes.execTasks.at(id)`). */
export interface BoundRoute<M, R = never> {
  readonly route: Route<M, R>;
  readonly param: string;
}

/** Builds one record of the route table. */
export function route<M, R = never>(r: Omit<Route<M, R>, "at" | "replyType">): Route<M, R> {
  const full: Route<M, R> = { ...r, at: (p: string) => ({ route: full, param: p }) };
  return full;
}

/** The route and its subject within a cluster; throws when a per-peer route was not bound. */
export function resolveRoute<M, R>(r: Route<M, R> | BoundRoute<M, R>, s: Subjects): { route: Route<M, R>; subject: string } {
  const route = "route" in r ? r.route : r;
  const param = "route" in r ? r.param : undefined;
  if (route.param !== undefined && param === undefined) throw new Error(`route ${route.name} is per ${route.param}: bind it with .at(${route.param})`);
  return { route, subject: route.subject(s, param ?? "") };
}
