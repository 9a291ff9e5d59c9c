/**
 * Chunked transfer of bytes to and from the scheduler's data store (`data.put` / `data.get`),
 * below the NATS max_payload, a few chunks in flight at once. Scattered values (msgpack bytes),
 * uploaded archives and package files all travel this way.
 */
import { createHash } from "node:crypto";
import type { DataGetReply, DataPut, DataPutReply } from "./protocol.ts";
import type { Transport } from "./transport.ts";

const IN_FLIGHT = 8;
const TIMEOUT_MS = 30_000;

/** SHA-256 of `bytes`, hex: the key bytes are stored under. */
export function bytesHash(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Stores `bytes` under `hash` (a probe first: bytes the scheduler already holds are not sent again).
 * @throws the `fail(message)` error when the scheduler refuses a chunk; transport errors as they are.
 */
export async function putBytes(
  tx: Transport,
  subject: string,
  client: string,
  bytes: Uint8Array,
  hash: string,
  opts: { broadcast?: boolean; fail: (message: string) => Error },
): Promise<void> {
  const size = bytes.byteLength;
  const chunkSize = Math.max(64 * 1024, tx.maxPayload - 4096);
  const chunks = Math.max(1, Math.ceil(size / chunkSize));
  const base = { client, hash, size, chunks, broadcast: !!opts.broadcast };
  const ask = async (m: DataPut) => {
    const r = await tx.request<DataPutReply>(subject, m, TIMEOUT_MS);
    if (!r.ok) throw opts.fail(r.message);
    return r;
  };
  if ((await ask({ ...base, index: 0, probe: true })).have) return;
  let next = 0;
  const lane = async () => {
    while (next < chunks) {
      const i = next++;
      await ask({ ...base, index: i, bytes: bytes.subarray(i * chunkSize, (i + 1) * chunkSize) });
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, chunks) }, lane));
}

/**
 * The bytes stored under `hash`, pulled chunk by chunk.
 * @throws the `fail(message)` error when the scheduler does not hold them.
 */
export async function getBytes(tx: Transport, subject: string, hash: string, fail: (message: string) => Error): Promise<Uint8Array> {
  const get = async (index: number) => {
    const r = await tx.request<DataGetReply>(subject, { hash, index }, TIMEOUT_MS);
    if (!r.ok) throw fail(r.message);
    return r;
  };
  const first = await get(0);
  const parts: Uint8Array[] = new Array(first.chunks);
  parts[0] = first.bytes;
  let next = 1;
  const lane = async () => {
    while (next < first.chunks) {
      const i = next++;
      parts[i] = (await get(i)).bytes;
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, first.chunks - 1) }, lane));
  if (parts.length === 1) return parts[0]!;
  const bytes = new Uint8Array(first.size);
  let o = 0;
  for (const p of parts) bytes.set(p, (o += p.byteLength) - p.byteLength);
  return bytes;
}
