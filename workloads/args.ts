/**
 * Turns the calls of a batch into what travels: their argument lists, with scattered values
 * replaced by references (sent once per worker instead of with every batch).
 *
 * Which arguments are scattered:
 * 1. values listed in `scatter` (matched by identity: an argument `===` a listed value);
 * 2. DataRefs the user made with `client.scatter` (passed through as references);
 * 3. automatically, objects above {@link AUTO_SCATTER_BYTES} (joblib's Dask rule: ~1 kB) that two
 *    or more calls share — reference data; and any object above {@link INLINE_MAX_BYTES}, shared or
 *    not, since it could not travel inside a batch. An argument only one call uses and that is small
 *    enough travels with its batch: scattering it would cost a round trip and store it for nothing.
 */
import type { BatchPayload } from "./run-rows.ts";
import type { Backend } from "./backends/types.ts";
import { estimateSize } from "./size.ts";

/** Objects at least this big (estimated encoded bytes) are scattered when shared by two calls. */
export const AUTO_SCATTER_BYTES = 1000;
/** Objects at least this big are always scattered (a batch message must stay below NATS' max_payload). */
export const INLINE_MAX_BYTES = 256 * 1024;

/** A packed batch: the payload and the scattered values (tokens) its holes refer to. */
export interface Packed {
  payload: BatchPayload;
  refs: unknown[];
  /** Estimated bytes of the payload (for capping batch sizes). */
  bytes: number;
}

/** Options of {@link ArgPacker}. */
export interface ArgPackerOptions {
  /** Values to scatter up front (matched by identity). */
  scatter?: readonly unknown[];
  /** Scatter large shared arguments automatically (default true). */
  autoScatter?: boolean;
}

const isDataRef = (v: object): boolean => v.constructor?.name === "DataRef" && typeof (v as { hash?: unknown }).hash === "string";

/** Packs batches for one backend, remembering what it scattered (once per value, for the whole run). */
export class ArgPacker {
  private readonly tokens = new Map<object, unknown>();
  /** Large objects seen, and how many calls used them. */
  private readonly seen = new WeakMap<object, number>();
  /**
   * Tokens of objects scattered only for their size, used by one call so far (token → the object
   * and the calls packed so far that refer to it: a second one makes it shared):
   * released as soon as that call's batch has run ({@link finished}), not at the end of the run.
   * Without this, a run whose calls each bring a large value of their own held every one of them
   * until it ended, in this process, in the backend and in its workers (bench/batching's warm-up,
   * 400 calls × 10 MB: 2.1 GB in each local child, 6 GB here).
   */
  private readonly single = new Map<unknown, { value: object; uses: number }>();
  private readonly auto: boolean;
  /** Values scattered so far (explicit and automatic). */
  scattered = 0;

  /** Tokens of everything this packer scattered (to release at the end of a run). */
  get allTokens(): unknown[] {
    return [...this.tokens.values()];
  }

  constructor(
    private readonly backend: Backend,
    private readonly opts: ArgPackerOptions = {},
  ) {
    this.auto = opts.autoScatter !== false;
  }

  /** Scatters the explicit `scatter` values. Call once before packing. */
  async start(): Promise<void> {
    for (const v of this.opts.scatter ?? []) {
      if (typeof v !== "object" || v === null || this.tokens.has(v)) continue;
      this.tokens.set(v, await this.backend.scatter(v));
      this.scattered++;
    }
  }

  /** Packs the argument lists of one batch (scattering what must be, see the file comment). */
  async pack(argLists: readonly (readonly unknown[])[]): Promise<Packed> {
    // Count the large objects shared by calls of this batch before deciding (a batch of many calls
    // that share reference data scatters it at once, even on the first batch).
    const big: object[] = [];
    if (this.auto) {
      let promoted = false;
      for (const args of argLists) {
        for (const a of args) {
          if (typeof a !== "object" || a === null || this.tokens.has(a) || isDataRef(a)) continue;
          const n = this.seen.get(a);
          if (n !== undefined) {
            this.seen.set(a, n + 1);
            promoted = true;
          } else if (estimateSize(a, AUTO_SCATTER_BYTES) >= AUTO_SCATTER_BYTES) {
            this.seen.set(a, 1);
            big.push(a);
          }
        }
      }
      for (const a of big) {
        const shared = (this.seen.get(a) ?? 0) >= 2;
        if (shared || estimateSize(a, INLINE_MAX_BYTES) >= INLINE_MAX_BYTES) {
          const token = await this.backend.scatter(a);
          this.tokens.set(a, token);
          if (!shared) this.single.set(token, { value: a, uses: 0 });
          this.scattered++;
        }
      }
      // Large objects seen before (in earlier batches) and now shared: scatter them too.
      if (promoted) for (const args of argLists) {
        for (const a of args) {
          if (typeof a === "object" && a !== null && !this.tokens.has(a) && (this.seen.get(a) ?? 0) >= 2) {
            this.tokens.set(a, await this.backend.scatter(a));
            this.scattered++;
          }
        }
      }
    }
    const rows: unknown[][] = new Array(argLists.length);
    let holes: number[] | undefined;
    const refs: unknown[] = [];
    const refIndex = new Map<unknown, number>();
    let bytes = 16;
    for (let r = 0; r < argLists.length; r++) {
      const args = argLists[r]!;
      let row = args as unknown[];
      for (let c = 0; c < args.length; c++) {
        const a = args[c];
        if (typeof a !== "object" || a === null) {
          bytes += typeof a === "string" ? a.length + 5 : 9;
          continue;
        }
        let token = this.tokens.get(a);
        const one = token === undefined ? undefined : this.single.get(token);
        // Scattered for its size by one call; a second call that uses it makes it shared (kept to the end of the run).
        if (one && ++one.uses > 1) this.single.delete(token);
        if (token === undefined && isDataRef(a)) token = a;
        if (token === undefined) {
          bytes += estimateSize(a, INLINE_MAX_BYTES);
          continue;
        }
        if (row === args) row = args.slice();
        row[c] = null;
        let k = refIndex.get(token);
        if (k === undefined) {
          k = refs.length;
          refs.push(token);
          refIndex.set(token, k);
        }
        (holes ??= []).push(r, c, k);
        bytes += 4;
      }
      rows[r] = row;
    }
    return { payload: holes ? { rows, holes } : { rows }, refs, bytes };
  }

  /**
   * A batch packed with `refs` has run: returns the tokens no other call needs (scattered for their
   * size, used by this batch's one call only), to release now; they are forgotten here, so a later
   * call that brings the same object again scatters it again. Call only for a batch that ran (a
   * cancelled one may still be reading them).
   */
  finished(refs: readonly unknown[]): unknown[] {
    let out: unknown[] | undefined;
    for (const token of refs) {
      const a = this.single.get(token)?.value;
      if (a === undefined) continue;
      this.single.delete(token);
      if ((this.seen.get(a) ?? 0) >= 2) continue; // another call uses it too: kept to the end of the run
      this.tokens.delete(a);
      (out ??= []).push(token);
    }
    return out ?? [];
  }
}
