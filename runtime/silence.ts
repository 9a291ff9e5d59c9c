/**
 * Signs of life that do not wake a lifecycle machine. A machine whose silence timer is restarted
 * by every beat (a re-entry) pays a full xstate macrostep per beat: 0.2–1 ms each, because code
 * run a few times a second is never optimised (measured: worker.machine HEARTBEAT, 690 µs for the
 * first, 240 µs each over 100, 15 µs only after 10,000). Beats come twice a second from every
 * peer, so that was most of an idle cluster's CPU (an embedded client + scheduler + supervisor:
 * ~8 ms/s) and it grows with the number of executors.
 *
 * Instead the machine's owner notes each beat here (a field write), and the machine's silence
 * timer, when it fires, asks: heard within the window → re-arm for the time left; otherwise go
 * silent. One timer per window instead of one re-entry per beat, and silence is still detected
 * exactly one window after the last beat. The machine declares the guard and the delay with
 * defaults that behave as before (never heard, the whole window), so events sent to it directly
 * (its tests, a beat while suspect) work unchanged; the owner provides them from a Silence
 * ({@link silenceImpl}).
 */
import { armed, delay } from "./machine-timers.ts";

export class Silence {
  private at = -Infinity;

  /** `now` in ms on the clock the machine's timers use (performance.now, or a SimulatedClock's). */
  constructor(private readonly now: () => number) {}

  /** A sign of life, now. */
  note(): void {
    this.at = this.now();
  }

  /** Whether a sign of life came within the last `ms`. */
  heardWithin(ms: number): boolean {
    return armed(ms) && this.now() - this.at < ms;
  }

  /** The timer for a window of `ms`: the time left since the last sign, or the whole window when none is in it. */
  left(ms: number): number {
    if (!armed(ms)) return delay(ms);
    const left = this.at + ms - this.now();
    return left > 0 ? left : ms;
  }
}

/**
 * The guard and delay implementations a machine's owner provides (`machine.provide(...)`) for a
 * silence window read from the machine's context by `windowOf`.
 */
export function silenceImpl<C>(silence: Silence, windowOf: (context: C) => number) {
  return {
    heard: ({ context }: { context: C }) => silence.heardWithin(windowOf(context)),
    left: ({ context }: { context: C }) => silence.left(windowOf(context)),
  };
}
