/**
 * The wire protocol: every NATS subject and every message that travels on it, in one place (this
 * module and its parts in runtime/protocol/, which it re-exports: subjects.ts — version, ids,
 * subjects, Bound, Refusal, RemoteError; code.ts — shipped functions and modules; data.ts —
 * scattered data; uploads.ts — uploads and installs; actors.ts — user actors). Import from here.
 * Nothing else in the code base builds a subject string. To find who handles a subject, search
 * for its field name here (e.g. `submit`) in `actors/` and `client/`.
 *
 * Subjects live under one namespace per cluster, `tsdask.<cluster>.`. Every subject is one record of
 * the route table `routes` (runtime/routes.ts): its name, who sends it and who handles it, its message type,
 * the guard that checks it and, for a request, its reply type. Actors subscribe with
 * `Actor.serve(routes.<field>, handler)`, so a search for `routes.submit` finds the handler of
 * `sched.submit`. Replies to requests travel on `_INBOX.<id>.<n>` (inboxPrefix
 * `tsdask.<cluster>._INBOX`; a scoped client's `tsdask.<cluster>._INBOX.<scope>`): `<id>` one per
 * connection, subscribed once as `_INBOX.<id>.*`, `<n>` one per request (runtime/reply-mux.ts).
 *
 * Client scopes (issue 12): a client id is a random token, or `<scope>.<random>` for a client with a
 * scope (by default its NATS user name, see {@link clientIdOf}). Its results and logs then travel
 * on `results.<scope>.<random>` and `log.<scope>.<random>`, and its replies under
 * `_INBOX.<scope>.`, so a NATS server that lets user U subscribe only under its own scope (see
 * deploy/nats/least-privilege.conf) keeps every other user from reading them. Nothing else
 * changes: executors and the scheduler build those subjects from the id as always.
 *
 * Trust (issue 11): a peer on the same NATS account can publish anything anywhere. So every
 * message from the scheduler to one executor or worker carries the `auth` token issued in that
 * peer's register reply ({@link Bound}), every message from a registered peer to the scheduler
 * carries its own token, and every result row carries a ticket only the scheduler can issue
 * (runtime/tickets.ts). User code runs only at a registered client's request (`sched.run`, which
 * the scheduler forwards to `exec.<id>.run` with the executor's token); stored values are read
 * only with a binding (`data.get`) and kept only when their bytes match their SHA-256
 * (runtime/chunked-value.ts). Messages that do not match are dropped and counted, never acted on.
 */
export * from "./protocol/subjects.ts";
export * from "./protocol/code.ts";
export * from "./protocol/data.ts";
export * from "./protocol/uploads.ts";
export * from "./protocol/actors.ts";
import type { Bound, Refusal, RemoteError } from "./protocol/subjects.ts";
import type { FnDef, ModuleDef } from "./protocol/code.ts";
import type { InstallJob, UploadDef } from "./protocol/uploads.ts";
import type { ActorInfo } from "./protocol/actors.ts";
import type { ErrorCode } from "./errors.ts";

// ---------------------------------------------------------------------------------------------
// Registration & liveness

/** Versions every actor announces when it connects. */
export interface Hello {
  proto: number;
  version: string;
  node: string;
}

export interface RegisterWorker {
  kind: "worker";
  hello: Hello;
  /** Worker name; its executors are `<name>-0 … <name>-(nprocs-1)`. */
  name: string;
  /** Random id of this supervisor process (a restarted worker has a new one). */
  instance: string;
  host: string;
  pid: number;
  platform: string;
  nprocs: number;
  nthreads: number;
  /** Bytes per executor, 0 for none. */
  memoryLimit: number;
  /** The token of its current registration with this scheduler, when registering again. */
  auth?: string;
  /** The NATS node it is connected to ({@link NatsNode}). */
  nats?: string;
}

/**
 * Which node of a NATS cluster a process is connected to: the server's `server_name` when one is
 * configured, else its address (`host:port`). Carried in registrations and heartbeats, shown by the
 * dashboard and `ts-dask info`; it changes when the process fails over to another node.
 */
export type NatsNode = string;

export interface RegisterExecutor {
  kind: "executor";
  hello: Hello;
  /** Executor id: the subject token of `exec.<id>.*`. */
  id: string;
  /** Display name, `<worker>-<index>`. */
  name: string;
  /** The supervisor's `instance`. */
  worker: string;
  index: number;
  nthreads: number;
  pid: number;
  /** The token of its current registration with this scheduler, when registering again: the
   * scheduler hands a live registration's token only to whoever already holds it. */
  auth?: string;
  /** The NATS node it is connected to ({@link NatsNode}). */
  nats?: string;
}

export interface RegisterClient {
  kind: "client";
  hello: Hello;
  id: string;
  /** The client's own token: its submits, cancels and bye carry it (a stranger's are ignored). */
  auth: string;
  /** 16 bytes: the key of this client's result tickets (runtime/tickets.ts). */
  secret: Uint8Array;
  /** Result rows this client dropped as forged so far (for the scheduler's counters). */
  forged?: number;
  /** Replies to its requests that came after the request gave up, so far (runtime/reply-mux.ts; for the scheduler's counters). */
  lateReplies?: number;
  /** The client's cap on one encoded value (its `maxValueBytes`): the scheduler refuses to store a
   * larger result for it (executors then fail that task with `ResultTooLarge`). */
  maxValueBytes?: number;
  /** The NATS node it is connected to ({@link NatsNode}); sent with every lease renewal. */
  nats?: string;
}

export type Register = RegisterWorker | RegisterExecutor | RegisterClient;

export type RegisterReply =
  | {
      ok: true;
      scheduler: string;
      heartbeatMs: number;
      hello: Hello;
      /** For a client (which re-registers a few times per grace period: its lease): the scheduler did not know it
       * (first contact, a scheduler restart, or its lease had expired and its work was dropped). */
      fresh?: boolean;
      /** For a client: how long this scheduler keeps the work of a client that stops renewing (its
       * lease's grace period); the client renews a few times within it. */
      leaseMs?: number;
      /** For a client: how many of its tasks the scheduler holds now (queued, running, or cancelled
       * and not reached yet); fewer than it waits for, twice, means results were lost (client/lost-results.ts). */
      held?: number;
      /** For an executor: every current upload, to unpack before it runs tasks (late joiners, restarts). */
      uploads?: UploadDef[];
      /** For a worker: every install so far, to run before its executors start. */
      installs?: InstallJob[];
      /** For a worker or executor: the token that binds messages between it and this scheduler. */
      auth?: string;
    }
  | Refusal;

export interface Heartbeat extends Bound {
  /** Executor id or worker instance. */
  id: string;
  kind: "worker" | "executor";
  /**
   * The scheduler instance the sender is registered with (absent before its first registration).
   * A heartbeat still on its way from before a scheduler restart names the old instance: the new
   * scheduler drops it quietly instead of counting it as forged (it carries the old token).
   */
  sched?: string;
  /** Executors: messages dropped as not from its scheduler so far (forgeries, stale orders). */
  forged?: number;
  /** Executors: replies to its requests that came after the request gave up, so far (runtime/reply-mux.ts). */
  lateReplies?: number;
  /**
   * A worker's heartbeat lists its executor processes that are alive: an executor whose event
   * loop is blocked by a long synchronous task cannot beat itself, but is not dead.
   */
  executors?: string[];
  /** Tasks running now / queued in the executor. */
  running: number;
  queued: number;
  rss: number;
  /** Scattered values this executor obtained so far (pulled or pushed), and their bytes. */
  dataFetches?: number;
  dataBytes?: number;
  /** Of `dataFetches`, the values that arrived by a broadcast push. */
  dataPushed?: number;
  /** Executors (optional): entries in the process's caches (functions, module definitions, decoded values). */
  cached?: { fns: number; mods: number; data: number };
  /** Executors (optional, for the dashboard): CPU % since the last heartbeat (100 = one core), NATS bytes so far. */
  cpu?: number;
  /** Not taking tasks (memory above the pause threshold, or retiring). */
  paused?: boolean;
  bytesIn?: number;
  bytesOut?: number;
  /** The NATS node the sender is connected to now ({@link NatsNode}). */
  nats?: string;
  /** Executors hosting actors (issue 14, see the Actors block): [actor id, calls so far] each. */
  actors?: [string, number][];
}

/** The scheduler's own heartbeat: a new `instance` means the scheduler restarted. */
export interface SchedulerAlive {
  instance: string;
  heartbeatMs: number;
}

/**
 * Out-of-band orders to one executor. `reregister`: the scheduler does not know you (any more);
 * `prefetch`: fetch scattered value `hash` now (a broadcast scatter); `listen`: subscribe to
 * `data.push.<hash>` and answer (a request) once subscribed, the client is about to push the
 * value's `chunks` chunks there; `resync`: send a {@link Resync} (the scheduler lost its
 * connection and may have missed messages); `restart`: exit so the supervisor starts a fresh
 * process (client.restart()); `recycle`: the same, gracefully (queued tasks handed back, running
 * ones finished first), after an upload replaced a version.
 */
export interface ExecControl extends Bound {
  op: "reregister" | "prefetch" | "listen" | "pushed" | "resync" | "restart" | "recycle" | "forget";
  hash?: string;
  /** `forget`: definitions no registered client uses any more and values released for good:
   * dropped from the executor's caches (a later task that needs one brings it again). */
  fns?: string[];
  mods?: string[];
  data?: string[];
  /** `resync` for reconciliation: echoed in the {@link Resync}, to match the scheduler's snapshot. */
  nonce?: number;
  /** `listen`: the value's encoded size and chunk count. */
  size?: number;
  chunks?: number;
  /** `listen`: the probe's `DataPut.drop`: an executor sharing that drop directory reads the value there. */
  drop?: string;
  /** `pushed`: answered once the push of `hash` delivered every chunk up to this index here. */
  through?: number;
}

/** An executor's answer to `listen`: `have` when it holds the value already (cached, or read from the drop): it does not listen. */
export interface ListenReply {
  ok: true;
  have?: boolean;
}

export interface Bye extends Bound {
  id: string;
  kind: "worker" | "executor" | "client";
  /** Why, when it was not a clean exit (e.g. a supervisor reporting its executor's crash). */
  reason?: string;
  /** For a crashed executor: the scheduler instance its tasks came from, the slots it had started
   * and not finished (known only for careful or timed groups), and those that ran past their timeout. */
  sched?: string;
  running?: Uint32Array;
  timedOut?: Uint32Array;
}

// ---------------------------------------------------------------------------------------------
// Tasks

/**
 * One function applied to many rows. Row `i` calls `fn(...args_i, ...consts)`, `args_i` the array
 * encoded in `rows[ends[i-1] .. ends[i])` (`rows[0 .. ends[0])` for row 0). The scheduler never
 * decodes them: it slices and copies a row's bytes into the task batches of the executor that runs
 * it ({@link TaskGroup.rows}), so a row is encoded once (by the client) and decoded once (by its
 * executor). Each row is still its own task with its own key.
 */
export interface SubmitGroup {
  fn: string;
  /** Client-side keys, one per row. */
  keys: Uint32Array;
  /** Each row's arguments, a msgpack array per row, one after another (client: codec.ts RowWriter). */
  rows: Uint8Array;
  /** Where each row's bytes end in `rows` (increasing; one per key). */
  ends: Uint32Array;
  /** Trailing arguments shared by every row of the group: one msgpack array, passed on as these bytes. */
  consts?: Uint8Array;
  /** The client call (map/submit) these rows belong to, and its row count: per-job progress. */
  job?: number;
  total?: number;
  /** Milliseconds a task may run before it fails with TaskTimeout (its executor is replaced if it hangs). */
  timeout?: number;
  /** Dispatch priority, higher first (default 0); equal priorities share the cluster by client. */
  priority?: number;
}

export interface Submit {
  client: string;
  /** The client's token ({@link RegisterClient.auth}). */
  auth?: string;
  /** Increases with every submit message of this client: a replayed (older) one adds nothing. */
  seq?: number;
  /** Definitions the scheduler has not seen from this client yet. */
  fns?: FnDef[];
  mods?: ModuleDef[];
  groups: SubmitGroup[];
  /**
   * A re-submission after a connection loss or a scheduler restart: rows the scheduler still holds
   * for this client (same key) are not added again; their existing slots are acknowledged.
   */
  resync?: boolean;
}

/**
 * client.runOnScheduler() (`sched.run`): run once in the scheduler process; client.run() (`sched.run`
 * with `exec`): run once on that executor, outside the task queue. Both are asked of the scheduler
 * with the client's id and token; the scheduler forwards a run on an executor to `exec.<id>.run`
 * with that executor's token instead (client fields dropped) and the client's reply subject, so
 * the executor answers the client directly. An executor runs only what carries its token.
 */
export interface RunRequest extends Bound {
  fn: FnDef;
  module?: ModuleDef;
  args: unknown[];
  /** From a client: its id (with `auth`, its token). */
  client?: string;
  /** From a client: the executor to run on (client.run); absent: run in the scheduler. */
  exec?: string;
}
export type RunReply = { ok: true; value: unknown } | { ok: false; error: Omit<RemoteError, "i"> };

/** client.restart(): the client's id and token (a stranger cannot restart the cluster's executors). */
export interface RestartRequest {
  client: string;
  auth: string;
}

/** The executors told to restart (client.restart()). */
export interface RestartReply {
  executors: string[];
}

/** A retiring executor hands back the tasks it had not started; it finishes the running ones. */
export interface Retire extends Bound {
  exec: string;
  sched: string;
  returned: Uint32Array;
}

/** An executor's list of the tasks it holds (queued or running), after a reconnect. */
export interface Resync extends Bound {
  exec: string;
  sched: string;
  held: Uint32Array;
  /** The {@link ExecControl.nonce} of the reconciliation this answers. */
  nonce?: number;
}

/** The scheduler's slot of every submitted row, in order (used to cancel). */
/** `sched`: the instance answering (a client accepts acknowledgements only from its scheduler). */
export type SubmitAck = ({ ok: true; slots: Uint32Array } | Refusal) & { sched?: string };

export interface TaskGroup {
  client: string;
  fn: string;
  slots: Uint32Array;
  keys: Uint32Array;
  /**
   * The rows' arguments as one msgpack array (one array of arguments per row): the header written by
   * the scheduler, each row's bytes as its client encoded them ({@link SubmitGroup.rows}).
   */
  rows: Uint8Array;
  /** {@link SubmitGroup.consts}: the client's bytes. */
  consts?: Uint8Array;
  /** See {@link SubmitGroup.timeout}. */
  timeout?: number;
  /**
   * Some rows were running when an executor died without saying which: the executor reports each
   * row's start and end to its supervisor (a pipe write per task), so a second crash is blamed
   * exactly on the task that caused it.
   */
  careful?: boolean;
  /** Result tickets, 2 words (8 bytes) per row (runtime/tickets.ts): executors echo them in {@link Results.tickets}. */
  tickets?: Uint32Array;
}

export interface TaskBatch extends Bound {
  /** The scheduler instance that assigned these tasks; completions carry it back. */
  sched: string;
  /** Increases with every batch to this executor: a replayed (older) batch is dropped, not run again. */
  seq?: number;
  /** Definitions this executor has not been sent yet. */
  fns?: FnDef[];
  mods?: ModuleDef[];
  groups: TaskGroup[];
}

/** Per function: [fn hash, tasks finished, total milliseconds]. */
export type FnStat = [string, number, number];

export interface Done extends Bound {
  exec: string;
  /** {@link TaskBatch.sched} of the tasks completed: a restarted scheduler ignores older ones. */
  sched: string;
  /** Slots finished (succeeded or failed) since the last Done. */
  slots: Uint32Array;
  /** How many of them failed. */
  failed: number;
  stats: FnStat[];
  /** Optional, for the task stream: ms from the first task's start to this message leaving. */
  span?: number;
  /** Optional: which of `slots` failed, and the first failure's error (errors per job). */
  failedSlots?: Uint32Array;
  error?: { name: string; message: string };
}

export interface Cancel {
  client: string;
  auth?: string;
  slots: Uint32Array;
  keys: Uint32Array;
}

/** Rows to drop if not started. Slots are reused, so each is matched with its client key too. */
export interface ExecCancel extends Bound {
  slots: Uint32Array;
  keys: Uint32Array;
}

export interface StealRequest extends Bound {
  /** Numbered with the executor's task batches ({@link TaskBatch.seq}): a replayed steal gives nothing up. */
  seq?: number;
  max: number;
}
export interface StealReply extends Bound {
  slots: Uint32Array;
}

export interface Results {
  /** Executor name, e.g. `MyWorker-1`. */
  worker: string;
  keys: Uint32Array;
  /** `values[i]` is the result of `keys[i]` (null where it failed). */
  values: unknown[];
  errors?: RemoteError[];
  /**
   * Indices `i` whose result was too large for one message: `values[i]` is then a DataRef to the
   * result's bytes, stored by the executor in the scheduler's data store (`data.put`, owner
   * `<client>/r<key>`) and held there until the client fetches it (`data.get`) and releases it.
   */
  large?: Uint32Array;
  /** Each row's ticket as dispatched (2 words (8 bytes) per row): rows without a valid one are dropped as forged. */
  tickets?: Uint32Array;
}

export interface LogLines {
  worker: string;
  /** [stream, text] pairs, stream 1 = stdout, 2 = stderr. */
  lines: [number, string][];
}

/**
 * A failed row of a named output: the error as the client settled it. `code`: an {@link Errors}
 * code when ts-dask failed the row (`TaskTimeout`, `KilledWorker`, `TaskCancelled`…), `"TaskFailed"`
 * when the user's function threw; `name`/`message`/`stack` are the thrown error's (stack as printed
 * on the worker, "" when it never ran); `worker` the executor's name ("" when it never ran).
 */
export interface OutError {
  /** Index into {@link OutRows.index}. */
  i: number;
  code: ErrorCode;
  name: string;
  message: string;
  stack: string;
  worker: string;
}

/**
 * Published on `out.<name>` (msgpack), a public message (docs/subjects.md): settled rows of one
 * client call that asked for `{ publish: name }`, batched (one message per results message
 * received, per call). Plain arrays, no extension types of their own (values may contain some,
 * see docs/subjects.md), so any msgpack library reads them. A row is published once, with its
 * final outcome (after `retries`); a consumer knows it has the whole call when it holds `total`
 * distinct indices of `job`.
 */
export interface OutRows {
  /** The output's name (the subject's last token). */
  name: string;
  /** The publishing client's id and the call's number within it (its first task key). */
  client: string;
  job: number;
  /** Rows in the whole call. */
  total: number;
  /** The function's name ("" when anonymous). */
  fn: string;
  /** Each row's position in the call's input (0-based; `submit`: 0). */
  index: number[];
  /** Each row's client task key (`job + index`). */
  keys: number[];
  /** `values[k]` is row `index[k]`'s result (null where it failed). */
  values: unknown[];
  errors?: OutError[];
}

// ---------------------------------------------------------------------------------------------
// Introspection & events

export interface ExecutorInfo {
  id: string;
  name: string;
  state: string;
  nthreads: number;
  pid: number;
  running: number;
  queued: number;
  /** Tasks assigned by the scheduler and not finished yet. */
  assigned: number;
  done: number;
  rss: number;
  dataFetches: number;
  dataBytes: number;
  /** Of `dataFetches`, the values that arrived by a broadcast push. */
  dataPushed: number;
  /** Entries in the process's caches (functions, module definitions, decoded values), from heartbeats. */
  cached?: { fns: number; mods: number; data: number };
  /** CPU % (100 = one core) and memory pause, from heartbeats (monitor.ts). */
  cpu?: number;
  paused?: boolean;
  /** The NATS node it is connected to ({@link NatsNode}), from its latest registration or heartbeat. */
  nats?: string;
}

export interface WorkerInfo {
  name: string;
  instance: string;
  host: string;
  pid: number;
  platform: string;
  state: string;
  nprocs: number;
  nthreads: number;
  memoryLimit: number;
  hello: Hello;
  executors: ExecutorInfo[];
  /** Tasks done by all its executors, restarted ones included; executor restarts (monitor.ts). */
  done?: number;
  restarts?: number;
  /** The NATS node its supervisor is connected to ({@link NatsNode}). */
  nats?: string;
}

export interface InfoRequest {
  /** Run a full GC first when the scheduler allows it (`--expose-gc`), for memory measurements. */
  gc?: boolean;
}

export interface ClusterInfo {
  cluster: string;
  scheduler: { instance: string; host: string; pid: number; hello: Hello; startedAt: number; rss: number; heapUsed: number;
    /** The longest its event loop was blocked since it started, in ms (how late its beat ran: precise to one beat); that time does not count against client leases. */
    stallMs?: number;
    /** Its NATS node ({@link NatsNode}). */ nats?: string };
  workers: WorkerInfo[];
  clients: number;
  /** Clients holding a lease, by the NATS node they are connected to ({@link NatsNode}; "?" when a client did not say). */
  clientNodes?: Record<string, number>;
  tasks: { queued: number; assigned: number; done: number; failed: number; duplicates: number; bytesPerTask: number; stolen?: number } & ClusterInfoTasks;
  /** Values held by the scheduler's data store (scattered values, large arguments and large results). */
  data: { values: number; bytes: number; /** Of which: large task results not gathered (or released) yet. */ results?: number; resultBytes?: number };
  /** Workers that left recently (state "gone"), for the worker table. */
  departed?: WorkerInfo[];
  /** User actors (issue 14, see the Actors block). */
  actors?: ActorInfo[];
  /**
   * Messages dropped as not bound to this scheduler (wrong or missing token, stale instance,
   * replayed batch), by where they were dropped; result rows clients dropped for a bad ticket;
   * other scheduler instances heard on this cluster (two live schedulers are a misconfiguration).
   */
  trust?: { scheduler: number; executors: number; clients: number; rivals: string[] };
  /**
   * Replies that arrived after their request gave up (timed out, or answered already by another
   * peer), dropped and counted by each process's reply table (runtime/reply-mux.ts): the
   * scheduler's own, and the totals its clients (lease renewals) and executors (heartbeats) report.
   * A few after a stall or a restart are normal; a steady climb means requests time out while their
   * answers are on the way (an overloaded peer, or timeouts too short for the link).
   */
  lateReplies?: { scheduler: number; clients: number; executors: number };
  /**
   * Entries the scheduler holds per client and per function (issue 15: it must not grow with every
   * client that ever connected). After every client has left and its tasks are done, all are 0 but
   * `clientCapacity` (the peak number of clients at once) and `remembered` (the newest ≤ 4,096 dropped ids).
   */
  retained?: {
    clientIndexes: number;
    clientsDraining: number;
    clientCapacity: number;
    registrations: number;
    tokens: number;
    tickets: number;
    remembered: number;
    /** Per-executor counters held (forgeries, late replies): live executors' only, a gone one's count stays in the totals. */
    executorCounts?: number;
    fns: number;
    mods: number;
    estimates: number;
    chunks: number;
    jobs: number;
    perFn: number;
    dataValues: number;
  };
}

/** Published on `events` (msgpack); every event also carries `t`, epoch ms. See docs/events.md. */
export type ClusterEvent = (
  | { type: "worker-joined"; name: string; host: string; nprocs?: number; nthreads?: number; memoryLimit?: number }
  | { type: "worker-left"; name: string; reason: string }
  | { type: "worker-died"; name: string; host: string; silentMs: number }
  | { type: "executor-joined"; name: string; id: string }
  | { type: "executor-left"; name: string; id: string; reason: string }
  /** A retiring executor (its worker is stopping gracefully) handed back `requeued` tasks it had not started. */
  | { type: "executor-retiring"; name: string; id: string; requeued: number }
  | { type: "executor-restarted"; name: string; id: string; reason: string; memory: boolean }
  | { type: "killed-worker"; name: string; id: string; reason: string; requeued: number; failed: number }
  | { type: "task-erred"; worker: string; client: string; job: number; name: string; count: number; error?: { name: string; message: string } }
  | { type: "job-started"; client: string; job: number; name: string; kind: "map" | "submit"; total: number }
  | { type: "job-finished"; client: string; job: number; name: string; kind: "map" | "submit"; total: number; errors: number; ms: number }
  | { type: "rival-scheduler"; instance: string }
  | { type: "forged"; where: "scheduler" | "executors" | "clients"; count: number }
  /** A user actor (issue 14) started, restarted, was lost or killed. */
  | { type: "actor"; name: string; state: "running" | "restarting" | "lost" | "killed"; executor: string; reason?: string }
) & { t?: number };

// ---------------------------------------------------------------------------------------------
// Worker resources (issue 15): one block, merged into the messages above (TypeScript interface
// merging), so the additions of this feature sit together. All fields are optional: peers
// without them still talk (no protocol bump).

/**
 * Abstract amounts, as Dask's worker resources: `{ GPU: 1, MEM: 8e9 }`. A worker declares what
 * each of its executor processes offers (`ts-dask worker --resources GPU=1,MEM=8e9`); a task
 * declares what it holds while it runs (`{ resources: { GPU: 1 } }`). Names are free text (letters,
 * digits, `_`, `-`), amounts finite numbers > 0.
 */
export type Resources = Record<string, number>;

export interface RegisterWorker {
  /** What each of its executors offers (see {@link Resources}). */
  resources?: Resources;
}
export interface SubmitGroup {
  /** What each row holds on its executor while it is assigned there (see {@link Resources}). */
  resources?: Resources;
}
export interface WorkerInfo {
  /** What each of its executors offers. */
  resources?: Resources;
}
export interface ExecutorInfo {
  /** Of its worker's resources, what is not held by tasks assigned to it now. */
  resourcesFree?: Resources;
}
export interface ClusterInfoTasks {
  /** Queued tasks that need resources (they wait for an executor with those free). */
  needingResources?: number;
  /** Queued tasks by priority (only priorities with some), e.g. `{ "0": 1200, "5": 3 }`. */
  byPriority?: Record<string, number>;
}
