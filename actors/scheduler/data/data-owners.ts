/**
 * Who holds what in the scheduler's data store, on top of its own API (put / release / has):
 * - the cap on one value (`maxValueBytes`): the scheduler's own, lowered by a client's (sent when
 *   it registers); a larger `data.put` is refused with `ValueTooLarge` and the cap;
 * - tagged owners `<clientId>/<tag>` (a large argument or result held for one task of that
 *   client): released one by one as the client is done with them, and all together when the
 *   client goes (closed, or lost its lease), like the client's own scattered values;
 * - the large results held until gathered, counted for `sched.info` / `ts-dask info`.
 */
import { Errors } from "../../../runtime/errors.ts";
import type { DataPut, DataPutReply, DataRelease } from "../../../runtime/protocol.ts";
import type { DataStore } from "./data-store.ts";

/** Default cap on one value: 1 GiB. */
export const DEFAULT_MAX_VALUE_BYTES = 1024 ** 3;

export class DataOwners {
  /** Client id → its cap (from its registration). */
  private readonly caps = new Map<string, number>();
  /** Client id → tagged owner → hashes it holds. */
  private readonly tagged = new Map<string, Map<string, Set<string>>>();
  /** Large results held (hash → bytes). */
  private readonly results = new Map<string, number>();

  constructor(
    private readonly data: DataStore,
    readonly maxValueBytes: number = DEFAULT_MAX_VALUE_BYTES,
  ) {}

  setClientCap(client: string, cap: number | undefined): void {
    if (typeof cap === "number" && cap > 0) this.caps.set(client, cap);
  }

  capFor(owner: string): number {
    const c = this.caps.get(clientOf(owner));
    return c === undefined ? this.maxValueBytes : Math.min(c, this.maxValueBytes);
  }

  /**
   * `data.put`, with the cap checked and tagged owners recorded. With `whole`, the value's bytes
   * read elsewhere and checked against `m.hash` (the same-host drop): stored at once.
   */
  put(m: DataPut, whole?: Uint8Array): DataPutReply {
    const cap = this.capFor(m.client);
    if (m.size > cap) {
      const e = Errors.ValueTooLarge(`Value ${m.hash.slice(0, 12)}…`, m.size, cap);
      return { ok: false, code: e.code, message: e.message, limit: cap };
    }
    const r = whole ? this.data.adopt(m.hash, whole, m.client, !!m.broadcast) : this.data.put(m);
    const slash = m.client.indexOf("/");
    if (slash > 0 && r.ok) {
      const client = m.client.slice(0, slash);
      let owners = this.tagged.get(client);
      if (!owners) this.tagged.set(client, (owners = new Map()));
      let hashes = owners.get(m.client);
      if (!hashes) owners.set(m.client, (hashes = new Set()));
      hashes.add(m.hash);
      if (r.have && m.client.charCodeAt(slash + 1) === 114 /* r */) this.results.set(m.hash, m.size);
    }
    return r;
  }

  /** `data.release`. */
  release(m: DataRelease): void {
    this.data.release(m.client, m.hashes);
    const slash = m.client.indexOf("/");
    if (slash > 0) {
      const owners = this.tagged.get(m.client.slice(0, slash));
      const hashes = owners?.get(m.client);
      if (hashes) {
        for (const h of m.hashes) hashes.delete(h);
        if (hashes.size === 0) owners!.delete(m.client);
        if (owners!.size === 0) this.tagged.delete(m.client.slice(0, slash));
      }
    }
    this.forget(m.hashes);
  }

  /** A client is gone: everything held for its tasks goes too (its own values: DataStore.releaseAll). */
  dropClient(client: string): void {
    this.caps.delete(client);
    const owners = this.tagged.get(client);
    if (!owners) return;
    this.tagged.delete(client);
    for (const [owner, hashes] of owners) {
      this.data.release(owner, [...hashes]);
      this.forget(hashes);
    }
  }

  /** Large results held, and their bytes. */
  resultStats(): { results: number; resultBytes: number } {
    let bytes = 0;
    for (const b of this.results.values()) bytes += b;
    return { results: this.results.size, resultBytes: bytes };
  }

  private forget(hashes: Iterable<string>) {
    for (const h of hashes) if (this.results.has(h) && !this.data.has(h)) this.results.delete(h);
  }
}

function clientOf(owner: string): string {
  const slash = owner.indexOf("/");
  return slash > 0 ? owner.slice(0, slash) : owner;
}
