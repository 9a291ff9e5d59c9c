/** The protocol's version, ids and subjects, and what every message kind shares (a binding token, a refusal, a remote error); part of runtime/protocol.ts, which re-exports it. */
import { Errors, type ErrorCode } from "../errors.ts";

/** Bumped on any incompatible change of a subject or message below (2: tokens and result tickets; 3: client.run through the scheduler, bound data.get; issue 11; 4: typed arrays from 64 KiB on as ext 0 `[0x80|dtype][pad][raw]`, runtime/codec.ts; 5: task rows as bytes the scheduler passes on, SubmitGroup.rows/ends and TaskGroup.rows). */
export const PROTOCOL_VERSION = 5;

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


/**
 * A message between the scheduler and one registered peer: `auth` is the token the scheduler
 * issued in that peer's register reply (a client's: the one it registered with).
 */
export interface Bound {
  auth?: string;
}

/** What a request's reply says when it is refused: an {@link ErrorCode} of the errors table and its message (`refusal()` in runtime/errors.ts builds one). */
export interface Refusal {
  ok: false;
  code: ErrorCode;
  message: string;
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
