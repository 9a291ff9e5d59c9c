/**
 * Structural checks for every message of runtime/protocol.ts, named by the route table (`routes`, runtime/routes.ts)
 * and run by Actor.serve before a handler sees a message. Top-level shape only, so they stay cheap on per-batch hot paths;
 * per-row data is indexed defensively by the handlers themselves.
 */
import type {
  Bye,
  DataGet,
  DataPut,
  DataRelease,
  Resync,
  Retire,
  RunRequest,
  Cancel,
  Done,
  ExecCancel,
  Heartbeat,
  LogLines,
  Register,
  Results,
  StealRequest,
  Submit,
  TaskBatch,
  SchedulerAlive,
  UploadRequest,
  ExecUpload,
  InstallRequest,
  InstallJob,
  ExecControl,
  InfoRequest,
  RestartRequest,
  ClusterEvent,
  OutRows,
  Hello,
  ActorCalls,
  ActorReplies,
  ActorRequest,
  ActorSnapshot,
  ActorStatus,
  ExecActor,
} from "./protocol.ts";

const obj = (m: unknown): m is Record<string, unknown> => typeof m === "object" && m !== null && !Array.isArray(m);
const str = (v: unknown): v is string => typeof v === "string";
const num = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const u32 = (v: unknown): v is Uint32Array => v instanceof Uint32Array;
const arr = Array.isArray;

const hello = (h: unknown) => obj(h) && num(h.proto) && str(h.version) && str(h.node);

const bytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array;

/** A submitted group: each row's end offset within its `rows` (increasing, inside them): the scheduler slices rows by them. */
function submitGroup(g: unknown): boolean {
  if (!obj(g) || !str(g.fn) || !u32(g.keys) || !bytes(g.rows) || !u32(g.ends) || g.ends.length !== g.keys.length) return false;
  if (g.consts !== undefined && !bytes(g.consts)) return false;
  let at = 0;
  for (let i = 0; i < g.ends.length; i++) {
    const e = g.ends[i]!;
    if (e <= at) return false;
    at = e;
  }
  return at <= g.rows.byteLength;
}

const taskGroup = (g: unknown): boolean =>
  obj(g) && str(g.client) && str(g.fn) && u32(g.keys) && u32(g.slots) && g.slots.length === g.keys.length && bytes(g.rows) && (g.consts === undefined || bytes(g.consts));

export const isRegister = (m: unknown): m is Register => {
  if (!obj(m) || !hello(m.hello)) return false;
  switch (m.kind) {
    case "worker":
      return str(m.name) && str(m.instance) && str(m.host) && num(m.nprocs) && num(m.nthreads) && num(m.memoryLimit);
    case "executor":
      return str(m.id) && str(m.name) && str(m.worker) && num(m.index) && num(m.nthreads);
    case "client":
      return str(m.id) && str(m.auth) && m.secret instanceof Uint8Array && m.secret.byteLength === 16;
    default:
      return false;
  }
};

/** Only checks the `hello` part, so a newer/older peer still gets a clear version answer. */
export const hasHello = (m: unknown): m is { hello: Hello } => obj(m) && hello(m.hello);

export const isHeartbeat = (m: unknown): m is Heartbeat =>
  obj(m) && str(m.id) && (m.kind === "worker" || m.kind === "executor") && num(m.running) && num(m.queued) && num(m.rss) &&
  (m.sched === undefined || str(m.sched));

export const isBye = (m: unknown): m is Bye => obj(m) && str(m.id) && str(m.kind);

export const isSubmit = (m: unknown): m is Submit =>
  obj(m) && str(m.client) && arr(m.groups) && m.groups.every(submitGroup) &&
  (m.fns === undefined || arr(m.fns)) && (m.mods === undefined || arr(m.mods));

export const isTaskBatch = (m: unknown): m is TaskBatch =>
  obj(m) && str(m.sched) && arr(m.groups) && m.groups.every(taskGroup) &&
  (m.fns === undefined || arr(m.fns)) && (m.mods === undefined || arr(m.mods));

export const isDone = (m: unknown): m is Done => obj(m) && str(m.exec) && str(m.sched) && u32(m.slots) && num(m.failed) && arr(m.stats);

export const isCancel = (m: unknown): m is Cancel => obj(m) && str(m.client) && u32(m.slots) && u32(m.keys) && m.slots.length === m.keys.length;

export const isExecCancel = (m: unknown): m is ExecCancel => obj(m) && u32(m.slots) && u32(m.keys) && m.slots.length === m.keys.length;

export const isStealRequest = (m: unknown): m is StealRequest => obj(m) && num(m.max);

export const isResults = (m: unknown): m is Results =>
  obj(m) && str(m.worker) && u32(m.keys) && arr(m.values) && m.values.length === m.keys.length && (m.errors === undefined || arr(m.errors));

export const isLogLines = (m: unknown): m is LogLines => obj(m) && str(m.worker) && arr(m.lines);

const CONTROL_OPS: ReadonlySet<string> = new Set<ExecControl["op"]>(["reregister", "prefetch", "listen", "pushed", "resync", "restart", "recycle", "forget"]);
export const isExecControl = (m: unknown): m is ExecControl => obj(m) && str(m.op) && CONTROL_OPS.has(m.op);

/** Any map (its one field, `gc`, is optional): `ts-dask info` and dashboards ask with `{}`. */
export const isInfoRequest = (m: unknown): m is InfoRequest => obj(m);

/** For subscribers outside the cluster (nothing in it listens to `events` or `out.<name>`). */
export const isClusterEvent = (m: unknown): m is ClusterEvent => obj(m) && str(m.type);
export const isOutRows = (m: unknown): m is OutRows => obj(m) && str(m.name) && str(m.client) && arr(m.index) && arr(m.keys) && arr(m.values);

export const isDataPut = (m: unknown): m is DataPut =>
  obj(m) && str(m.client) && str(m.hash) && num(m.size) && num(m.index) && num(m.chunks) && (m.bytes === undefined || m.bytes instanceof Uint8Array) && (m.through === undefined || num(m.through)) && (m.drop === undefined || str(m.drop));

export const isDataGet = (m: unknown): m is DataGet => obj(m) && str(m.hash) && num(m.index);

export const isDataRelease = (m: unknown): m is DataRelease => obj(m) && str(m.client) && arr(m.hashes) && m.hashes.every(str);

export const isResync = (m: unknown): m is Resync => obj(m) && str(m.exec) && str(m.sched) && u32(m.held);

export const isRetire = (m: unknown): m is Retire => obj(m) && str(m.exec) && str(m.sched) && u32(m.returned);

export const isRunRequest = (m: unknown): m is RunRequest => obj(m) && obj(m.fn) && str(m.fn.hash) && arr(m.args);

const uploadDef = (u: unknown) =>
  obj(u) && str(u.name) && str(u.hash) && num(u.size) && (u.kind === "file" || u.kind === "zip" || u.kind === "tgz") && str(u.file);
const installJob = (m: Record<string, unknown>) =>
  arr(m.specs) && m.specs.every((s) => obj(s) && str(s.spec)) && (m.npmArgs === undefined || (arr(m.npmArgs) && m.npmArgs.every(str)));

export const isUploadRequest = (m: unknown): m is UploadRequest => obj(m) && str(m.client) && uploadDef(m.upload);
export const isExecUpload = (m: unknown): m is ExecUpload => obj(m) && arr(m.uploads) && m.uploads.every(uploadDef);
export const isInstallRequest = (m: unknown): m is InstallRequest => obj(m) && str(m.client) && installJob(m);
export const isInstallJob = (m: unknown): m is InstallJob => obj(m) && installJob(m);

export const isAlive = (m: unknown): m is SchedulerAlive => obj(m) && str(m.instance) && num(m.heartbeatMs);

export const isRestartRequest = (m: unknown): m is RestartRequest => obj(m) && str(m.client) && str(m.auth);

// --- actors (issue 14) ------------------------------------------------------------------------
export const isActorRequest = (m: unknown): m is ActorRequest =>
  obj(m) && (m.op === "create" || m.op === "get" || m.op === "kill") && str(m.client) && str(m.auth) && (m.name === undefined || str(m.name)) && (m.args === undefined || arr(m.args)) && (m.cls === undefined || (obj(m.cls) && str(m.cls.hash)));
export const isExecActor = (m: unknown): m is ExecActor => obj(m) && (m.op === "start" || m.op === "stop") && str(m.actor) && str(m.name) && num(m.inc);
export const isActorCalls = (m: unknown): m is ActorCalls => obj(m) && str(m.client) && str(m.key) && num(m.inc) && arr(m.ids) && arr(m.methods) && arr(m.args) && (m.get === undefined || arr(m.get));
export const isActorReplies = (m: unknown): m is ActorReplies => obj(m) && str(m.actor) && str(m.worker) && arr(m.ids) && arr(m.values) && (m.errors === undefined || arr(m.errors));
export const isActorSnapshot = (m: unknown): m is ActorSnapshot => obj(m) && str(m.exec) && str(m.actor) && num(m.inc) && num(m.calls) && m.state instanceof Uint8Array;
export const isActorStatus = (m: unknown): m is ActorStatus => obj(m) && str(m.actor) && str(m.name) && str(m.state) && num(m.inc) && str(m.exec);
