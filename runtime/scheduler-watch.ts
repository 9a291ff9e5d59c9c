/**
 * Which scheduler a client, worker or executor follows, decided calmly (issue 11): an `alive`
 * from another instance while ours still beats is a rival (or a stranger's forgery) and changes
 * nothing; only after ours has been silent for the dead window may a peer move, and only to a
 * scheduler that answers its registration. One move, one re-registration, one re-submission.
 * The lifecycle is scheduler-watch.machine.ts; this is its owner's handle on it.
 */
import { createActor, type Actor } from "xstate";
import { schedulerWatchMachine } from "./scheduler-watch.machine.ts";
import { Silence, silenceImpl } from "./silence.ts";

export type AliveVerdict = "same" | "rival" | "new";

/** xstate's clock with timers that never keep the process alive (the watch only watches). */
type Clock = { setTimeout(fn: (...args: unknown[]) => void, ms: number): unknown; clearTimeout(id: unknown): void; now(): number };
const unrefClock: Clock = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (id) => clearTimeout(id as NodeJS.Timeout),
  now: () => performance.now(),
};

export class SchedulerWatch {
  private readonly life: Actor<typeof schedulerWatchMachine>;
  /** Ours' beats while following: noted, not sent (runtime/silence.ts). */
  private readonly heard: Silence;

  constructor(
    /** Silence after which our scheduler counts as gone. */
    deadMs: number,
    /** For tests: xstate's SimulatedClock. */
    clock: Clock = unrefClock,
  ) {
    this.heard = new Silence(() => clock.now());
    const { heard, left } = silenceImpl(this.heard, (c: { deadMs: number }) => c.deadMs);
    const machine = schedulerWatchMachine.provide({ guards: { heardLately: heard }, delays: { deadAfter: left } });
    this.life = createActor(machine, { input: { deadMs }, clock });
    this.life.start();
  }

  private get ctx() {
    return this.life.getSnapshot().context;
  }

  /** The instance followed ("" before the first registration). */
  get current(): string {
    return this.ctx.current;
  }

  get deadMs(): number {
    return this.ctx.deadMs;
  }

  /** `alive` beats heard from other instances while ours was alive (ignored). */
  get rivalBeats(): number {
    return this.ctx.rivalBeats;
  }

  /** Sets the dead window from the scheduler's announced heartbeat period. */
  heartbeat(ms: number): void {
    this.heard.note(); // the answer that carried it is a sign of life: the new window starts now
    this.life.send({ type: "HEARTBEAT_MS", ms });
  }

  /** An `alive` beat: ours ("same"), another while ours lives ("rival"), or one to move to ("new"). */
  alive(instance: string): AliveVerdict {
    const s = this.life.getSnapshot();
    const following = s.matches("following");
    if (instance === s.context.current) {
      this.heard.note();
      if (!following) this.life.send({ type: "ALIVE", instance }); // back from silence: the machine must hear it
      return "same";
    }
    this.life.send({ type: "ALIVE", instance });
    return following ? "rival" : "new";
  }

  /** Ours has not been heard for the dead window (or there is none yet). */
  silent(): boolean {
    return !this.life.getSnapshot().matches("following");
  }

  /** Whether a registration answer from `instance` may be followed. */
  accepts(instance: unknown): boolean {
    return typeof instance === "string" && (instance === this.current || this.silent());
  }

  /** Follows `instance` (after it answered a registration); true when that is a move. */
  adopt(instance: string): boolean {
    const moved = this.current !== "" && this.current !== instance;
    this.heard.note(); // it just answered: its window starts now
    this.life.send({ type: "ADOPT", instance });
    return moved;
  }

  /** Stops the machine (its timer). */
  stop(): void {
    this.life.stop();
  }
}
