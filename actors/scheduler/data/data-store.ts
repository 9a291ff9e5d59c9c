/**
 * Scattered values, held by the scheduler as their msgpack bytes: uploaded once in chunks
 * (`data.put`), served in chunks to each executor that needs one (`data.get`), dropped when the
 * last client that scattered it releases it. Held here, not by a worker, so a value survives the
 * death of any worker.
 */
import type { DataGet, DataGetReply, DataPut, DataPutReply } from "../../../runtime/protocol.ts";
import { ChunkedValue } from "../../../runtime/chunked-value.ts";
import { Errors, refusal } from "../../../runtime/errors.ts";

/** A value still arriving: chunks are written straight into its final buffer, hashed as they come. */
interface Partial {
  value: ChunkedValue;
  owners: Set<string>;
  /** When the last chunk arrived (abandoned values are swept, see sweepAbandoned). */
  at: number;
}

export class DataStore {
  private readonly complete = new Map<string, { bytes: Uint8Array; owners: Set<string> }>();
  private readonly partial = new Map<string, Partial>();
  /** Called when a value became complete (e.g. to ask executors to prefetch it). */
  onComplete: (hash: string, broadcast: boolean) => void = () => {};
  /** Called when chunks of `hash` were thrown away (forged or corrupted): counted and reported. */
  onCorrupt: (hash: string, why: string) => void = () => {};
  /** Values (or starts of values) thrown away as forged or corrupted. */
  corrupted = 0;
  /** A complete value left the store (its last owner released it): executors may drop their copies. */
  onDropped: (hash: string) => void = () => {};

  constructor(private readonly chunkSize: number) {}

  /** Bytes held (complete values). */
  get bytes(): number {
    let n = 0;
    for (const v of this.complete.values()) n += v.bytes.byteLength;
    return n;
  }

  get count(): number {
    return this.complete.size;
  }

  put(m: DataPut): DataPutReply {
    const done = this.complete.get(m.hash);
    if (done) {
      done.owners.add(m.client);
      if (m.probe && m.broadcast) this.onComplete(m.hash, true);
      return { ok: true, have: true };
    }
    if (m.probe) return { ok: true, have: false };
    if (m.commit) {
      const p = this.partial.get(m.hash);
      return { ok: true, have: false, missing: p ? p.value.missing(m.chunks) : Array.from({ length: m.chunks }, (_, i) => i) };
    }
    if (!m.bytes || m.index < 0 || m.index >= m.chunks || m.chunks > 1 + m.size) return refusal(Errors.BadChunk(m.index, m.chunks, m.hash, "is malformed"));
    let p = this.partial.get(m.hash);
    if (p && (p.value.chunks !== m.chunks || p.value.size !== m.size)) {
      // Disagrees with the earlier chunks: one of the two senders is wrong (a forgery, or a stale
      // attempt). Start over with this one; the honest sender's commit finds what is missing.
      this.partial.delete(m.hash);
      this.corrupted++;
      this.onCorrupt(m.hash, "a chunk disagrees with earlier ones on the value's size");
      p = undefined;
    }
    if (!p) this.partial.set(m.hash, (p = { value: new ChunkedValue(m.size, m.chunks), owners: new Set(), at: 0 }));
    p.at = Date.now();
    p.owners.add(m.client);
    if (p.value.place(m.index, m.bytes) === "bad") {
      const fresh = new ChunkedValue(m.size, m.chunks);
      if (p.value.received === 0 || fresh.place(m.index, m.bytes) === "bad") {
        if (p.value.received === 0) this.partial.delete(m.hash);
        return refusal(Errors.BadChunk(m.index, m.chunks, m.hash, `does not fit the value's ${m.size} bytes`));
      }
      // It fits a value of this size, with another chunk length than the earlier chunks: as for a
      // disagreement on the size, start over with it (the honest sender's commit completes it).
      this.corrupted++;
      this.onCorrupt(m.hash, "a chunk disagrees with earlier ones on the chunk length");
      p.value = fresh;
    }
    if (!p.value.complete) return { ok: true, have: false };
    this.partial.delete(m.hash);
    if (!p.value.verify(m.hash)) {
      // Never stored: the sender finds every chunk missing at its commit and sends them again.
      this.corrupted++;
      this.onCorrupt(m.hash, "its bytes do not match its hash");
      return { ok: true, have: false };
    }
    this.complete.set(m.hash, { bytes: p.value.bytes, owners: p.owners });
    this.onComplete(m.hash, !!m.broadcast);
    return { ok: true, have: true };
  }

  /**
   * Stores a whole value read elsewhere (the same-host drop, runtime/same-host.ts), owned by
   * `owner`. The caller checked the bytes against `hash`. As the last chunk of a put would, it
   * completes the value (onComplete).
   */
  adopt(hash: string, bytes: Uint8Array, owner: string, broadcast: boolean): DataPutReply {
    const done = this.complete.get(hash);
    if (done) done.owners.add(owner);
    else {
      // Chunks of it that arrived meanwhile (another sender) are not needed: their owners are kept.
      const owners = new Set([owner, ...(this.partial.get(hash)?.owners ?? [])]);
      this.partial.delete(hash);
      this.complete.set(hash, { bytes, owners });
    }
    this.onComplete(hash, broadcast);
    return { ok: true, have: true };
  }

  /** Whether `client` owns `hash` (itself, or through one of its tagged owners `<client>/<tag>`). */
  ownedBy(hash: string, client: string): boolean {
    const v = this.complete.get(hash);
    if (!v) return false;
    if (v.owners.has(client)) return true;
    for (const o of v.owners) if (o.length > client.length && o.charCodeAt(client.length) === 47 /* / */ && o.startsWith(client)) return true;
    return false;
  }

  get(m: DataGet): DataGetReply {
    const v = this.complete.get(m.hash);
    if (!v) return refusal(Errors.DataNotFound(m.hash));
    const chunks = Math.max(1, Math.ceil(v.bytes.byteLength / this.chunkSize));
    const start = m.index * this.chunkSize;
    return { ok: true, chunks, size: v.bytes.byteLength, bytes: v.bytes.subarray(start, start + this.chunkSize) };
  }

  /** Adds an owner to a complete value (uploads keep their archive this way); false if not held. */
  retain(hash: string, owner: string): boolean {
    const v = this.complete.get(hash);
    if (!v) return false;
    v.owners.add(owner);
    return true;
  }

  has(hash: string): boolean {
    return this.complete.has(hash);
  }

  /** Complete, or some chunks already arrived. */
  knows(hash: string): boolean {
    return this.complete.has(hash) || this.partial.has(hash);
  }

  /** A client no longer needs these; values without owners are dropped. */
  release(client: string, hashes: readonly string[]): void {
    for (const h of hashes) {
      const v = this.complete.get(h) ?? this.partial.get(h);
      if (!v) continue;
      v.owners.delete(client);
      if (v.owners.size === 0) {
        if (this.complete.delete(h)) this.onDropped(h);
        this.partial.delete(h);
      }
    }
  }

  /**
   * Drops values that stopped arriving `idleMs` ago (their sender died mid-upload, e.g. an executor
   * killed while storing a large result): the whole buffer was allocated with the first chunk.
   */
  sweepAbandoned(idleMs: number, now = Date.now()): number {
    let n = 0;
    for (const [hash, p] of this.partial) if (now - p.at > idleMs) (this.partial.delete(hash), n++);
    return n;
  }

  /** Drops everything a client owned (client gone). */
  releaseAll(client: string): void {
    this.release(client, [...this.complete.keys(), ...this.partial.keys()]);
  }
}
