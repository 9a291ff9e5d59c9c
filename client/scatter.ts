/**
 * Uploads a value to the scheduler's data store (`data.put`) in chunks below max_payload, a few
 * in flight at once. Scattering a value the scheduler already holds sends one small probe. A
 * broadcast scatter is pushed once to every idle executor (runtime/data-transfer.ts).
 */
import { encodeLarge, findUnencodable } from "../runtime/codec.ts";
import { DataRef } from "../runtime/data-ref.ts";
import { bytesHash, putBytes } from "../runtime/data-transfer.ts";
import { Errors } from "../runtime/errors.ts";
import type { Subjects } from "../runtime/protocol.ts";
import type { Transport } from "../runtime/transport.ts";

export async function uploadValue(tx: Transport, subjects: Subjects, client: string, value: unknown, broadcast: boolean): Promise<DataRef> {
  let bytes: Uint8Array;
  try {
    bytes = encodeLarge(value);
  } catch (e) {
    throw Errors.NotSerializable("The scattered value", findUnencodable(value, "value") ?? (e as Error).message);
  }
  const hash = bytesHash(bytes);
  await putBytes(tx, subjects, client, bytes, hash, { broadcast, fail: (m) => Errors.ScatterFailed(m) });
  return new DataRef(hash, bytes.byteLength);
}
