/** Scattered data messages; part of runtime/protocol.ts, which re-exports it. */
import type { Bound, Refusal } from "./subjects.ts";

// ---------------------------------------------------------------------------------------------
// Scattered data: stored once by the scheduler, moved in chunks below max_payload

/**
 * One chunk of a value's msgpack encoding. Chunk 0 may be sent with `probe: true` and no bytes:
 * the reply says whether the scheduler already holds `hash` (scattering twice uploads once).
 */
export interface DataPut {
  /**
   * The owner: a client id, or `<clientId>/<tag>` for a value held for one task of that client
   * (`a<key>`: a large argument the client stored; `r<key>`: a large result an executor stored).
   * A value is dropped when its last owner releases it; a client's tagged owners go with it.
   */
  client: string;
  hash: string;
  /** Total encoded size. */
  size: number;
  index: number;
  chunks: number;
  bytes?: Uint8Array;
  probe?: boolean;
  /** Ask every executor to fetch it as soon as it is complete. */
  broadcast?: boolean;
  /**
   * With a broadcast probe: the bytes are also in the same-host drop directory with this id, under
   * the value's hash (runtime/same-host.ts). The scheduler and the executors that share that
   * directory read them there (checked against the hash) instead of receiving them over NATS.
   */
  drop?: string;
  /** The owning client's token, or (with `exec`, a large result) the storing executor's. */
  auth?: string;
  exec?: string;
  /**
   * After pushing every chunk on `data.push.<hash>`: a request that asks which chunks the
   * scheduler is still missing (the reply's `missing`), to be sent again as plain `data.put`s.
   */
  commit?: boolean;
  /**
   * With `commit`, during a push: the last chunk index published so far. The scheduler answers
   * once it and the executors listening hold every chunk up to it (or a few seconds passed), so
   * the client never runs more than a window ahead of the slowest listener (data-push.ts).
   */
  through?: number;
}
/**
 * `push`: to a broadcast probe, "publish the chunks on `data.push.<hash>`" (the scheduler and the
 * idle executors listen there, so NATS fans the bytes out once instead of each executor pulling
 * them from the scheduler). `missing`: to a commit, the chunk indices not received. `limit`: with
 * code `ValueTooLarge`, the cap (bytes) the value is above.
 */
export type DataPutReply = { ok: true; have: boolean; push?: boolean; missing?: number[] } | (Refusal & { limit?: number });

/**
 * One chunk of a stored value. Bound: an executor sends its id (`exec`) and token, a worker
 * (installing a package file) its instance (`worker`) and token, a client its id (`client`) and
 * token and may read only values it owns (its own, or held for one of its tasks).
 */
export interface DataGet extends Bound {
  hash: string;
  index: number;
  exec?: string;
  worker?: string;
  client?: string;
}
/** Every value is stored and served under the SHA-256 of its bytes, checked by the store before it keeps
 * a value and by every reader before it uses one (runtime/chunked-value.ts). */
export type DataGetReply = { ok: true; chunks: number; size: number; bytes: Uint8Array } | Refusal;

export interface DataRelease {
  /** The owner, as in {@link DataPut.client}. */
  client: string;
  /** The owning client's token ({@link RegisterClient.auth}): a stranger cannot release a client's values. */
  auth?: string;
  hashes: string[];
}
