/**
 * Uploads a value to the scheduler's data store (`data.put`) in chunks below max_payload, a few
 * in flight at once. Scattering a value the scheduler already holds sends one small probe.
 */
import { createHash } from "node:crypto";
import { encodeLarge, findUnencodable } from "../runtime/codec.ts";
import { DataRef } from "../runtime/data-ref.ts";
import { Errors } from "../runtime/errors.ts";
import type { DataPut, DataPutReply } from "../runtime/protocol.ts";
import type { Transport } from "../runtime/transport.ts";

const IN_FLIGHT = 8;
const TIMEOUT_MS = 30_000;

export async function uploadValue(tx: Transport, subject: string, client: string, value: unknown, broadcast: boolean): Promise<DataRef> {
  let bytes: Uint8Array;
  try {
    bytes = encodeLarge(value);
  } catch (e) {
    throw Errors.NotSerializable("The scattered value", findUnencodable(value, "value") ?? (e as Error).message);
  }
  const hash = createHash("sha256").update(bytes).digest("hex");
  const size = bytes.byteLength;
  const chunkSize = Math.max(64 * 1024, tx.maxPayload - 4096);
  const chunks = Math.max(1, Math.ceil(size / chunkSize));
  const base = { client, hash, size, chunks, broadcast };
  const ask = async (m: DataPut) => {
    const r = await tx.request<DataPutReply>(subject, m, TIMEOUT_MS);
    if (!r.ok) throw Errors.ScatterFailed(r.message);
    return r;
  };
  if ((await ask({ ...base, index: 0, probe: true })).have) return new DataRef(hash, size);
  let next = 0;
  const lane = async () => {
    while (next < chunks) {
      const i = next++;
      await ask({ ...base, index: i, bytes: bytes.subarray(i * chunkSize, (i + 1) * chunkSize) });
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, chunks) }, lane));
  return new DataRef(hash, size);
}
