/**
 * The scheduler's clients: a small index per client id (the task table stores the index, not the
 * id) and each client's lease. A client re-registers every second (every quarter of the grace
 * period if that is longer, at most every 15 s); one silent for longer than the grace period loses
 * its queued tasks and data (the scheduler drops it), and a client back after that is told it is
 * `fresh`, so it re-submits what it still waits for.
 *
 * Indexes are reused (issue 15: a scheduler that stays up sees 10^5 clients over weeks): a dropped
 * client's index is freed once no slot of the task table refers to it any more (its tasks were
 * cancelled and have left the table), so an index never names two clients while a task could
 * still be read as the other's. A client that comes back after being dropped gets a new index.
 */
export class ClientTable {
  /** Client index → id (undefined: free). */
  readonly ids: (string | undefined)[] = [];
  private readonly byId = new Map<string, number>();
  /** Free indexes, reused first. */
  private readonly free: number[] = [];
  /** Indexes of dropped clients whose slots have not all left the task table yet. */
  readonly draining = new Set<number>();
  /** Client id → last time it renewed its lease. */
  private readonly leases = new Map<string, number>();
  /** Client id → the NATS node it said it is on (protocol.ts NatsNode), while it holds a lease. */
  private readonly nodes = new Map<string, string>();
  /** Clients closed or expired here (the newest few thousand), until they register again. */
  private readonly dropped = new Set<string>();
  /** Indexes ever handed out (for info: reuse keeps `ids.length` at the peak of concurrent clients). */
  registrations = 0;

  constructor(readonly graceMs: number) {}

  /** The client's index, created on first sight (a free one if any). */
  indexOf(id: string): number {
    let i = this.byId.get(id);
    if (i === undefined) {
      i = this.free.length ? this.free.pop()! : this.ids.length;
      this.ids[i] = id;
      this.byId.set(id, i);
      this.registrations++;
    }
    return i;
  }

  /** The client's index if it registered and was not dropped since. */
  known(id: string): number | undefined {
    return this.byId.get(id);
  }

  /** Renews the lease; true when the client had none (new, or dropped after its grace period). */
  renew(id: string, now = Date.now(), nats?: string): boolean {
    const fresh = !this.leases.has(id);
    this.leases.set(id, now);
    if (nats) this.nodes.set(id, nats);
    this.dropped.delete(id);
    return fresh;
  }

  /**
   * A message from a leased client (a submit) is as good as its renewal: a scheduler working
   * through a backlog of submits (10^7 tasks from 4 clients on a busy machine) read the renewals
   * queued behind them late and dropped clients that were sending all along.
   */
  touch(id: string, now = Date.now()): void {
    if (this.leases.has(id)) this.leases.set(id, now);
  }

  /**
   * The scheduler itself was stalled for `ms` (stalls.ts): it could not read the renewals sent
   * meanwhile, so that time does not count against any lease.
   */
  pause(ms: number): void {
    for (const [id, seen] of this.leases) this.leases.set(id, seen + ms);
  }

  /** Clients silent for longer than the grace period. */
  expired(now = Date.now()): string[] {
    const out: string[] = [];
    for (const [id, seen] of this.leases) if (now - seen > this.graceMs) out.push(id);
    return out;
  }

  /**
   * Ends the client's lease (closed, or expired) and forgets its id → index: its index is
   * draining until {@link sweep} finds no slot left that names it. Returns the index, if any.
   */
  endLease(id: string): number | undefined {
    this.leases.delete(id);
    this.nodes.delete(id);
    this.dropped.add(id);
    if (this.dropped.size > 4096) this.dropped.delete(this.dropped.values().next().value!);
    const i = this.byId.get(id);
    if (i !== undefined) {
      this.byId.delete(id);
      this.draining.add(i);
    }
    return i;
  }

  /** Frees the draining indexes whose live slot count is 0; returns them (their other state goes too). */
  sweep(live: ArrayLike<number>): number[] {
    const freed: number[] = [];
    for (const i of this.draining) {
      if ((live[i] ?? 0) > 0) continue;
      this.draining.delete(i);
      this.ids[i] = undefined;
      this.free.push(i);
      freed.push(i);
    }
    return freed;
  }

  /** Whether a client index belongs to a dropped client whose tasks are still leaving the table. */
  isGone(i: number): boolean {
    return this.draining.size > 0 && this.draining.has(i);
  }

  /**
   * Whether this scheduler dropped the client (closed, or lease expired) and has not seen it
   * since. A restarted scheduler knows no one as dropped: its clients are about to re-register.
   */
  wasDropped(id: string): boolean {
    return this.dropped.has(id);
  }

  /** Clients holding a lease, by NATS node ("?" for a client that did not say). */
  byNode(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const id of this.leases.keys()) {
      const n = this.nodes.get(id) ?? "?";
      out[n] = (out[n] ?? 0) + 1;
    }
    return out;
  }

  /** Clients holding a lease. */
  get leased(): number {
    return this.leases.size;
  }

  /** Per-client state held, for info (tests assert it returns to the baseline after clients leave). */
  counts(): { indexes: number; draining: number; free: number; leases: number } {
    return { indexes: this.byId.size, draining: this.draining.size, free: this.free.length, leases: this.leases.size };
  }
}
