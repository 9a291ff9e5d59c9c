/**
 * Uploads a value to the scheduler's data store (`data.put`) in chunks below max_payload, a few
 * in flight at once. Scattering a value the scheduler already holds sends one small probe. A
 * broadcast scatter is pushed instead when the scheduler says so: each chunk published once on
 * `data.push.<hash>`, where the scheduler and the idle executors listen (see
 * actors/scheduler/data-push.ts), then a commit asks which chunks the scheduler still lacks.
 */
import { createHash } from "node:crypto";
import { encodeLarge, findUnencodable } from "../runtime/codec.ts";
import { DataRef } from "../runtime/data-ref.ts";
import { Errors } from "../runtime/errors.ts";
import type { DataPut, DataPutReply, Subjects } from "../runtime/protocol.ts";
import type { Transport } from "../runtime/transport.ts";

const IN_FLIGHT = 8;
/** Pushed chunks between the scheduler's acknowledgements (the push's flow control). */
const PUSH_WINDOW = 8;
const TIMEOUT_MS = 30_000;

export async function uploadValue(tx: Transport, subjects: Subjects, client: string, value: unknown, broadcast: boolean): Promise<DataRef> {
  const subject = subjects.dataPut;
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
  const chunk = (i: number): DataPut => ({ ...base, index: i, bytes: bytes.subarray(i * chunkSize, (i + 1) * chunkSize) });
  const probe = await ask({ ...base, index: 0, probe: true });
  if (probe.have) return new DataRef(hash, size);
  let todo = Array.from({ length: chunks }, (_, i) => i);
  if (probe.push) {
    const pushSubject = subjects.dataPush(hash);
    for (let i = 0; i < chunks; i++) {
      tx.send(pushSubject, chunk(i));
      // Flow control by the scheduler's progress, not just the server's: its answer comes after
      // it has handled the chunks before it (one connection, in order), so the server never
      // queues more than a window for it (a scheduler too far behind is cut off as a slow consumer).
      if (i % PUSH_WINDOW === PUSH_WINDOW - 1 && i < chunks - 1) await ask({ ...base, index: 0, commit: true });
    }
    const commit = await ask({ ...base, index: 0, commit: true });
    if (commit.have) return new DataRef(hash, size);
    todo = commit.missing ?? todo;
  }
  let next = 0;
  const lane = async () => {
    while (next < todo.length) await ask(chunk(todo[next++]!));
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, todo.length) }, lane));
  return new DataRef(hash, size);
}
