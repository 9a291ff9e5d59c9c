/** Waiters for a member leaving the table (whenGone, whenWorkerGone), by key. */
export class LeaveWaiters<K> {
  private readonly waiters = new Map<K, Set<(reason: string) => void>>();

  /** `left` resolves with the reason when `key` leaves ({@link fire}); at once when it is not `present`. */
  wait(key: K, present: boolean): { left: Promise<string>; cancel(): void } {
    if (!present) return { left: Promise.resolve("gone"), cancel: () => {} };
    let waiter!: (reason: string) => void;
    const left = new Promise<string>((resolve) => (waiter = resolve));
    let set = this.waiters.get(key);
    if (!set) this.waiters.set(key, (set = new Set()));
    set.add(waiter);
    return {
      left,
      cancel: () => {
        set.delete(waiter);
        if (set.size === 0 && this.waiters.get(key) === set) this.waiters.delete(key);
      },
    };
  }

  fire(key: K, reason: string): void {
    for (const f of this.waiters.get(key) ?? []) f(reason);
    this.waiters.delete(key);
  }
}
