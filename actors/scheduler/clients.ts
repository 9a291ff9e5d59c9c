/**
 * The scheduler's clients: a small index per client id (the task table stores the index, not the
 * id) and each client's lease. A client re-registers every second; one silent for longer than the
 * grace period loses its queued tasks and data (the scheduler drops it), and a client back after
 * that is told it is `fresh`, so it re-submits what it still waits for.
 */
export class ClientTable {
  /** Client index → id (indices are never reused). */
  readonly ids: string[] = [];
  private readonly byId = new Map<string, number>();
  /** Client id → last time it renewed its lease. */
  private readonly leases = new Map<string, number>();
  /** Client id → the NATS node it said it is on (protocol.ts NatsNode), while it holds a lease. */
  private readonly nodes = new Map<string, string>();
  /** Clients closed or expired here (the newest few thousand), until they register again. */
  private readonly dropped = new Set<string>();

  constructor(private readonly graceMs: number) {}

  /** The client's index, created on first sight. */
  indexOf(id: string): number {
    let i = this.byId.get(id);
    if (i === undefined) {
      i = this.ids.length;
      this.ids.push(id);
      this.byId.set(id, i);
    }
    return i;
  }

  /** The client's index if it ever submitted or registered. */
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

  /** Clients silent for longer than the grace period. */
  expired(now = Date.now()): string[] {
    const out: string[] = [];
    for (const [id, seen] of this.leases) if (now - seen > this.graceMs) out.push(id);
    return out;
  }

  /** Ends the client's lease (closed, or expired). */
  endLease(id: string): void {
    this.leases.delete(id);
    this.nodes.delete(id);
    this.dropped.add(id);
    if (this.dropped.size > 4096) this.dropped.delete(this.dropped.values().next().value!);
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
}
