/**
 * The scheduler's own stalls, read from how late its beat runs (no timer of its own: the beat
 * runs anyway). While its event loop is blocked (a long synchronous stretch, a full GC of a large
 * heap) it reads no message: the lease renewals clients send meanwhile wait in its socket, so the
 * time it was late must not count against their leases (clients.ts `pause`). Precision: one beat.
 */
export class StallWatch {
  private last = performance.now();
  /** The longest stall seen (ms): how late the beat ran, at most. */
  longest = 0;

  constructor(private readonly periodMs: number) {}

  /** Called at every beat: how late it ran (ms, 0 when on time). */
  beat(): number {
    const now = performance.now();
    const late = Math.max(0, now - this.last - this.periodMs);
    this.last = now;
    if (late > this.longest) this.longest = late;
    return late;
  }

  /** Time blocked on purpose (a GC asked for by `info`) is not a stall. */
  excuse(ms: number): void {
    this.last += ms;
  }
}
