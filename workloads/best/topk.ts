/** A bounded top-k of scored items, ties broken by input index (the earlier item wins). */

/** One kept result: the candidate, its score and its position in the input. */
export interface Scored<C> {
  candidate: C;
  score: number;
  index: number;
}

/**
 * Keeps the `k` best of everything offered, in O(log k) per offer. NaN ranks below every number
 * (never chosen over a real score). Equal scores: the lower input index wins, so the answer does
 * not depend on completion order.
 */
export class TopK<C> {
  /** A heap whose root is the worst kept item. */
  private readonly heap: Scored<C>[] = [];

  constructor(
    readonly k: number,
    readonly maximize: boolean,
  ) {}

  /** True when `a` ranks strictly better than `b`. */
  better(a: { score: number; index: number }, b: { score: number; index: number }): boolean {
    const an = Number.isNaN(a.score);
    const bn = Number.isNaN(b.score);
    if (an !== bn) return bn;
    if (!an && a.score !== b.score) return this.maximize ? a.score > b.score : a.score < b.score;
    return a.index < b.index;
  }

  /** Would an item with this score and index be kept? (Without storing it.) */
  admits(score: number, index: number): boolean {
    return this.heap.length < this.k || this.better({ score, index }, this.heap[0]!);
  }

  /** Offers an item; returns true if it was kept. */
  offer(item: Scored<C>): boolean {
    const h = this.heap;
    if (h.length < this.k) {
      h.push(item);
      this.up(h.length - 1);
      return true;
    }
    if (!this.better(item, h[0]!)) return false;
    h[0] = item;
    this.down(0);
    return true;
  }

  /** The kept items, best first. */
  sorted(): Scored<C>[] {
    return [...this.heap].sort((a, b) => (this.better(a, b) ? -1 : this.better(b, a) ? 1 : 0));
  }

  /** How many items are kept (at most k). */
  get size(): number {
    return this.heap.length;
  }

  // Min-heap on "better": the root is the item every other kept item is better than.
  private up(i: number) {
    const h = this.heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.better(h[p]!, h[i]!)) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }

  private down(i: number) {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let w = i;
      if (l < h.length && this.better(h[w]!, h[l]!)) w = l;
      if (r < h.length && this.better(h[w]!, h[r]!)) w = r;
      if (w === i) return;
      [h[w], h[i]] = [h[i]!, h[w]!];
      i = w;
    }
  }
}
