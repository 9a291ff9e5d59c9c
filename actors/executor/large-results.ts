/**
 * Results too large for one message. Only reached when a batch of results did not fit in
 * max_payload (the ordinary path encodes each batch once and never comes here):
 * - {@link packResults} encodes each value once and packs the batch into messages that fit;
 * - a value that alone does not fit is stored by {@link storeResult} in the scheduler's data store
 *   (`data.put`, chunked, owner `<client>/r<key>`), and its result message carries a DataRef
 *   (Results.large). The scheduler holds it, in memory, until the client gathers it (then the
 *   client releases it), releases the future, or goes away.
 */
import { TICKET_WORDS } from "../../runtime/tickets.ts";
import { encode, encodeLarge } from "../../runtime/codec.ts";
import { bytesHash, ChunkError, putBytes } from "../../runtime/data-transfer.ts";
import { DataRef } from "../../runtime/data-ref.ts";
import { Errors, remoteErrorInfo } from "../../runtime/errors.ts";
import type { RemoteError, Results, Subjects } from "../../runtime/protocol.ts";
import type { Transport } from "../../runtime/transport.ts";

/** Headroom for a message's other fields (worker name, keys, headers). */
const HEADROOM = 4096;

export interface Packed {
  /** Messages that fit, each with its rows' indices into the original message. */
  parts: { msg: Results; rows: number[] }[];
  /** Rows whose value alone does not fit, with its encoding. */
  large: { row: number; bytes: Uint8Array }[];
}

/** Splits an oversize Results message by size: one encode of each value, packed greedily. */
export function packResults(msg: Results, maxPayload: number): Packed {
  const budget = maxPayload - HEADROOM;
  const errs = new Map<number, RemoteError>((msg.errors ?? []).map((e) => [e.i, e]));
  const large = new Set(msg.large ?? []);
  const out: Packed = { parts: [], large: [] };
  let rows: number[] = [];
  let used = 0;
  const close = () => {
    if (!rows.length) return;
    const part: Results = { worker: msg.worker, keys: Uint32Array.from(rows, (r) => msg.keys[r]!), values: rows.map((r) => msg.values[r]) };
    if (msg.tickets) {
      const t = msg.tickets;
      part.tickets = new Uint32Array(rows.length * TICKET_WORDS);
      rows.forEach((r, i) => part.tickets!.set(t.subarray(r * TICKET_WORDS, (r + 1) * TICKET_WORDS), i * TICKET_WORDS));
    }
    const e: RemoteError[] = [];
    const l: number[] = [];
    rows.forEach((r, i) => {
      const err = errs.get(r);
      if (err) e.push({ ...err, i });
      if (large.has(r)) l.push(i);
    });
    if (e.length) part.errors = e;
    if (l.length) part.large = Uint32Array.from(l);
    out.parts.push({ msg: part, rows });
    rows = [];
    used = 0;
  };
  for (let r = 0; r < msg.keys.length; r++) {
    const err = errs.get(r);
    const bytes = err ? undefined : encodeLarge(msg.values[r]);
    const size = 16 + (bytes ? bytes.byteLength : encode(err).byteLength);
    if (bytes && size > budget) {
      out.large.push({ row: r, bytes });
      continue;
    }
    if (used + size > budget) close();
    rows.push(r);
    used += size;
  }
  close();
  return out;
}

/**
 * Stores one result's bytes in the scheduler's data store for `client` and returns its DataRef.
 * Rejects with a task error (as a RemoteError) naming the task and the worker: `ResultTooLarge`
 * above the cap (the scheduler's, or the client's), else `ScatterFailed`.
 */
export async function storeResult(tx: Transport, subjects: Subjects, client: string, key: number, worker: string, bytes: Uint8Array, bound: { auth: string; exec: string }): Promise<DataRef> {
  // Stored under its SHA-256 like every value, so the store and every reader can check the bytes.
  const id = bytesHash(bytes);
  try {
    await putBytes(tx, subjects, `${client}/r${key}`, bytes, id, bound);
  } catch (e) {
    const err =
      e instanceof ChunkError && e.code === "ValueTooLarge"
        ? Errors.ResultTooLarge(String(key), worker, bytes.byteLength, e.limit ?? 0)
        : Errors.ResultStoreFailed(String(key), worker, bytes.byteLength, (e as Error).message);
    throw Object.assign(err, { remote: remoteErrorInfo(err) });
  }
  return new DataRef(id, bytes.byteLength, true);
}
