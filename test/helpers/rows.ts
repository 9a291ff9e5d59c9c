/** Task rows as a client sends them (SubmitGroup.rows / ends / consts), from columns of arguments: for tests of the scheduler's table. */
import { encode, RowWriter } from "../../runtime/codec.ts";

export function rowBytes(cols: readonly (readonly unknown[])[], consts?: readonly unknown[]): [Uint8Array, Uint32Array, Uint8Array | undefined] {
  const w = new RowWriter();
  const n = cols.length ? cols[0]!.length : 0;
  for (let i = 0; i < n; i++) {
    w.begin(cols.length);
    for (const c of cols) w.arg(c[i]);
    w.end();
  }
  const { rows, ends } = w.take();
  return [rows, ends, consts ? encode(consts) : undefined];
}
