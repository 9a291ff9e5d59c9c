/**
 * Waiting on futures without gathering them: `asCompleted` (completion order) and `wait`
 * (all / first / first exception, with a timeout), as Dask's. Both listen to the futures' jobs and
 * count settlements, O(1) each, never polling.
 */
import { CANCELLED, ERROR, type Job } from "./jobs.ts";
import type { Future } from "./future.ts";
import type { ReturnWhen } from "./options.ts";

/** Yields each future as it completes (finished, failed or cancelled), in completion order. */
export async function* asCompleted<T>(futures: readonly Future<T>[]): AsyncGenerator<Future<T>> {
  const ready: Future<T>[] = [];
  let wake: (() => void) | undefined;
  let left = futures.length;
  const byJob = new Map<Job, Map<number, Future<T>>>();
  for (const f of futures) {
    let m = byJob.get(f.job);
    if (!m) byJob.set(f.job, (m = new Map()));
    m.set(f.index, f);
  }
  const unsubs: (() => void)[] = [];
  for (const [job, rows] of byJob) {
    for (const [i, f] of rows) if (job.status[i] !== 0) ready.push(f);
    unsubs.push(
      job.listen((_j, i) => {
        const f = rows.get(i);
        if (f) {
          ready.push(f);
          wake?.();
        }
      }),
    );
  }
  try {
    while (left > 0) {
      if (ready.length === 0) await new Promise<void>((r) => (wake = r));
      wake = undefined;
      while (ready.length) {
        left--;
        yield ready.shift()!;
      }
    }
  } finally {
    for (const u of unsubs) u();
  }
}

/**
 * Waits until all (`ALL_COMPLETED`), any (`FIRST_COMPLETED`) or the first failed
 * (`FIRST_EXCEPTION`) of the futures is done, or until `timeoutMs`. Returns `{ done, notDone }`.
 */
export async function wait<T>(futures: readonly Future<T>[], opts: { returnWhen?: ReturnWhen; timeoutMs?: number } = {}): Promise<{ done: Future<T>[]; notDone: Future<T>[] }> {
  const when = opts.returnWhen ?? "ALL_COMPLETED";
  const split = () => ({ done: futures.filter((f) => f.done()), notDone: futures.filter((f) => !f.done()) });
  // Pending rows per job, counted down as they settle: O(1) per settlement, not O(futures).
  const pending = new Map<Job, Set<number>>();
  let left = 0;
  let failed = false;
  for (const f of futures) {
    if (f.done()) {
      failed ||= f.failed;
      continue;
    }
    let set = pending.get(f.job);
    if (!set) pending.set(f.job, (set = new Set()));
    if (!set.has(f.index)) (set.add(f.index), left++);
  }
  const satisfied = () =>
    left === 0 || (when === "FIRST_COMPLETED" && left < futures.length) || (when === "FIRST_EXCEPTION" && failed);
  if (futures.length === 0 || satisfied()) return split();
  await new Promise<void>((resolve) => {
    const unsubs: (() => void)[] = [];
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      for (const u of unsubs) u();
      clearTimeout(timer);
      resolve();
    };
    for (const [job, set] of pending) {
      unsubs.push(
        job.listen((j, i) => {
          if (!set.delete(i)) return;
          left--;
          const st = j.status[i];
          failed ||= st === ERROR || st === CANCELLED;
          if (satisfied()) finish();
        }),
      );
    }
    if (opts.timeoutMs !== undefined) timer = setTimeout(finish, opts.timeoutMs);
  });
  return split();
}
