/**
 * Moving one value's encoded bytes to and from the scheduler's data store in chunks below
 * max_payload (`data.put` / `data.get`, a few requests in flight). Used for large task arguments
 * (client), large task results (executor → scheduler → client). `client.scatter` has its own
 * uploader (client/scatter.ts), which also probes for a value the scheduler already holds.
 */
import type { DataGetReply, DataPut, DataPutReply } from "./protocol.ts";
import type { Transport } from "./transport.ts";

const IN_FLIGHT = 8;
const TIMEOUT_MS = 30_000;

/** The chunk size for this connection (as the scheduler's data store and client.scatter use). */
export const chunkSizeFor = (tx: Transport) => Math.max(64 * 1024, tx.maxPayload - 4096);

/** A refused or failed chunk request. `limit` is set when the value is above the store's cap. */
export class ChunkError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly limit?: number,
  ) {
    super(message);
  }
}

/**
 * Stores `bytes` under `hash` for `owner` (see DataPut.client). Chunk 0 goes first, alone, so a
 * value above the cap is refused before the rest travels, and a value the scheduler holds already
 * is not sent again. Rejects with a {@link ChunkError}.
 */
export async function putBytes(tx: Transport, subject: string, owner: string, hash: string, bytes: Uint8Array): Promise<void> {
  const chunkSize = chunkSizeFor(tx);
  const size = bytes.byteLength;
  const chunks = Math.max(1, Math.ceil(size / chunkSize));
  const put = async (index: number) => {
    const m: DataPut = { client: owner, hash, size, index, chunks, bytes: bytes.subarray(index * chunkSize, (index + 1) * chunkSize) };
    const r = await tx.request<DataPutReply>(subject, m, TIMEOUT_MS);
    if (!r.ok) throw new ChunkError(r.code, r.message, r.limit);
    return r.have;
  };
  // The first chunk of a value held already (same hash) just adds `owner`: nothing more to send.
  if ((await put(0)) && chunks > 1) return;
  let next = 1;
  const lane = async () => {
    while (next < chunks) await put(next++);
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, chunks - 1) }, lane));
}

/** Fetches the bytes stored under `hash`. Rejects with a {@link ChunkError} (e.g. `DataNotFound`). */
export async function getBytes(tx: Transport, subject: string, hash: string): Promise<Uint8Array> {
  const get = async (index: number) => {
    const r = await tx.request<DataGetReply>(subject, { hash, index }, TIMEOUT_MS);
    if (!r.ok) throw new ChunkError(r.code, r.message);
    return r;
  };
  const first = await get(0);
  if (first.chunks === 1) return first.bytes;
  const out = new Uint8Array(first.size);
  out.set(first.bytes, 0);
  const chunkSize = first.bytes.byteLength;
  let next = 1;
  const lane = async () => {
    while (next < first.chunks) {
      const i = next++;
      out.set((await get(i)).bytes, i * chunkSize);
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, first.chunks - 1) }, lane));
  return out;
}
