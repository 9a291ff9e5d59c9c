/**
 * A chunk's rows as bytes (SubmitGroup.rows / ends): the scheduler never decodes a task's
 * arguments, it copies the bytes of the rows it sends. Plain functions over the chunk's buffer and
 * end offsets; a run of consecutive rows (the usual case: a chunk's rows are queued in order) is
 * one copy.
 */
import { arrayHeaderSize, binOf, writeArrayHeader, type Encoded } from "../../runtime/codec.ts";

/** Where row `r`'s bytes start. */
export function rowStart(ends: Uint32Array, r: number): number {
  return r === 0 ? 0 : ends[r - 1]!;
}

/** Total bytes of rows `pick` (row indices). */
function sizeOf(ends: Uint32Array, pick: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < pick.length; i++) {
    const r = pick[i]!;
    n += ends[r]! - rowStart(ends, r);
  }
  return n;
}

/** Copies rows `pick` of `rows` into `out` from `at` (runs of consecutive rows at once); returns where they end. */
function copyRows(rows: Uint8Array, ends: Uint32Array, pick: ArrayLike<number>, out: Uint8Array, at: number, outEnds?: Uint32Array): number {
  for (let i = 0; i < pick.length; ) {
    const first = pick[i]!;
    let last = first;
    let j = i + 1;
    while (j < pick.length && pick[j] === last + 1) (last++, j++);
    const from = rowStart(ends, first);
    if (outEnds) for (let k = i; k < j; k++) outEnds[k] = at + ends[pick[k]!]! - from;
    out.set(rows.subarray(from, ends[last]!), at);
    at += ends[last]! - from;
    i = j;
  }
  return at;
}

/**
 * Rows `pick` as one msgpack array (a TaskGroup's `rows`): an array header, then each row's bytes as
 * they are; ready to be written into the batch message as a `bin` (codec.ts binOf: one more copy).
 */
export function arrayOfRows(rows: Uint8Array, ends: Uint32Array, pick: ArrayLike<number>): Encoded {
  const n = pick.length;
  return binOf(arrayHeaderSize(n) + sizeOf(ends, pick), (out, at) => copyRows(rows, ends, pick, out, at + writeArrayHeader(out, at, n)));
}

/** Rows `pick` as a chunk of their own (a re-submission's missing rows): their bytes and end offsets. */
export function pickRows(rows: Uint8Array, ends: Uint32Array, pick: ArrayLike<number>): { rows: Uint8Array; ends: Uint32Array } {
  const out = new Uint8Array(sizeOf(ends, pick));
  const outEnds = new Uint32Array(pick.length);
  copyRows(rows, ends, pick, out, 0, outEnds);
  return { rows: out, ends: outEnds };
}
