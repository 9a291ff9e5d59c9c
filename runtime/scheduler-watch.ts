/**
 * Which scheduler a client, worker or executor follows, decided calmly (issue 11): an `alive`
 * from another instance while ours still beats is a rival (or a stranger's forgery) and changes
 * nothing; only after ours has been silent for the dead window may a peer move, and only to a
 * scheduler that answers its registration. One move, one re-registration, one re-submission.
 */
export type AliveVerdict = "same" | "rival" | "new";

export class SchedulerWatch {
  /** The instance followed ("" before the first registration). */
  current = "";
  private lastSeen = 0;
  /** `alive` beats heard from other instances while ours was alive (ignored). */
  rivalBeats = 0;

  constructor(
    /** Silence after which our scheduler counts as gone. */
    public deadMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Sets the dead window from the scheduler's announced heartbeat period. */
  heartbeat(ms: number): void {
    if (Number.isFinite(ms) && ms > 0) this.deadMs = Math.max(3000, ms * 6);
  }

  /** An `alive` beat: ours ("same"), another while ours lives ("rival"), or one to move to ("new"). */
  alive(instance: string): AliveVerdict {
    if (instance === this.current) {
      this.lastSeen = this.now();
      return "same";
    }
    if (this.current && !this.silent()) {
      this.rivalBeats++;
      return "rival";
    }
    return "new";
  }

  /** Ours has not been heard for the dead window. */
  silent(): boolean {
    return this.now() - this.lastSeen > this.deadMs;
  }

  /** Whether a registration answer from `instance` may be followed. */
  accepts(instance: unknown): boolean {
    return typeof instance === "string" && (!this.current || instance === this.current || this.silent());
  }

  /** Follows `instance` (after it answered a registration); true when that is a move. */
  adopt(instance: string): boolean {
    const moved = this.current !== "" && this.current !== instance;
    this.current = instance;
    this.lastSeen = this.now();
    return moved;
  }
}
