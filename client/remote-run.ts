/**
 * client.run / runOn / runOnScheduler: a function run outside the task queue, on executors or in
 * the scheduler's process. Both are asked of the scheduler (`sched.run`, with the client's id and
 * token); a run on an executor is forwarded there (`exec.<id>.run`, with the executor's token) and
 * answered by the executor. The function
 * travels as for submit (by source, or a module export by reference); a throw comes back as a
 * TaskError with the remote stack and the name of where it ran.
 */
import { Errors, taskErrorOf } from "../runtime/errors.ts";
import type { RunReply, RunRequest, Subjects } from "../runtime/protocol.ts";
import { toFnDef } from "../runtime/shipping/index.ts";
import { Transport } from "../runtime/transport.ts";

const TIMEOUT_MS = 60_000;

type AnyFn = (...args: any[]) => unknown;

/** The client's id and token: runs are asked of the scheduler, which runs code only for a registered client. */
export interface RunAs {
  client: string;
  auth: string;
}

/** Runs `fn(...args)` on each executor; values keyed by executor name (sorted). Rejects with the first error by name. */
export async function runOnExecutors(tx: Transport, subjects: Subjects, as: RunAs, execs: readonly { id: string; name: string }[], fn: AnyFn, args: unknown[]): Promise<Record<string, unknown>> {
  const { fn: def, module } = toFnDef(fn);
  const ask = (e: { id: string }): RunRequest => ({ fn: def, ...(module ? { module } : {}), args, client: as.client, auth: as.auth, exec: e.id });
  const replies = await Promise.all(execs.map((e) => tx.request<RunReply>(subjects.schedRun, ask(e), TIMEOUT_MS).then((r) => [e.name, r] as const)));
  const out: Record<string, unknown> = {};
  for (const [name, r] of replies.sort((a, b) => a[0].localeCompare(b[0]))) {
    if (!r.ok) throw taskErrorOf(`run-${nameOf(def)}`, name, r.error);
    out[name] = r.value;
  }
  return out;
}

/** Runs `fn(...args)` in the scheduler's process and resolves with its value. */
export async function runOnScheduler(tx: Transport, subjects: Subjects, as: RunAs, fn: AnyFn, args: unknown[]): Promise<unknown> {
  const { fn: def, module } = toFnDef(fn);
  let r: RunReply;
  try {
    r = await tx.request<RunReply>(subjects.schedRun, { fn: def, ...(module ? { module } : {}), args, client: as.client, auth: as.auth } satisfies RunRequest, TIMEOUT_MS);
  } catch (e) {
    throw Transport.isNoAnswer(e) ? Errors.RequestTimedOut("client.runOnScheduler()", TIMEOUT_MS) : e;
  }
  if (!r.ok) throw taskErrorOf(`run-on-scheduler-${nameOf(def)}`, "scheduler", r.error);
  return r.value;
}

/** A shipped function's name for task keys and messages. */
export function nameOf(def: { kind: string; name?: string; exportName?: string }): string {
  return (def.kind === "src" ? def.name : def.exportName) || "lambda";
}
