/**
 * Chunked transfer of bytes to and from the scheduler's data store (`data.put` / `data.get`),
 * below the NATS max_payload, a few chunks in flight at once (or, for a broadcast, pushed once to
 * every listener). Scattered values (msgpack bytes), uploaded archives and package files all
 * travel this way.
 */
import { createHash, webcrypto } from "node:crypto";
import type { DataGet, DataGetReply, DataPut, DataPutReply, Subjects } from "./protocol.ts";
import { ChunkedValue } from "./chunked-value.ts";
import { Errors } from "./errors.ts";
import type { Transport } from "./transport.ts";

const IN_FLIGHT = 8;
/** Pushed chunks between the scheduler's acknowledgements (the push's flow control). */
const PUSH_WINDOW = 8;
const TIMEOUT_MS = 30_000;

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

/** Turns a refusal into the caller's error; the default throws a {@link ChunkError}. */
export type ChunkFail = (message: string, code: string, limit?: number) => Error;
const chunkError: ChunkFail = (message, code, limit) => new ChunkError(code, message, limit);

/** The chunk size for this connection (as the scheduler's data store uses). */
export const chunkSizeFor = (tx: Transport) => Math.max(64 * 1024, tx.maxPayload - 4096);

/** Bytes, or parts whose concatenation they are (codec.ts encodeLargeParts: never joined in one buffer). */
export type Bytes = Uint8Array | readonly Uint8Array[];

/** SHA-256 of `bytes` (of the parts' concatenation), hex: the key bytes are stored under. */
export function bytesHash(bytes: Bytes): string {
  const h = createHash("sha256");
  for (const p of partsOf(bytes)) h.update(p);
  return h.digest("hex");
}

/** {@link bytesHash} of one buffer, computed on libuv's thread pool (a 10 MB value: ~9 ms kept off the event loop). */
export async function bytesHashOffThread(bytes: Uint8Array): Promise<string> {
  return Buffer.from(await webcrypto.subtle.digest("SHA-256", bytes)).toString("hex");
}

const partsOf = (bytes: Bytes): readonly Uint8Array[] => (bytes instanceof Uint8Array ? [bytes] : bytes);

/** The byte count of `bytes`. */
export function bytesSize(bytes: Bytes): number {
  let n = 0;
  for (const p of partsOf(bytes)) n += p.byteLength;
  return n;
}

/** Bytes `start`…`end` of the parts' concatenation: a view when they lie in one part, else a copy. */
function range(parts: readonly Uint8Array[], start: number, end: number): Uint8Array {
  let at = 0;
  for (let k = 0; k < parts.length; k++) {
    const p = parts[k]!;
    if (start < at + p.byteLength || k === parts.length - 1) {
      if (end <= at + p.byteLength) return p.subarray(start - at, end - at);
      const out = new Uint8Array(end - start);
      let o = 0;
      for (let j = k, from = start - at; j < parts.length && o < out.byteLength; j++, from = 0) {
        const piece = parts[j]!.subarray(from, from + out.byteLength - o);
        out.set(piece, o);
        o += piece.byteLength;
      }
      return out;
    }
    at += p.byteLength;
  }
  return new Uint8Array(0);
}

/**
 * Stores `bytes` (or the parts' concatenation, never made) under `hash` (a probe first: bytes the scheduler already holds are not sent again).
 * With `broadcast`, the scheduler may answer the probe with `push`: then each chunk is published
 * once on `data.push.<hash>`, where the scheduler and the idle executors listen (NATS fans it
 * out; actors/scheduler/data/data-push.ts), and a commit asks which chunks the scheduler still lacks.
 * `client` is the owner (see DataPut.client). A value above the store's cap is refused at the probe.
 * `drop`: the bytes are also in this same-host drop directory (DataPut.drop, runtime/same-host.ts).
 * @throws the `fail` error when the scheduler refuses a chunk; transport errors as they are.
 */
export async function putBytes(
  tx: Transport,
  subjects: Subjects,
  client: string,
  bytes: Bytes,
  hash: string,
  opts: { broadcast?: boolean; fail?: ChunkFail; auth?: string; exec?: string; drop?: string } = {},
): Promise<void> {
  const fail = opts.fail ?? chunkError;
  const parts = partsOf(bytes);
  const size = bytesSize(parts);
  const chunkSize = chunkSizeFor(tx);
  const chunks = Math.max(1, Math.ceil(size / chunkSize));
  // The sender's token (a client's, or with `exec` an executor's): the scheduler stores nothing for strangers.
  const base = { client, hash, size, chunks, broadcast: !!opts.broadcast, ...(opts.auth ? { auth: opts.auth } : {}), ...(opts.exec ? { exec: opts.exec } : {}) };
  const ask = async (m: DataPut) => {
    const r = await tx.request<DataPutReply>(subjects.dataPut, m, TIMEOUT_MS);
    if (!r.ok) throw fail(r.message, r.code, r.limit);
    return r;
  };
  const chunk = (i: number): DataPut => ({ ...base, index: i, bytes: range(parts, i * chunkSize, Math.min(size, (i + 1) * chunkSize)) });
  const probe = await ask({ ...base, index: 0, probe: true, ...(opts.drop ? { drop: opts.drop } : {}) });
  if (probe.have) return;
  let todo = Array.from({ length: chunks }, (_, i) => i);
  if (probe.push) {
    const pushSubject = subjects.dataPush(hash);
    // Flow control by the listeners' progress, not just the server's: the scheduler answers once
    // it and the listening executors hold every chunk so far (`through`), and we publish a window
    // only once the one before the last is answered, so the server never queues more than two
    // windows for any of them (one too far behind is cut off as a slow consumer), and the pipe
    // never empties while an answer travels. Not by the order of our messages: the ask may take
    // the in-process link (runtime/link.ts) while the chunks cross NATS.
    let answered: Promise<unknown> | undefined;
    for (let i = 0; i < chunks; i++) {
      tx.send(pushSubject, chunk(i));
      if (i % PUSH_WINDOW === PUSH_WINDOW - 1 && i < chunks - 1) {
        const next = ask({ ...base, index: 0, commit: true, through: i });
        next.catch(() => {}); // awaited below, after the previous window's answer
        if (answered) await answered;
        answered = next;
      }
    }
    if (answered) await answered;
    const commit = await ask({ ...base, index: 0, commit: true, through: chunks - 1 });
    if (commit.have) return;
    todo = commit.missing ?? todo;
  }
  // The last chunk stored completes the value; if none did (a scheduler restarted in between and
  // holds only part), ask what is missing and send it once more before giving up.
  for (let round = 0; round < 2; round++) {
    let complete = false;
    let next = 0;
    const lane = async () => {
      while (next < todo.length) if ((await ask(chunk(todo[next++]!))).have) complete = true;
    };
    await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, todo.length) }, lane));
    if (complete) return;
    const commit = await ask({ ...base, index: 0, commit: true });
    if (commit.have) return;
    todo = commit.missing ?? todo;
  }
  throw fail(`value ${hash.slice(0, 12)}… did not arrive whole at the scheduler (it may have restarted meanwhile); try again`, "Incomplete");
}

/** Who reads (protocol.ts DataGet): an executor's, a worker's or a client's id and token. */
export type DataGetAs = Pick<DataGet, "auth" | "exec" | "worker" | "client">;

/** How many times a value whose bytes do not match its hash is fetched again before failing. */
const REFETCHES = 2;
/** A reader the scheduler does not know (yet, again) asks again this often, this long (~10 s). */
const UNBOUND_RETRIES = 20;
const UNBOUND_WAIT_MS = 500;
class NotBoundYet extends Error {}

/**
 * The bytes stored under `hash`, pulled chunk by chunk straight into one buffer (chunks are equal
 * but the last), checked against their SHA-256 as they arrive: a value that does not match (a
 * forged reply, corruption) is thrown away (`onCorrupt`) and fetched again, then fails
 * (`DataCorrupted`). `as` binds the request (evaluated per fetch: an executor's token changes when
 * it registers again).
 * @throws the `fail` error when the scheduler does not hold them or refuses the reader.
 */
export async function getBytes(
  tx: Transport,
  subject: string,
  hash: string,
  opts: { as: () => DataGetAs; fail?: ChunkFail; onCorrupt?: () => void },
): Promise<Uint8Array> {
  const fail = opts.fail ?? chunkError;
  for (let attempt = 0, unbound = 0; ; attempt++) {
    const as = opts.as();
    const get = async (index: number) => {
      const r = await tx.request<DataGetReply>(subject, { hash, index, ...as } satisfies DataGet, TIMEOUT_MS, { views: true });
      if (!r.ok) throw r.code === "NotBound" ? new NotBoundYet(r.message) : fail(r.message, r.code);
      return r;
    };
    let v: ChunkedValue;
    let ok: boolean;
    try {
      const first = await get(0);
      v = new ChunkedValue(first.size, first.chunks);
      ok = v.place(0, first.bytes) === "placed";
      let next = 1;
      const lane = async () => {
        while (next < first.chunks && ok) {
          const i = next++;
          if (v.place(i, (await get(i)).bytes) !== "placed") ok = false;
        }
      };
      if (ok) await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, first.chunks - 1) }, lane));
    } catch (e) {
      // The scheduler does not know us right now (it forgot a silent worker or executor, which
      // registers again within a beat or two): ask again with the token we then hold.
      if (!(e instanceof NotBoundYet)) throw e;
      if (++unbound > UNBOUND_RETRIES) throw fail(e.message, "NotBound");
      await new Promise((res) => setTimeout(res, UNBOUND_WAIT_MS));
      attempt--;
      continue;
    }
    if (ok && v.verify(hash)) return v.bytes;
    opts.onCorrupt?.();
    if (attempt >= REFETCHES) throw fail(Errors.DataCorrupted(hash, "this reader").message, "DataCorrupted");
  }
}
