/**
 * The scheduler's task table: plain typed-array columns indexed by slot, plus a FIFO ring of queued
 * slots. 10^6 queued tasks cost ~20 bytes each here plus their arguments, which stay in the
 * columns of the {@link Chunk} they were submitted in (never one object per task).
 *
 * A slot's life: free → QUEUED → ASSIGNED (to one executor) → free when done;
 * QUEUED → CANCELLED → free when the ring reaches it; ASSIGNED → QUEUED again when its executor dies.
 */

export const FREE = 0;
export const QUEUED = 1;
export const ASSIGNED = 2;
export const CANCELLED = 3;

/** flags bit: re-queued after a death nobody could pin on one task. */
export const CAREFUL = 1;

/** Rows submitted together: one function and its argument columns (keys live in the table). */
export interface Chunk {
  id: number;
  client: number;
  fn: string;
  cols: unknown[][];
  consts: unknown[] | undefined;
  /** Per-task timeout in ms (0: none). */
  timeout: number;
  /** Rows not finished yet; the chunk (and its arguments) is dropped at 0. */
  remaining: number;
}

function grow<T extends Uint8Array | Uint16Array | Uint32Array>(a: T, n: number): T {
  const b = new (a.constructor as new (n: number) => T)(n);
  b.set(a);
  return b;
}

export class TaskTable {
  state = new Uint8Array(1024);
  /** Client index (clients.ts); 32 bits: more than 65,536 clients may be connected at once. */
  client = new Uint32Array(1024);
  key = new Uint32Array(1024);
  chunk = new Uint32Array(1024);
  row = new Uint32Array(1024);
  /** Executor index + 1 while ASSIGNED, else 0. */
  exec = new Uint16Array(1024);
  /** Deaths of an executor while this task was running on it (allowed-failures). */
  attempts = new Uint8Array(1024);
  /** Bit {@link CAREFUL}: run with start/end markers (see TaskGroup.careful). */
  flags = new Uint8Array(1024);
  readonly chunks = new Map<number, Chunk>();
  /** Client index → slots not free (queued, assigned, or cancelled and not reached yet): a dropped
   * client's index is reused only at 0. */
  live = new Uint32Array(64);

  private free = new Uint32Array(1024);
  private freeTop = 0;
  private used = 0; // high-water mark of slots ever handed out
  private nextChunk = 1;

  // FIFO ring of queued slots
  private ring = new Uint32Array(1024);
  private head = 0;
  private len = 0;

  /** Counters for info and metrics. */
  queued = 0;
  assigned = 0;
  done = 0;

  get capacity(): number {
    return this.state.length;
  }

  /** Number of entries in the ring (includes cancelled ones not reached yet). */
  get ringLength(): number {
    return this.len;
  }

  /** Adds the rows of one submitted group; returns their slots. */
  add(client: number, fn: string, keys: Uint32Array, cols: unknown[][], consts: unknown[] | undefined, timeout = 0): Uint32Array {
    const n = keys.length;
    const c: Chunk = { id: this.nextChunk++, client, fn, cols, consts, timeout, remaining: n };
    this.chunks.set(c.id, c);
    const slots = new Uint32Array(n);
    if (client >= this.live.length) this.live = grow(this.live, Math.max(client + 1, this.live.length * 2));
    this.live[client] += n;
    for (let r = 0; r < n; r++) {
      const s = this.alloc();
      this.state[s] = QUEUED;
      this.client[s] = client;
      this.key[s] = keys[r]!;
      this.chunk[s] = c.id;
      this.row[s] = r;
      this.exec[s] = 0;
      this.attempts[s] = 0;
      this.flags[s] = 0;
      slots[r] = s;
      this.push(s);
    }
    this.queued += n;
    return slots;
  }

  /** The next QUEUED slot without taking it (cancelled ones at the head are freed); -1 when empty. */
  peek(): number {
    while (this.len > 0) {
      const s = this.ring[this.head]!;
      const st = this.state[s];
      if (st === QUEUED) return s;
      this.head = (this.head + 1) & (this.ring.length - 1);
      this.len--;
      if (st === CANCELLED) this.release(s);
    }
    return -1;
  }

  /** Takes the next QUEUED slot off the ring; -1 when empty. */
  pop(): number {
    const s = this.peek();
    if (s >= 0) {
      this.head = (this.head + 1) & (this.ring.length - 1);
      this.len--;
    }
    return s;
  }

  /** Puts slots back at the front of the queue (tasks of a dead executor go first). */
  requeueFront(slots: ArrayLike<number>): void {
    for (let i = slots.length - 1; i >= 0; i--) {
      const s = slots[i]!;
      if (this.state[s] === ASSIGNED) this.assigned--;
      this.state[s] = QUEUED;
      this.exec[s] = 0;
      this.queued++;
      if (this.len === this.ring.length) this.growRing();
      this.head = (this.head - 1) & (this.ring.length - 1);
      this.ring[this.head] = s;
      this.len++;
    }
  }

  assign(s: number, execIndex: number): void {
    this.state[s] = ASSIGNED;
    this.exec[s] = execIndex + 1;
    this.queued--;
    this.assigned++;
  }

  /** Marks an ASSIGNED slot finished; returns false for a duplicate or stale completion. */
  finish(s: number, execIndex: number): boolean {
    if (s >= this.used || this.state[s] !== ASSIGNED || this.exec[s] !== execIndex + 1) return false;
    this.assigned--;
    this.done++;
    this.release(s);
    return true;
  }

  /** Frees an ASSIGNED or QUEUED slot that ends without a completion (failed by the scheduler). */
  drop(s: number): void {
    const st = this.state[s];
    if (st === ASSIGNED) this.assigned--;
    else if (st === QUEUED) {
      this.queued--;
      this.state[s] = CANCELLED; // the ring frees it when reached
      return;
    } else return;
    this.release(s);
  }

  /** Cancels a slot if it still belongs to (client, key); returns its state before, or FREE. */
  cancel(s: number, client: number, key: number): number {
    if (s >= this.used || this.client[s] !== client || this.key[s] !== key) return FREE;
    const st = this.state[s]!;
    if (st === QUEUED) {
      this.state[s] = CANCELLED;
      this.queued--;
    }
    return st;
  }

  /** Slots a client has queued or assigned, by key (a resync needs it; O(table)). */
  heldBy(client: number): Map<number, number> {
    const out = new Map<number, number>();
    for (let s = 0; s < this.used; s++) {
      const st = this.state[s];
      if ((st === QUEUED || st === ASSIGNED) && this.client[s] === client) out.set(this.key[s]!, s);
    }
    return out;
  }

  /** Every slot assigned to an executor, e.g. to re-queue them when it dies. */
  assignedTo(execIndex: number): number[] {
    const out: number[] = [];
    const tag = execIndex + 1;
    for (let s = 0; s < this.used; s++) if (this.exec[s] === tag && this.state[s] === ASSIGNED) out.push(s);
    return out;
  }

  /** Arguments of a slot's row: its column values then the chunk's constants. */
  argsOf(s: number): unknown[] {
    const c = this.chunks.get(this.chunk[s]!)!;
    const r = this.row[s]!;
    const args = c.cols.map((col) => col[r]);
    return c.consts ? args.concat(c.consts) : args;
  }

  /** Frees a slot just popped off the queue that will not run (its client is gone). */
  discard(s: number): void {
    this.queued--;
    this.release(s);
  }

  /** Frees the cancelled entries still in the queue (none of them will be reached otherwise when nothing is queued). */
  drainCancelled(): void {
    if (this.queued === 0 && this.len > 0) this.peek();
  }

  private release(s: number): void {
    this.live[this.client[s]!]!--;
    const c = this.chunks.get(this.chunk[s]!);
    if (c && --c.remaining === 0) this.chunks.delete(c.id);
    this.state[s] = FREE;
    this.exec[s] = 0;
    if (this.freeTop === this.free.length) this.free = grow(this.free, this.free.length * 2);
    this.free[this.freeTop++] = s;
  }

  private alloc(): number {
    if (this.freeTop > 0) return this.free[--this.freeTop]!;
    if (this.used === this.state.length) this.growTable();
    return this.used++;
  }

  private push(s: number): void {
    if (this.len === this.ring.length) this.growRing();
    this.ring[(this.head + this.len) & (this.ring.length - 1)] = s;
    this.len++;
  }

  private growTable(): void {
    const n = this.state.length * 2;
    this.state = grow(this.state, n);
    this.client = grow(this.client, n);
    this.key = grow(this.key, n);
    this.chunk = grow(this.chunk, n);
    this.row = grow(this.row, n);
    this.exec = grow(this.exec, n);
    this.attempts = grow(this.attempts, n);
    this.flags = grow(this.flags, n);
  }

  private growRing(): void {
    const old = this.ring;
    const next = new Uint32Array(old.length * 2);
    for (let i = 0; i < this.len; i++) next[i] = old[(this.head + i) & (old.length - 1)]!;
    this.ring = next;
    this.head = 0;
  }
}
