/**
 * The route table: every subject of the protocol (runtime/protocol.ts: subjects and messages), one
 * record each (runtime/route.ts). Actors subscribe with `Actor.serve(routes.<field>, handler)`, so a
 * search for `routes.submit` finds the handler of `sched.submit`.
 */
import * as G from "./guards.ts";
import { route } from "./route.ts";
import type {
  Bye,
  Cancel,
  ClusterEvent,
  ClusterInfo,
  DataGet,
  DataGetReply,
  DataPut,
  DataPutReply,
  DataRelease,
  Done,
  ExecCancel,
  ExecUpload,
  ExecUploadReply,
  Heartbeat,
  InfoRequest,
  InstallJob,
  InstallOutcome,
  InstallReply,
  InstallRequest,
  LogLines,
  OutRows,
  RestartReply,
  RestartRequest,
  Results,
  Resync,
  Retire,
  RunReply,
  RunRequest,
  SchedulerAlive,
  StealReply,
  StealRequest,
  Submit,
  SubmitAck,
  TaskBatch,
  UploadReply,
  UploadRequest,
  Hello,
  RegisterReply,
  ExecControl,
  ListenReply,
  ActorCalls,
  ActorReplies,
  ActorReply,
  ActorRequest,
  ActorSnapshot,
  ActorStatus,
  ExecActor,
  ExecActorReply,
} from "./protocol.ts";

/**
 * The route table: every subject of the protocol, one record each (see runtime/route.ts). The
 * order is the old header table's: scheduler subjects, data, per-executor, per-worker, per-client,
 * broadcast.
 */
export const routes = {
  register: route<{ hello: Hello }, RegisterReply>({ name: "sched.register", kind: "request", from: "worker/executor/client", to: "scheduler", subject: (s) => s.register, guard: G.hasHello }),
  heartbeat: route<Heartbeat>({ name: "sched.heartbeat", kind: "publish", from: "executor/worker", to: "scheduler", subject: (s) => s.heartbeat, guard: G.isHeartbeat }),
  submit: route<Submit, SubmitAck>({ name: "sched.submit", kind: "request", from: "client", to: "scheduler", subject: (s) => s.submit, guard: G.isSubmit }),
  done: route<Done>({ name: "sched.done", kind: "publish", from: "executor", to: "scheduler", subject: (s) => s.done, guard: G.isDone }),
  cancel: route<Cancel>({ name: "sched.cancel", kind: "publish", from: "client", to: "scheduler", subject: (s) => s.cancel, guard: G.isCancel }),
  info: route<InfoRequest, ClusterInfo>({ name: "sched.info", kind: "request", from: "anyone", to: "scheduler", subject: (s) => s.info, guard: G.isInfoRequest }),
  restart: route<RestartRequest, RestartReply>({ name: "sched.restart", kind: "request", from: "client", to: "scheduler", subject: (s) => s.restart, guard: G.isRestartRequest }),
  retire: route<Retire>({ name: "sched.retire", kind: "publish", from: "executor", to: "scheduler", subject: (s) => s.retire, guard: G.isRetire }),
  resync: route<Resync>({ name: "sched.resync", kind: "publish", from: "executor", to: "scheduler", subject: (s) => s.resync, guard: G.isResync }),
  bye: route<Bye>({ name: "sched.bye", kind: "publish", from: "worker/executor/client", to: "scheduler", subject: (s) => s.bye, guard: G.isBye }),
  /** client.runOnScheduler; with `exec`, client.run: forwarded to `exec.<id>.run`. */
  schedRun: route<RunRequest, RunReply>({ name: "sched.run", kind: "request", from: "client", to: "scheduler (→ executor)", subject: (s) => s.schedRun, guard: G.isRunRequest }),
  upload: route<UploadRequest, UploadReply>({ name: "sched.upload", kind: "request", from: "client", to: "scheduler", subject: (s) => s.upload, guard: G.isUploadRequest }),
  install: route<InstallRequest, InstallReply>({ name: "sched.install", kind: "request", from: "client", to: "scheduler", subject: (s) => s.install, guard: G.isInstallRequest }),
  /** Executors: large results. */
  dataPut: route<DataPut, DataPutReply>({ name: "data.put", kind: "request", from: "client/executor", to: "scheduler", subject: (s) => s.dataPut, guard: G.isDataPut, views: true }),
  /** Clients: their own values, e.g. large results. */
  dataGet: route<DataGet, DataGetReply>({ name: "data.get", kind: "request", from: "executor/worker/client", to: "scheduler", subject: (s) => s.dataGet, guard: G.isDataGet }),
  dataRelease: route<DataRelease>({ name: "data.release", kind: "publish", from: "client", to: "scheduler", subject: (s) => s.dataRelease, guard: G.isDataRelease }),
  /** A broadcast scatter's chunks, fanned out by NATS. */
  dataPush: route<DataPut>({ name: "data.push.<hash>", kind: "publish", param: "hash", from: "client", to: "scheduler + listening executors", subject: (s, hash) => s.dataPush(hash), guard: G.isDataPut, views: true, fanOut: true }),
  execTasks: route<TaskBatch>({ name: "exec.<id>.tasks", kind: "publish", param: "exec", from: "scheduler", to: "executor", subject: (s, id) => s.execTasks(id), guard: G.isTaskBatch }),
  execCancel: route<ExecCancel>({ name: "exec.<id>.cancel", kind: "publish", param: "exec", from: "scheduler", to: "executor", subject: (s, id) => s.execCancel(id), guard: G.isExecCancel }),
  execSteal: route<StealRequest, StealReply>({ name: "exec.<id>.steal", kind: "request", param: "exec", from: "scheduler", to: "executor", subject: (s, id) => s.execSteal(id), guard: G.isStealRequest }),
  /** Answered to the client that asked `sched.run` (the scheduler forwards the request). */
  execRun: route<RunRequest, RunReply>({ name: "exec.<id>.run", kind: "request", param: "exec", from: "scheduler", to: "executor", subject: (s, id) => s.execRun(id), guard: G.isRunRequest }),
  /** A publish, except `op: "listen"` (answered `{ ok: true }` once subscribed) and `op: "pushed"` (once the push got that far). */
  execControl: route<ExecControl, ListenReply>({ name: "exec.<id>.control", kind: "publish", param: "exec", from: "scheduler", to: "executor", subject: (s, id) => s.execControl(id), guard: G.isExecControl }),
  execUpload: route<ExecUpload, ExecUploadReply>({ name: "exec.<id>.upload", kind: "request", param: "exec", from: "scheduler", to: "executor", subject: (s, id) => s.execUpload(id), guard: G.isExecUpload }),
  workerInstall: route<InstallJob, InstallOutcome>({ name: "worker.<instance>.install", kind: "request", param: "instance", from: "scheduler", to: "worker (supervisor)", subject: (s, i) => s.workerInstall(i), guard: G.isInstallJob }),
  /** Any subscriber may listen too. */
  results: route<Results>({ name: "results.<clientId>", kind: "publish", param: "client", from: "executor", to: "client", subject: (s, c) => s.results(c), guard: G.isResults, ownInbox: true }),
  log: route<LogLines>({ name: "log.<clientId>", kind: "publish", param: "client", from: "executor", to: "client", subject: (s, c) => s.log(c), guard: G.isLogLines, ownInbox: true }),
  alive: route<SchedulerAlive>({ name: "alive", kind: "publish", from: "scheduler", to: "everyone", subject: (s) => s.alive, guard: G.isAlive }),
  /** docs/events.md; nothing in the cluster listens. */
  events: route<ClusterEvent>({ name: "events", kind: "publish", from: "scheduler", to: "anyone", subject: (s) => s.events, guard: G.isClusterEvent }),
  /** A named output: `map(…, { publish })`, docs/subjects.md; nothing in the cluster listens. */
  out: route<OutRows>({ name: "out.<name>", kind: "publish", param: "output", from: "client", to: "anyone", subject: (s, n) => s.out(n), guard: G.isOutRows }),
  // User actors (issue 14): the "Actors" block of runtime/protocol.ts.
  /** client.actor() / getActor() / killActor(). */
  actorRequest: route<ActorRequest, ActorReply>({ name: "sched.actor", kind: "request", from: "client", to: "scheduler", subject: (s) => s.actorControl, guard: G.isActorRequest }),
  /** An actor's `snapshot()`, kept in the data store. */
  actorSnapshot: route<ActorSnapshot>({ name: "sched.snapshot", kind: "publish", from: "executor", to: "scheduler", subject: (s) => s.actorSnapshot, guard: G.isActorSnapshot }),
  /** Start or stop one actor on this executor. */
  execActor: route<ExecActor, ExecActorReply>({ name: "exec.<id>.actor", kind: "request", param: "exec", from: "scheduler", to: "executor", subject: (s, id) => s.execActor(id), guard: G.isExecActor }),
  /** Method calls, batched per client, sent straight to the hosting executor (actor-host.ts). */
  actorCalls: route<ActorCalls>({ name: "actor.<actorId>.calls", kind: "publish", param: "actor", from: "client", to: "executor (the actor's host)", subject: (s, a) => s.actorCalls(a), guard: G.isActorCalls }),
  actorReplies: route<ActorReplies>({ name: "actres.<clientId>", kind: "publish", param: "client", from: "executor", to: "client", subject: (s, c) => s.actorReplies(c), guard: G.isActorReplies }),
  actorStatus: route<ActorStatus>({ name: "actor.<actorId>.status", kind: "publish", param: "actor", from: "scheduler", to: "clients using the actor", subject: (s, a) => s.actorStatus(a), guard: G.isActorStatus }),
} as const;
export type Routes = typeof routes;
