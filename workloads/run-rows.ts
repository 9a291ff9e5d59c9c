/**
 * Runs one batch of calls where the work happens (an executor or a local child process). It is the
 * body of every batch task, so it must stay **self-contained**: no imports, no outside names (it is
 * also shipped by source inside the wrapper of a self-contained user function, see
 * `backends/wrappers.ts`). Types only may be imported.
 */

/**
 * One batch as it travels: the argument lists of its calls, and where scattered values go.
 * `holes` is a flat list of triples `[row, argument, ref]`: put `refs[ref]` at `rows[row][argument]`
 * (scattered values travel once per executor as top-level arguments of the batch task, see
 * {@link runRows}).
 */
export interface BatchPayload {
  rows: unknown[][];
  holes?: number[];
}

/** A failed call of a batch: its row, and the thrown error's name, message and stack. */
export type RowError = [row: number, name: string, message: string, stack: string];

/**
 * What a batch returns: one value per row (undefined where the row failed), the failed rows, the
 * time spent computing (ms; the basis of auto batching), and the worker's name when a row failed.
 */
export interface BatchOutput {
  v: unknown[];
  e?: RowError[];
  ms: number;
  w?: string;
}

/**
 * Calls `fn(...row)` for every row of `p`, in order, each call in its own try/catch: one call's
 * error is that call's, the others go on. An async `fn` is awaited call by call (a batch is a
 * sequence, as in joblib), and then the batch returns a promise.
 *
 * @param refs scattered values, by the indices named in `p.holes`
 */
export function runRows(fn: (...a: unknown[]) => unknown, p: BatchPayload, refs: unknown[]): BatchOutput | Promise<BatchOutput> {
  const t0 = performance.now();
  const rows = p.rows;
  const holes = p.holes;
  if (holes) for (let h = 0; h + 2 < holes.length; h += 3) rows[holes[h]!]![holes[h + 1]!] = refs[holes[h + 2]!];
  const v = new Array<unknown>(rows.length);
  let e: RowError[] | undefined;
  const fail = (i: number, err: unknown) => {
    const x = err instanceof Error ? err : undefined;
    let msg: string;
    try {
      msg = x ? x.message : `a non-Error value was thrown: ${typeof err === "string" ? JSON.stringify(err) : String(err)}`;
    } catch {
      msg = "a non-Error value was thrown";
    }
    (e ??= []).push([i, x ? x.name : "Error", msg, x?.stack ?? ""]);
  };
  const done = (): BatchOutput => {
    const out: BatchOutput = { v, ms: performance.now() - t0 };
    if (e) {
      out.e = e;
      const env = process.env;
      let w = env.TSDASK_WORKER_NAME;
      if (!w && env.TSDASK_EXECUTOR) {
        // runtime/ipc.ts's readExecutorConfig, inline: this body travels by source (no imports).
        try {
          w = JSON.parse(env.TSDASK_EXECUTOR).name;
        } catch {
          /* no name */
        }
      }
      out.w = w || `pid ${process.pid}`;
    }
    return out;
  };
  const rest = async (from: number, first: PromiseLike<unknown>): Promise<BatchOutput> => {
    try {
      v[from] = await first;
    } catch (err) {
      fail(from, err);
    }
    for (let i = from + 1; i < rows.length; i++) {
      try {
        v[i] = await fn(...rows[i]!);
      } catch (err) {
        fail(i, err);
      }
    }
    return done();
  };
  for (let i = 0; i < rows.length; i++) {
    let r: unknown;
    try {
      r = fn(...rows[i]!);
    } catch (err) {
      fail(i, err);
      continue;
    }
    if (r !== null && typeof r === "object" && typeof (r as PromiseLike<unknown>).then === "function") return rest(i, r as PromiseLike<unknown>);
    v[i] = r;
  }
  return done();
}
