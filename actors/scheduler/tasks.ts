/**
 * The scheduler's task table: plain typed-array columns indexed by slot, plus FIFO rings of queued
 * slots, one per lane (a client at one priority). Queued work is shared fairly (issue 15): lanes of
 * the highest priority with work take turns, one dispatch batch each ({@link TaskTable.rotate}), so
 * a client that submits five tasks behind another's 20,000 waits for one batch, not for the queue. 10^6 queued tasks cost ~20 bytes each here plus their arguments, which stay in the
 * columns of the {@link Chunk} they were submitted in (never one object per task).
 *
 * A slot's life: free → QUEUED → ASSIGNED (to one executor) → free when done;
 * QUEUED → CANCELLED → free when the ring reaches it; ASSIGNED → QUEUED again when its executor dies.
 */

import { binBytes, binOf, decode, type Encoded } from "../../runtime/codec.ts";
import { TaskKeys, type IndexedChunk } from "./task-keys.ts";
import { rowStart } from "./row-bytes.ts";

export const FREE = 0;
export const QUEUED = 1;
export const ASSIGNED = 2;
export const CANCELLED = 3;

/** flags bit: re-queued after a death nobody could pin on one task. */
export const CAREFUL = 1;
/** flags bit: the task needs resources (its chunk's `needs`): it waits in a need lane, not a ring of `top`. */
export const NEEDS = 2;

/**
 * Rows submitted together: one function and its rows' arguments as the client encoded them (keys
 * live in the table; the chunk's row → slot map lets a client's keys be found, task-keys.ts). The
 * scheduler never decodes the arguments: batches.ts copies each row's bytes into the batch that
 * sends it (only {@link TaskTable.argsOf} decodes, on demand).
 */
export interface Chunk extends IndexedChunk {
  fn: string;
  /** Each row's arguments, one msgpack array per row, one after another (SubmitGroup.rows). */
  rows: Uint8Array;
  /** Where each row's bytes end in `rows`. */
  ends: Uint32Array;
  /** The arguments shared by every row, one msgpack array (SubmitGroup.consts), as the `bin` every batch of the chunk carries (codec.ts binOf). */
  consts: Encoded | undefined;
  /** Per-task timeout in ms (0: none). */
  timeout: number;
  /** The queue it waits in (client and priority). */
  lane: Lane;
  /** Resources each row holds while assigned (worker resources); its rows wait in a need lane. */
  needs: Record<string, number> | undefined;
  /** Rows not finished yet; the chunk (and its arguments) is dropped at 0. */
  remaining: number;
}

/** A FIFO ring of queued slots: one client's at one priority. */
export class Lane {
  ring = new Uint32Array(64);
  head = 0;
  len = 0;
  constructor(
    readonly key: string,
    readonly client: number,
    readonly priority: number,
    /** A need lane (resources.ts places its slots, not {@link TaskTable.pop}). */
    readonly needs?: Record<string, number>,
  ) {}

  push(s: number): void {
    if (this.len === this.ring.length) this.grow();
    this.ring[(this.head + this.len) & (this.ring.length - 1)] = s;
    this.len++;
  }

  pushFront(s: number): void {
    if (this.len === this.ring.length) this.grow();
    this.head = (this.head - 1) & (this.ring.length - 1);
    this.ring[this.head] = s;
    this.len++;
  }

  private grow(): void {
    const old = this.ring;
    const next = new Uint32Array(old.length * 2);
    for (let i = 0; i < this.len; i++) next[i] = old[(this.head + i) & (old.length - 1)]!;
    this.ring = next;
    this.head = 0;
  }
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
  /**
   * Which assignment the slot's current one is (a counter over the table): a reconciliation judges
   * only the assignments it asked about, not the same task handed to the same executor again since.
   */
  assignment = new Uint32Array(1024);
  private assignments = 0;
  /** Deaths of an executor while this task was running on it (allowed-failures). */
  attempts = new Uint8Array(1024);
  /** Bit {@link CAREFUL}: run with start/end markers (see TaskGroup.careful). */
  flags = new Uint8Array(1024);
  readonly chunks = new Map<number, Chunk>();
  /** Client index → slots not free (queued, assigned, or cancelled and not reached yet): a dropped
   * client's index is reused only at 0. */
  live = new Uint32Array(64);

  /** Each client's chunks by key (re-submissions and departures find a client's tasks without a scan). */
  private readonly keys_ = new TaskKeys();

  private free = new Uint32Array(1024);
  private freeTop = 0;
  private used = 0; // high-water mark of slots ever handed out
  private nextChunk = 1;

  /** Lanes with entries (queued, or cancelled not reached yet), by key `${priority}:${client}`. */
  private readonly lanes = new Map<string, Lane>();
  /** The lanes of the highest priority that has any, in turn order; `cur` is the one taking now. */
  private top: Lane[] = [];
  private turn = 0;
  private len = 0;

  /**
   * Lanes of tasks that need resources, by key `${priority}:${client}:${needs}`: placed by
   * resources.ts on executors that have them free, never popped for any executor.
   */
  readonly needLanes = new Map<string, Lane>();
  /** Of {@link queued}, the tasks waiting in need lanes. */
  needing = 0;
  /** Need-lane entries cancelled and not swept yet. */
  private needCancelled = 0;

  /** Queued tasks any executor may take (not waiting for resources). */
  get ready(): number {
    return this.queued - this.needing;
  }

  /** Counters for info and metrics. */
  queued = 0;
  assigned = 0;
  done = 0;

  get capacity(): number {
    return this.state.length;
  }

  /** Lanes holding entries (for info: one per client and priority with queued work). */
  get laneCount(): number {
    return this.lanes.size;
  }

  /** Adds the rows of one submitted group; returns their slots. Higher `priority` runs first (Dask's). */
  add(client: number, fn: string, keys: Uint32Array, rows: Uint8Array, ends: Uint32Array, consts: Uint8Array | undefined, timeout = 0, priority = 0, needs?: Record<string, number>): Uint32Array {
    const n = keys.length;
    const lane = needs ? this.needLaneFor(client, priority, needs) : this.laneFor(client, priority);
    const slots = new Uint32Array(n);
    const shared = consts ? binOf(consts.byteLength, (out, at) => out.set(consts, at)) : undefined;
    const c: Chunk = { id: this.nextChunk++, client, fn, rows, ends, consts: shared, timeout, remaining: n, lane, slots, key0: 0, blocks: [], needs };
    const flags = needs ? NEEDS : 0;
    this.chunks.set(c.id, c);
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
      this.flags[s] = flags;
      slots[r] = s;
      lane.push(s);
    }
    if (needs) this.needing += n;
    else this.len += n;
    this.queued += n;
    this.keys_.add(c, keys);
    return slots;
  }

  private needLaneFor(client: number, priority: number, needs: Record<string, number>): Lane {
    const key = `${priority}:${client}:${needsKey(needs)}`;
    let lane = this.needLanes.get(key);
    if (!lane) this.needLanes.set(key, (lane = new Lane(key, client, priority, needs)));
    return lane;
  }

  /** Takes the next QUEUED slot of a need lane (cancelled ones at its head are freed); -1 when empty (the lane leaves). */
  popNeed(lane: Lane): number {
    while (lane.len > 0) {
      const s = lane.ring[lane.head]!;
      lane.head = (lane.head + 1) & (lane.ring.length - 1);
      lane.len--;
      const st = this.state[s];
      if (st === QUEUED) {
        this.needing--;
        return s;
      }
      if (st === CANCELLED) this.needCancelled--, this.release(s);
    }
    this.needLanes.delete(lane.key);
    return -1;
  }

  /** Frees cancelled entries of need lanes (a task no executor could take would hold its client's index forever). */
  private sweepNeedLanes(): void {
    for (const lane of this.needLanes.values()) {
      const keep: number[] = [];
      for (let i = 0; i < lane.len; i++) {
        const s = lane.ring[(lane.head + i) & (lane.ring.length - 1)]!;
        if (this.state[s] === QUEUED) keep.push(s);
        else if (this.state[s] === CANCELLED) this.release(s);
      }
      lane.head = 0;
      lane.len = 0;
      for (const s of keep) lane.push(s);
      if (lane.len === 0) this.needLanes.delete(lane.key);
    }
    this.needCancelled = 0;
  }

  private laneFor(client: number, priority: number): Lane {
    const key = `${priority}:${client}`;
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = new Lane(key, client, priority);
      this.lanes.set(key, lane);
      const p = this.top[0]?.priority;
      if (p === undefined || priority === p) this.top.push(lane);
      else if (priority > p) ((this.top = [lane]), (this.turn = 0));
    }
    return lane;
  }

  /** The lane whose turn it is (undefined: nothing queued). */
  private current(): Lane | undefined {
    if (this.top.length === 0) return undefined;
    if (this.turn >= this.top.length) this.turn = 0;
    return this.top[this.turn];
  }

  /** The next lane takes its turn (called once per dispatch batch: fair shares, batch by batch). */
  rotate(): void {
    if (this.top.length > 1) this.turn = (this.turn + 1) % this.top.length;
  }

  /** An empty lane leaves; when the top priority has no lane left, the next priority's take over. */
  private retire(lane: Lane): void {
    this.lanes.delete(lane.key);
    const i = this.top.indexOf(lane);
    if (i >= 0) {
      this.top.splice(i, 1);
      if (i < this.turn) this.turn--;
    }
    if (this.top.length === 0 && this.lanes.size > 0) {
      let p = -Infinity;
      for (const l of this.lanes.values()) if (l.priority > p) p = l.priority;
      for (const l of this.lanes.values()) if (l.priority === p) this.top.push(l);
      this.turn = 0;
    }
  }

  /** The next QUEUED slot without taking it (cancelled ones at the head are freed); -1 when empty. */
  peek(): number {
    for (;;) {
      const lane = this.current();
      if (!lane) return -1;
      while (lane.len > 0) {
        const s = lane.ring[lane.head]!;
        const st = this.state[s];
        if (st === QUEUED) return s;
        lane.head = (lane.head + 1) & (lane.ring.length - 1);
        lane.len--;
        this.len--;
        if (st === CANCELLED) this.release(s);
      }
      this.retire(lane);
    }
  }

  /** Takes the next QUEUED slot off the queues; -1 when empty. */
  pop(): number {
    const s = this.peek();
    if (s >= 0) {
      const lane = this.top[this.turn]!;
      lane.head = (lane.head + 1) & (lane.ring.length - 1);
      lane.len--;
      this.len--;
    }
    return s;
  }

  /** Puts slots back at the front of their lanes (tasks of a dead executor go first there). */
  requeueFront(slots: ArrayLike<number>): void {
    for (let i = slots.length - 1; i >= 0; i--) {
      const s = slots[i]!;
      if (this.state[s] === ASSIGNED) this.assigned--;
      this.state[s] = QUEUED;
      this.exec[s] = 0;
      this.queued++;
      const c = this.chunks.get(this.chunk[s]!)!;
      if (c.needs) {
        let lane = this.needLanes.get(c.lane.key);
        if (!lane) ((lane = this.needLaneFor(c.client, c.lane.priority, c.needs)), (c.lane = lane));
        lane.pushFront(s);
        this.needing++;
        continue;
      }
      // Its lane may have emptied and left meanwhile: the chunk's lane comes back.
      let lane = this.lanes.get(c.lane.key);
      if (!lane) ((lane = this.laneFor(c.client, c.lane.priority)), (c.lane = lane));
      lane.pushFront(s);
      this.len++;
    }
  }

  assign(s: number, execIndex: number): void {
    this.state[s] = ASSIGNED;
    this.exec[s] = execIndex + 1;
    this.assignment[s] = this.assignments = (this.assignments + 1) >>> 0;
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
      if (this.flags[s]! & NEEDS) this.needing--, this.needCancelled++;
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
      if (this.flags[s]! & NEEDS) this.needing--, this.needCancelled++;
    }
    return st;
  }

  /** The slot holding the client's task `key`, queued or assigned; -1 if none (no scan: task-keys.ts). */
  find(client: number, key: number): number {
    return this.keys_.find(client, key, this.holds);
  }

  private readonly holds = (c: IndexedChunk, r: number): boolean => {
    const s = c.slots[r]!;
    const st = this.state[s];
    return this.chunk[s] === c.id && this.row[s] === r && (st === QUEUED || st === ASSIGNED);
  };

  /**
   * A client is gone: its queued tasks leave the table now, with its lanes (they hold nothing
   * else), and its assigned ones are returned (their executors are told to cancel them; each
   * frees when its completion arrives). O(the client's tasks), not O(table): a departing client
   * with 2.5 × 10^6 queued tasks among 10^7 used to stall the scheduler for seconds.
   */
  dropClient(client: number): { queued: number; assigned: number[] } {
    let queued = 0;
    const assigned: number[] = [];
    for (const c of this.keys_.of(client)) {
      for (let r = 0; r < c.slots.length; r++) {
        const s = c.slots[r]!;
        if (this.chunk[s] !== c.id || this.row[s] !== r) continue;
        const st = this.state[s];
        if (st === ASSIGNED) assigned.push(s);
        else if (st === QUEUED) {
          this.state[s] = CANCELLED;
          this.queued--;
          queued++;
          if (this.flags[s]! & NEEDS) this.needing--, this.needCancelled++;
        }
      }
    }
    for (const lane of [...this.lanes.values()]) if (lane.client === client) this.dropLane(lane, false);
    for (const lane of [...this.needLanes.values()]) if (lane.client === client) this.dropLane(lane, true);
    return { queued, assigned };
  }

  /** Frees a lane's cancelled entries (all of them: its client is gone) and retires it. */
  private dropLane(lane: Lane, need: boolean): void {
    for (let i = 0; i < lane.len; i++) {
      const s = lane.ring[(lane.head + i) & (lane.ring.length - 1)]!;
      if (this.state[s] !== CANCELLED) continue;
      if (need) this.needCancelled--;
      this.release(s);
    }
    if (need) this.needLanes.delete(lane.key);
    else {
      this.len -= lane.len;
      this.retire(lane);
    }
    lane.len = 0;
  }

  /** Clients with tasks in the key index (info: back to the baseline when clients leave). */
  get indexedClients(): number {
    return this.keys_.clients;
  }

  /** Every slot assigned to an executor, e.g. to re-queue them when it dies. */
  assignedTo(execIndex: number): number[] {
    const out: number[] = [];
    const tag = execIndex + 1;
    for (let s = 0; s < this.used; s++) if (this.exec[s] === tag && this.state[s] === ASSIGNED) out.push(s);
    return out;
  }

  /** Arguments of a slot's row (its own, then the chunk's shared ones), decoded on demand: the scheduler itself never needs them. */
  argsOf(s: number): unknown[] {
    const c = this.chunks.get(this.chunk[s]!)!;
    const r = this.row[s]!;
    const args = decode<unknown[]>(c.rows.subarray(rowStart(c.ends, r), c.ends[r]!));
    return c.consts ? args.concat(decode<unknown[]>(binBytes(c.consts))) : args;
  }

  /** Frees a slot just popped off the queue that will not run (its client is gone). */
  discard(s: number): void {
    this.queued--;
    this.release(s);
  }

  /** Frees the cancelled entries still in the queues (none of them will be reached otherwise when nothing is queued). */
  drainCancelled(): void {
    if (this.ready === 0 && this.len > 0) this.peek();
    if (this.needCancelled > 0) this.sweepNeedLanes();
  }

  /** Queue entries per priority (info; O(lanes): cancelled entries not reached yet count too). */
  queuedByPriority(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const m of [this.lanes, this.needLanes]) for (const l of m.values()) if (l.len) out[l.priority] = (out[l.priority] ?? 0) + l.len;
    return out;
  }

  private release(s: number): void {
    this.live[this.client[s]!]!--;
    const c = this.chunks.get(this.chunk[s]!);
    if (c && --c.remaining === 0) {
      this.chunks.delete(c.id);
      this.keys_.remove(c);
    }
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

  private growTable(): void {
    const n = this.state.length * 2;
    this.state = grow(this.state, n);
    this.client = grow(this.client, n);
    this.key = grow(this.key, n);
    this.chunk = grow(this.chunk, n);
    this.row = grow(this.row, n);
    this.exec = grow(this.exec, n);
    this.assignment = grow(this.assignment, n);
    this.attempts = grow(this.attempts, n);
    this.flags = grow(this.flags, n);
  }
}

/** A stable key of a resource need: names sorted, `GPU=1,MEM=8000000000`. */
export function needsKey(needs: Record<string, number>): string {
  return Object.keys(needs)
    .sort()
    .map((k) => `${k}=${needs[k]}`)
    .join(",");
}
