/**
 * A reference to a value stored once in the cluster (`client.scatter`). It travels in place of the
 * value (a msgpack extension, a few dozen bytes) and executors swap it for the value, fetched once
 * per executor process and cached.
 */
export class DataRef<T = unknown> {
  /** @internal phantom field: keeps `T` in the type. */
  declare readonly __type?: T;
  constructor(
    /** SHA-256 of the value's msgpack encoding. */
    readonly hash: string,
    /** Encoded size in bytes. */
    readonly size: number,
    /**
     * Held for one task or one map (a large argument or result), not scattered: executors keep it
     * only within a memory budget, least recently used first out.
     */
    readonly temp = false,
  ) {}

  toString(): string {
    return `DataRef(${this.hash.slice(0, 12)}…, ${this.size} bytes)`;
  }
}

/** Counts DataRefs decoded by this process (cheap "did that message carry any?" check). */
export const refStats = { decoded: 0 };
