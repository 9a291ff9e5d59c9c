/**
 * Promises that resolve once a growing count reaches their threshold, or all at once when what they
 * wait for will not come. A broadcast push's flow control waits this way on both ends: the
 * scheduler for the chunks it received (actors/scheduler/data/data-push.ts), an executor for the
 * chunks it placed (actors/executor/data-cache.ts).
 */
export class CountWaiters {
  private waiters: { n: number; done: () => void }[] = [];

  /** Resolves once {@link reached} is told a count of at least `n` (or at {@link releaseAll}). */
  wait(n: number): Promise<void> {
    return new Promise((done) => this.waiters.push({ n, done }));
  }

  /** The count is `count` now: resolves the waiters it satisfies. */
  reached(count: number): void {
    if (!this.waiters.length) return;
    for (const w of this.waiters) if (w.n <= count) w.done();
    this.waiters = this.waiters.filter((w) => w.n > count);
  }

  /** Resolves every waiter. */
  releaseAll(): void {
    for (const w of this.waiters) w.done();
    this.waiters = [];
  }
}
