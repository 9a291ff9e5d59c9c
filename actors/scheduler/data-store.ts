/**
 * Scattered values, held by the scheduler as their msgpack bytes: uploaded once in chunks
 * (`data.put`), served in chunks to each executor that needs one (`data.get`), dropped when the
 * last client that scattered it releases it. Held here, not by a worker, so a value survives the
 * death of any worker.
 */
import type { DataGet, DataGetReply, DataPut, DataPutReply } from "../../runtime/protocol.ts";

interface Partial {
  size: number;
  parts: (Uint8Array | undefined)[];
  received: number;
  owners: Set<string>;
}

export class DataStore {
  private readonly complete = new Map<string, { bytes: Uint8Array; owners: Set<string> }>();
  private readonly partial = new Map<string, Partial>();
  /** Called when a value became complete (e.g. to ask executors to prefetch it). */
  onComplete: (hash: string, broadcast: boolean) => void = () => {};

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
    if (!m.bytes || m.index < 0 || m.index >= m.chunks || m.chunks > 1 + m.size) return { ok: false, code: "BadChunk", message: `chunk ${m.index}/${m.chunks} of ${m.hash.slice(0, 12)} is malformed` };
    let p = this.partial.get(m.hash);
    if (!p) this.partial.set(m.hash, (p = { size: m.size, parts: new Array(m.chunks), received: 0, owners: new Set() }));
    p.owners.add(m.client);
    if (!p.parts[m.index]) {
      // Copy: the message buffer may be a view of a larger socket chunk.
      p.parts[m.index] = Uint8Array.prototype.slice.call(m.bytes);
      p.received++;
    }
    if (p.received < p.parts.length) return { ok: true, have: false };
    this.partial.delete(m.hash);
    const bytes = new Uint8Array(p.size);
    let o = 0;
    for (const part of p.parts) {
      bytes.set(part!, o);
      o += part!.byteLength;
    }
    // Sizes are checked; the hash is not recomputed (~2.5 ms/MB): NATS runs over TCP.
    if (o !== p.size) return { ok: false, code: "BadChunk", message: `value ${m.hash.slice(0, 12)} arrived corrupted (${o} of ${p.size} bytes); scatter it again` };
    this.complete.set(m.hash, { bytes, owners: p.owners });
    this.onComplete(m.hash, !!m.broadcast);
    return { ok: true, have: true };
  }

  get(m: DataGet): DataGetReply {
    const v = this.complete.get(m.hash);
    if (!v) return { ok: false, code: "DataNotFound", message: `no scattered value ${m.hash.slice(0, 12)}… (released, or never stored)` };
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

  /** A client no longer needs these; values without owners are dropped. */
  release(client: string, hashes: readonly string[]): void {
    for (const h of hashes) {
      const v = this.complete.get(h) ?? this.partial.get(h);
      if (!v) continue;
      v.owners.delete(client);
      if (v.owners.size === 0) {
        this.complete.delete(h);
        this.partial.delete(h);
      }
    }
  }

  /** Drops everything a client owned (client gone). */
  releaseAll(client: string): void {
    this.release(client, [...this.complete.keys(), ...this.partial.keys()]);
  }
}
