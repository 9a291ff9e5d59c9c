/**
 * A total over peers that each report their own running count (a client's late replies in its lease
 * renewals, an executor's in its heartbeats): the sum of every increase heard, so it keeps what a
 * peer counted after the peer has gone and its entry was dropped. One entry per live peer
 * (forget it when the peer leaves: the table does not grow with every peer that ever came). A peer
 * that comes back after being forgotten reports its whole count again, which is then added twice:
 * rare (a client whose lease expired), and an overcount of a diagnostic, never a loss.
 */
export class PeerTotals {
  private readonly last = new Map<string, number>();
  /** Every increase heard, from peers present and gone. */
  total = 0;

  /** Peer `id` says its count is `n` now (ignored unless a finite number ≥ 0). */
  report(id: string, n: unknown): void {
    if (typeof n !== "number" || !Number.isFinite(n) || n < 0) return;
    const prev = this.last.get(id);
    if (prev === undefined && n === 0) return; // nothing to keep for a peer with nothing to say
    if (n > (prev ?? 0)) this.total += n - (prev ?? 0);
    this.last.set(id, n);
  }

  /** Peer `id` left: its entry goes, its increases stay in {@link total}. */
  forget(id: string): void {
    this.last.delete(id);
  }

  /** Entries held (for `info.retained`). */
  get size(): number {
    return this.last.size;
  }
}
