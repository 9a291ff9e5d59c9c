/**
 * The wire protocol: every NATS subject and every message that travels on it, in one place.
 * Nothing else in the code base builds a subject string. To find who handles a subject, search
 * for its field name here (e.g. `submit`) in `actors/` and `client/`.
 *
 * Subjects live under one namespace per cluster, `tsdask.<cluster>.`. Every subject is one record of
 * the route table `routes` (runtime/routes.ts): its name, who sends it and who handles it, its message type,
 * the guard that checks it and, for a request, its reply type. Actors subscribe with
 * `Actor.serve(routes.<field>, handler)`, so a search for `routes.submit` finds the handler of
 * `sched.submit`. Replies to requests travel on `_INBOX.<id>.<n>` (inboxPrefix
 * `tsdask.<cluster>._INBOX`; a scoped client's `tsdask.<cluster>._INBOX.<scope>`).
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
import { Errors, type ErrorCode } from "./errors.ts";

/** Bumped on any incompatible change of a subject or message below (2: tokens and result tickets; 3: client.run through the scheduler, bound data.get; issue 11). */
export const PROTOCOL_VERSION = 3;

/** A NATS subject token: letters, digits, `_` and `-` only (no `.`, `*`, `>` or spaces). */
export function isSubjectToken(s: string): boolean {
  return /^[A-Za-z0-9_-]+$/.test(s);
}

/**
 * A client id: `random` alone, or `<scope>.<random>` with a scope (a subject token: letters,
 * digits, `_`, `-`). See "Client scopes" above.
 */
export function clientIdOf(random: string, scope?: string): string {
  if (scope === undefined) return random;
  if (!isSubjectToken(scope)) throw Errors.BadName("client scope", scope);
  return `${scope}.${random}`;
}

/** A well-formed client id: one subject token, or two (`<scope>.<random>`). */
export function isClientId(id: string): boolean {
  const parts = id.split(".");
  return parts.length <= 2 && parts.every(isSubjectToken);
}

/** All subjects of one cluster. Built once per actor; hot paths keep the strings. */
export function subjects(cluster: string) {
  if (!isSubjectToken(cluster)) throw Errors.BadName("cluster name", cluster);
  const p = `tsdask.${cluster}`;
  return {
    prefix: p,
    register: `${p}.sched.register`,
    heartbeat: `${p}.sched.heartbeat`,
    submit: `${p}.sched.submit`,
    done: `${p}.sched.done`,
    cancel: `${p}.sched.cancel`,
    info: `${p}.sched.info`,
    bye: `${p}.sched.bye`,
    resync: `${p}.sched.resync`,
    retire: `${p}.sched.retire`,
    restart: `${p}.sched.restart`,
    schedRun: `${p}.sched.run`,
    events: `${p}.events`,
    alive: `${p}.alive`,
    dataPut: `${p}.data.put`,
    dataGet: `${p}.data.get`,
    dataRelease: `${p}.data.release`,
    dataPush: (hash: string) => `${p}.data.push.${hash}`,
    upload: `${p}.sched.upload`,
    install: `${p}.sched.install`,
    execTasks: (execId: string) => `${p}.exec.${execId}.tasks`,
    execCancel: (execId: string) => `${p}.exec.${execId}.cancel`,
    execSteal: (execId: string) => `${p}.exec.${execId}.steal`,
    execControl: (execId: string) => `${p}.exec.${execId}.control`,
    execRun: (execId: string) => `${p}.exec.${execId}.run`,
    execUpload: (execId: string) => `${p}.exec.${execId}.upload`,
    workerInstall: (instance: string) => `${p}.worker.${instance}.install`,
    results: (clientId: string) => `${p}.results.${clientId}`,
    log: (clientId: string) => `${p}.log.${clientId}`,
    /** User actors (issue 14; messages in the "Actors" block below). */
    actorControl: `${p}.sched.actor`,
    actorSnapshot: `${p}.sched.snapshot`,
    execActor: (execId: string) => `${p}.exec.${execId}.actor`,
    actorCalls: (actorId: string) => `${p}.actor.${actorId}.calls`,
    actorReplies: (clientId: string) => `${p}.actres.${clientId}`,
    actorStatus: (actorId: string) => `${p}.actor.${actorId}.status`,
    /** A named output (`{ publish: name }`): settled rows for any subscriber, docs/subjects.md. `name` must pass {@link isSubjectToken}. */
    out: (name: string) => `${p}.out.${name}`,
    /** The JetStream stream holding a durable named output (`{ publish, durable }`, docs/subjects.md). */
    outStream: (name: string) => `TSDASK_${cluster}_OUT_${name}`,
    /** Reply subjects of this cluster's requests (nats.js `inboxPrefix`): NATS permissions can then keep clusters apart. */
    inbox: `${p}._INBOX`,
    /** The inbox prefix of a client with a scope (`_INBOX.<scope>`), or {@link inbox} without one: permissions can keep users apart. */
    inboxOf: (scope?: string) => (scope === undefined ? `${p}._INBOX` : `${p}._INBOX.${scope}`),
  } as const;
}
export type Subjects = ReturnType<typeof subjects>;

// ---------------------------------------------------------------------------------------------
// Shipped code

/** A function shipped by source (self-contained). `hash` is the SHA-256 of `source` + `name`. */
export interface SourceFnDef {
  kind: "src";
  hash: string;
  /** The function's name (for stacks), may be "". */
  name: string;
  /** An expression that evaluates to the function, e.g. `(x) => x * 2`. */
  source: string;
  /** Where it was defined on the client: a file URL or path, for `//# sourceURL`. */
  file: string;
  /** 1-based line of the definition in `file` (0 when unknown). */
  line: number;
}

/** A function shipped by reference: export `exportName` of module `module` (a {@link ModuleDef} hash). */
export interface ModuleFnDef {
  kind: "mod";
  hash: string;
  module: string;
  exportName: string;
}

export type FnDef = SourceFnDef | ModuleFnDef;

/** A bundled, side-effect-free ES module (local imports inlined, npm imports left external). */
export interface ModuleDef {
  /** SHA-256 of `code`. */
  hash: string;
  /** The path the client bundled, for messages. */
  file: string;
  /** ESM source. */
  code: string;
}

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
  /** The client's cap on one encoded value (its `maxValueBytes`): the scheduler refuses to store a
   * larger result for it (executors then fail that task with `ResultTooLarge`). */
  maxValueBytes?: number;
  /** The NATS node it is connected to ({@link NatsNode}); sent with every lease renewal. */
  nats?: string;
}

export type Register = RegisterWorker | RegisterExecutor | RegisterClient;

/** What a request's reply says when it is refused: an {@link ErrorCode} of the errors table and its message (`refusal()` in runtime/errors.ts builds one). */
export interface Refusal {
  ok: false;
  code: ErrorCode;
  message: string;
}

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
      /** For an executor: every current upload, to unpack before it runs tasks (late joiners, restarts). */
      uploads?: UploadDef[];
      /** For a worker: every install so far, to run before its executors start. */
      installs?: InstallJob[];
      /** For a worker or executor: the token that binds messages between it and this scheduler. */
      auth?: string;
    }
  | Refusal;

/**
 * A message between the scheduler and one registered peer: `auth` is the token the scheduler
 * issued in that peer's register reply (a client's: the one it registered with).
 */
export interface Bound {
  auth?: string;
}

export interface Heartbeat extends Bound {
  /** Executor id or worker instance. */
  id: string;
  kind: "worker" | "executor";
  /** Executors: messages dropped as not from its scheduler so far (forgeries, stale orders). */
  forged?: number;
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
  op: "reregister" | "prefetch" | "listen" | "resync" | "restart" | "recycle" | "forget";
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
 * One function applied to many rows. Row `i` calls `fn(cols[0][i], cols[1][i], …, ...consts)`.
 * Columns keep many small tasks cheap to encode; each row is still its own task with its own key.
 */
export interface SubmitGroup {
  fn: string;
  /** Client-side keys, one per row. */
  keys: Uint32Array;
  cols: unknown[][];
  /** Trailing arguments shared by every row of the group. */
  consts?: unknown[];
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
  cols: unknown[][];
  consts?: unknown[];
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

/** A failed task's error, as seen on the worker. */
export interface RemoteError {
  /** Index into {@link Results.keys}. */
  i: number;
  /** An {@link Errors} code when ts-dask itself failed the task, else "". */
  code: ErrorCode | "";
  name: string;
  message: string;
  stack: string;
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
// Scattered data: stored once by the scheduler, moved in chunks below max_payload

/**
 * One chunk of a value's msgpack encoding. Chunk 0 may be sent with `probe: true` and no bytes:
 * the reply says whether the scheduler already holds `hash` (scattering twice uploads once).
 */
export interface DataPut {
  /**
   * The owner: a client id, or `<clientId>/<tag>` for a value held for one task of that client
   * (`a<key>`: a large argument the client stored; `r<key>`: a large result an executor stored).
   * A value is dropped when its last owner releases it; a client's tagged owners go with it.
   */
  client: string;
  hash: string;
  /** Total encoded size. */
  size: number;
  index: number;
  chunks: number;
  bytes?: Uint8Array;
  probe?: boolean;
  /** Ask every executor to fetch it as soon as it is complete. */
  broadcast?: boolean;
  /** The owning client's token, or (with `exec`, a large result) the storing executor's. */
  auth?: string;
  exec?: string;
  /**
   * After pushing every chunk on `data.push.<hash>`: a request that asks which chunks the
   * scheduler is still missing (the reply's `missing`), to be sent again as plain `data.put`s.
   */
  commit?: boolean;
}
/**
 * `push`: to a broadcast probe, "publish the chunks on `data.push.<hash>`" (the scheduler and the
 * idle executors listen there, so NATS fans the bytes out once instead of each executor pulling
 * them from the scheduler). `missing`: to a commit, the chunk indices not received. `limit`: with
 * code `ValueTooLarge`, the cap (bytes) the value is above.
 */
export type DataPutReply = { ok: true; have: boolean; push?: boolean; missing?: number[] } | (Refusal & { limit?: number });

/**
 * One chunk of a stored value. Bound: an executor sends its id (`exec`) and token, a worker
 * (installing a package file) its instance (`worker`) and token, a client its id (`client`) and
 * token and may read only values it owns (its own, or held for one of its tasks).
 */
export interface DataGet extends Bound {
  hash: string;
  index: number;
  exec?: string;
  worker?: string;
  client?: string;
}
/** Every value is stored and served under the SHA-256 of its bytes, checked by the store before it keeps
 * a value and by every reader before it uses one (runtime/chunked-value.ts). */
export type DataGetReply = { ok: true; chunks: number; size: number; bytes: Uint8Array } | Refusal;

export interface DataRelease {
  /** The owner, as in {@link DataPut.client}. */
  client: string;
  /** The owning client's token ({@link RegisterClient.auth}): a stranger cannot release a client's values. */
  auth?: string;
  hashes: string[];
}

// ---------------------------------------------------------------------------------------------
// Uploaded code and installed packages (client.uploadFile / client.install)

/**
 * One uploaded module or package. Its bytes sit in the scheduler's data store under `hash`
 * (SHA-256 of the bytes), so they survive every worker. `kind`: a single `.ts/.js/.mjs` file
 * (`file` is its name), or a zip / gzipped tar of a folder with a package.json (a folder upload
 * travels as a zip). Importable on executors by bare `name`.
 */
export interface UploadDef {
  name: string;
  hash: string;
  size: number;
  kind: "file" | "zip" | "tgz";
  file: string;
}

/** The bytes were put with `data.put` first; the scheduler keeps them and the newest def per name. */
export interface UploadRequest {
  client: string;
  /** The client's token ({@link RegisterClient.auth}). */
  auth?: string;
  upload: UploadDef;
}
export type UploadOutcome = { ok: true } | { ok: false; error: string };
/** Per executor name. */
export type UploadReply = { ok: true; executors: Record<string, UploadOutcome> } | Refusal;

/** Unpack these (if not yet) and make them the current versions of their names. */
export interface ExecUpload extends Bound {
  uploads: UploadDef[];
}
/** `replaced`: a name now points at a different version than before (the executor should be recycled). */
export type ExecUploadReply = { ok: true; replaced: boolean } | { ok: false; error: string };

/** One npm install argument; a package file from the client travels through the data store (`tgz`). */
export interface InstallSpec {
  spec: string;
  tgz?: { hash: string; size: number; file: string; name: string };
}

/** One client.install() call, as replayed to every worker. */
export interface InstallJob extends Bound {
  specs: InstallSpec[];
  /** npm `--offline` (no network: only the cache and local files). */
  offline?: boolean;
  /** Extra npm arguments. */
  npmArgs?: string[];
}
export interface InstallRequest extends InstallJob {
  client: string;
}
/** `npm`: this worker ran npm (false: its local directory had it already, e.g. shared with another worker). */
export type InstallOutcome = { ok: true; npm: boolean; version?: string; versions: Record<string, string> } | { ok: false; error: string };
/** Per worker name. */
export type InstallReply = { ok: true; workers: Record<string, InstallOutcome> } | Refusal;

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
  scheduler: { instance: string; host: string; pid: number; hello: Hello; startedAt: number; rss: number; heapUsed: number; /** Its NATS node ({@link NatsNode}). */ nats?: string };
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
