/** User actors' subjects and messages (issue 14); part of runtime/protocol.ts, which re-exports it. */
import type { FnDef, ModuleDef } from "./code.ts";
import { subjects, type Bound, type Refusal, type RemoteError } from "./subjects.ts";

// =============================================================================================
// Actors (issue 14) — every actor subject and message, kept together in one block.
//
// | subject                      | kind    | from → to                         | message |
// |------------------------------|---------|-----------------------------------|---------|
// | `sched.actor`                | request | client → scheduler                | {@link ActorRequest} → {@link ActorReply} (create / get / kill) |
// | `sched.snapshot`             | publish | executor → scheduler              | {@link ActorSnapshot} (an actor's `snapshot()`, kept in the data store) |
// | `exec.<id>.actor`            | request | scheduler → executor              | {@link ExecActor} → {@link ExecActorReply} (start / stop one actor) |
// | `actor.<actorId>.calls`      | publish | client → the hosting executor     | {@link ActorCalls} (method calls, batched per client) |
// | `actres.<clientId>`          | publish | executor → client                 | {@link ActorReplies} |
// | `actor.<actorId>.status`     | publish | scheduler → clients using it      | {@link ActorStatus} |
// Executors report each hosted actor's call count in {@link Heartbeat.actors}; `sched.info`
// lists actors in {@link ClusterInfo.actors}.
// =============================================================================================

/** The actor subjects of one cluster (in {@link subjects}; their routes are in runtime/routes.ts). */
export function actorSubjects(cluster: string) {
  const s = subjects(cluster);
  return {
    control: s.actorControl,
    snapshot: s.actorSnapshot,
    exec: s.execActor,
    calls: s.actorCalls,
    replies: s.actorReplies,
    status: s.actorStatus,
  } as const;
}
export type ActorSubjects = ReturnType<typeof actorSubjects>;

/** Snapshot cadence: after `calls` calls, or `ms` after the first call not yet in a snapshot. */
export interface SnapshotEvery {
  calls: number;
  ms: number;
}

/** client.actor() / getActor() / killActor(), with the client's id and token. */
export interface ActorRequest {
  op: "create" | "get" | "kill";
  client: string;
  auth: string;
  /** The actor's name (create: optional, a random one otherwise; get and kill: required). */
  name?: string;
  /** create: the class, by source or by module reference, and its module. */
  cls?: FnDef;
  module?: ModuleDef;
  args?: unknown[];
  /** create: re-create it on another executor up to `max` times when its host dies. */
  restart?: { max: number };
  /** create: lives until killActor(), not tied to the creating client's lease. */
  detached?: boolean;
  snapshotEvery?: SnapshotEvery;
}

/** Where an actor lives now, and the key its calls must carry. */
export interface ActorAddress {
  id: string;
  name: string;
  /** "placing" | "running" | "restarting" (calls wait until "running"). */
  state: string;
  /** Incarnation: 1 at creation, +1 at every restart. Calls name the incarnation they are for. */
  inc: number;
  exec: string;
  execName: string;
  /** The call key: the host runs only calls that carry it. */
  key: string;
  /** Method names of the class (anything else read through the proxy is a property). */
  methods: string[];
  /** create: false when the name already existed (get-or-create returned the existing actor). */
  created?: boolean;
}
export type ActorReply = { ok: true; actor: ActorAddress } | (Refusal & { executor?: string });

/** Start (construct, then `restore(state)` if given) or stop one actor on this executor. */
export interface ExecActor extends Bound {
  op: "start" | "stop";
  actor: string;
  name: string;
  inc: number;
  key?: string;
  cls?: FnDef;
  module?: ModuleDef;
  args?: unknown[];
  /** The last snapshot (msgpack of what `snapshot()` returned), to pass to `restore()`. */
  state?: Uint8Array;
  snapshotEvery?: SnapshotEvery;
  /** stop: why (pending calls are answered with it). */
  reason?: string;
}
export type ExecActorReply = { ok: true; methods: string[]; restored?: boolean } | { ok: false; error: Omit<RemoteError, "i"> };

/** Method calls of one client to one actor, in the client's order. `get[i]`: read property `methods[i]`. */
export interface ActorCalls {
  client: string;
  key: string;
  inc: number;
  ids: number[];
  methods: string[];
  args: unknown[][];
  get?: number[];
}

/** Answers to calls, batched per client. `errors[k].i` indexes `ids`. */
export interface ActorReplies {
  actor: string;
  /** The executor's name. */
  worker: string;
  ids: number[];
  values: unknown[];
  errors?: RemoteError[];
}

/** An actor's `snapshot()` after `calls` calls of incarnation `inc` (msgpack bytes). */
export interface ActorSnapshot extends Bound {
  exec: string;
  actor: string;
  inc: number;
  calls: number;
  state: Uint8Array;
}

/** An actor changed state: "running" (at `exec`), "restarting" (its host died), "lost" or "killed" (gone for good). */
export interface ActorStatus {
  actor: string;
  name: string;
  state: "running" | "restarting" | "lost" | "killed";
  inc: number;
  exec: string;
  execName: string;
  reason?: string;
}

/** One actor in {@link ClusterInfo.actors}. */
export interface ActorInfo {
  id: string;
  name: string;
  state: string;
  /** The host executor's name and id ("" while not placed). */
  executor: string;
  executorId: string;
  owner: string;
  detached: boolean;
  restarts: number;
  calls: number;
  /** Calls per second over the last heartbeats. */
  rate: number;
  /** Bytes of its last snapshot (0: none), and how many calls it covers. */
  snapshot: number;
  snapshotCalls: number;
}
