/**
 * Finds a client's task by its key without scanning the task table (issue 15, deep queues).
 *
 * A re-submitting client (after a connection loss, a scheduler stall or restart) sends rows the
 * scheduler may hold already; the scheduler must answer "is key K of client C here, in which
 * slot?" for every row. It used to build a key → slot map with a scan of the whole table, cached
 * for a second per client: with 10^7 queued tasks a scan took seconds, was repeated every second
 * by every re-submitting client, and the cache went stale (rows submitted after it was built were
 * added twice; a row that finished in the meantime read as held). A departing client's tasks
 * were found with the same scan (seconds of stall per client at 10^7: long enough to expire
 * every other client's lease).
 *
 * Here each client's chunks (the rows submitted together, tasks.ts) are indexed by key block
 * (`key >>> BLOCK_BITS`): a client's keys are consecutive numbers (job base + row), so a chunk of
 * 10,000 rows sits in about ten blocks and a block names one or two chunks. A chunk knows the slot
 * of each of its rows ({@link IndexedChunk.slots}, 4 bytes per task); whether that slot still
 * holds the row is read from the table's columns (the slot may have finished and been reused).
 */

/** Keys per block: 1,024. */
const BLOCK_BITS = 10;

/** What the index needs of a chunk (tasks.ts Chunk). */
export interface IndexedChunk {
  id: number;
  client: number;
  /** Row → slot, as allocated when the chunk was added. */
  slots: Uint32Array;
  /** The key of row 0 when the rows' keys are consecutive (the usual case), else -1. */
  key0: number;
  /** The rows' keys when not consecutive (a partial re-submission), and their rows by key (built on first lookup). */
  keys?: Uint32Array;
  rowOf?: Map<number, number>;
  /** Key blocks this chunk is listed in. */
  blocks: number[];
}

export class TaskKeys {
  /** Client index → key block → chunks with a key in that block. */
  private readonly byClient = new Map<number, Map<number, IndexedChunk[]>>();
  /** Client index → its indexed chunks. */
  private readonly chunksOf = new Map<number, Set<IndexedChunk>>();

  /** Lists a new chunk under its client and key blocks (sets `key0`, `keys`, `blocks`). */
  add(c: IndexedChunk, keys: Uint32Array): void {
    const n = keys.length;
    let consecutive = true;
    for (let r = 1; r < n && consecutive; r++) consecutive = keys[r] === keys[0]! + r;
    const blocks: number[] = [];
    if (n === 0) {
      c.key0 = 0;
    } else if (consecutive) {
      c.key0 = keys[0]!;
      for (let b = keys[0]! >>> BLOCK_BITS, last = keys[n - 1]! >>> BLOCK_BITS; b <= last; b++) blocks.push(b);
    } else {
      c.key0 = -1;
      c.keys = keys.slice();
      const seen = new Set<number>();
      for (let r = 0; r < n; r++) seen.add(keys[r]! >>> BLOCK_BITS);
      blocks.push(...seen);
    }
    c.blocks = blocks;
    let byBlock = this.byClient.get(c.client);
    if (!byBlock) {
      this.byClient.set(c.client, (byBlock = new Map()));
      this.chunksOf.set(c.client, new Set());
    }
    this.chunksOf.get(c.client)!.add(c);
    for (const b of blocks) {
      const list = byBlock.get(b);
      if (list) list.push(c);
      else byBlock.set(b, [c]);
    }
  }

  /** Unlists a chunk (its last row finished). */
  remove(c: IndexedChunk): void {
    const byBlock = this.byClient.get(c.client);
    if (!byBlock) return;
    for (const b of c.blocks) {
      const list = byBlock.get(b);
      if (!list) continue;
      const i = list.lastIndexOf(c);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) byBlock.delete(b);
    }
    const set = this.chunksOf.get(c.client)!;
    set.delete(c);
    if (set.size === 0) {
      this.chunksOf.delete(c.client);
      this.byClient.delete(c.client);
    }
  }

  /**
   * Candidate (chunk, row) pairs for (client, key), newest chunk first: `held(chunk, row)` says
   * whether the row's slot still holds it. Returns the first held slot, or -1.
   */
  find(client: number, key: number, held: (c: IndexedChunk, row: number) => boolean): number {
    const list = this.byClient.get(client)?.get(key >>> BLOCK_BITS);
    if (!list) return -1;
    for (let i = list.length - 1; i >= 0; i--) {
      const c = list[i]!;
      let row: number | undefined;
      if (c.key0 >= 0) row = key - c.key0;
      else {
        if (!c.rowOf) {
          c.rowOf = new Map();
          for (let r = 0; r < c.keys!.length; r++) c.rowOf.set(c.keys![r]!, r);
        }
        row = c.rowOf.get(key);
      }
      if (row === undefined || row < 0 || row >= c.slots.length) continue;
      if (held(c, row)) return c.slots[row]!;
    }
    return -1;
  }

  /** The client's chunks still in the table. */
  of(client: number): Iterable<IndexedChunk> {
    return this.chunksOf.get(client) ?? [];
  }

  /** Clients with chunks listed (info: returns to 0 when every client left). */
  get clients(): number {
    return this.chunksOf.size;
  }
}
