/**
 * Who is to blame when an executor dies: plain functions over the task table (Dask's
 * allowed-failures / KilledWorker, with start markers so only a task that was running is blamed).
 */
import { Errors, type TsDaskError } from "../../runtime/errors.ts";
import type { ExecutorRec } from "./executor-rec.ts";
import { CAREFUL, type TaskTable } from "./tasks.ts";

/**
 * Decides the fate of a dead executor's tasks; returns those to re-queue. Tasks it had started
 * (start markers, see TaskGroup.careful) are the suspects: each death counts against them, and
 * at `allowedFailures` they fail with KilledWorker; tasks past their timeout fail with
 * TaskTimeout. Nothing is blamed when the executor could not tell what was running (no markers,
 * or a whole worker vanished): then every task goes back marked careful, so the next death is
 * pinned exactly. Tasks merely queued behind a culprit are never blamed.
 */
export function blame(
  t: TaskTable,
  rec: ExecutorRec,
  assigned: readonly number[],
  /** Slot → names of the executors that died while running it (updated here). */
  deaths: Map<number, string[]>,
  allowedFailures: number,
  fail: (slot: number, error: TsDaskError, workers: string[]) => void,
): number[] {
  const crash = rec.crash;
  const timedOut = new Set(crash?.timedOut ?? []);
  const running = new Set(crash?.running ?? []);
  const requeue: number[] = [];
  const exact = running.size > 0 || timedOut.size > 0;
  for (const s of assigned) {
    if (timedOut.has(s)) {
      fail(s, Errors.TaskTimeout(String(t.key[s]), rec.name, t.chunks.get(t.chunk[s]!)?.timeout ?? 0), [rec.name]);
    } else if (running.has(s)) {
      const who = (deaths.get(s) ?? []).concat(rec.name);
      deaths.set(s, who);
      if (++t.attempts[s]! >= allowedFailures) fail(s, Errors.KilledWorker(String(t.key[s]), who, allowedFailures), who);
      else requeue.push(s);
    } else {
      if (!exact && crash) t.flags[s]! |= CAREFUL;
      requeue.push(s);
    }
  }
  return requeue;
}
