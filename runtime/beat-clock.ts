/**
 * Periodic work of the actors in one process, on shared timers: actors that beat at the same
 * period (the scheduler's `alive`, a supervisor's heartbeat, both in `ts-dask up` and in an
 * embedded cluster) wake the process once per period instead of once each, and their messages
 * leave together, so nats-server and each receiver wake once for them too. On the 2-vCPU VM this
 * project is measured on, a wake-up costs ~150 µs of CPU before any work is done (a Node process
 * whose only work is a no-op 67 ms interval: 2.3 ms of CPU per second), and while tasks run every
 * such millisecond is taken from them.
 *
 * Beats are also aligned on the wall clock's grid: a beat of period P fires when `Date.now()` is a
 * multiple of P. So timers of different periods in one process (the monitor's 250 ms tick, the
 * 500 ms beat, an executor's 2 s figures) share wake-ups whenever their grids meet, and so do the
 * timers of every process on the machine (and, within the clocks' agreement, on the LAN): an
 * executor's lingering results (outbox.ts, {@link msToBeat}) leave at the same instants as the
 * other executor's and as the scheduler's tick, and nats-server and the receivers read them in
 * fewer wake-ups than when every timer ran on a phase of its own.
 */

interface Clock {
  timer: NodeJS.Timeout | undefined;
  beats: Set<() => void>;
}

const clocks = new Map<number, Clock>();

/**
 * Milliseconds from `now` (epoch ms) to the next point of the `periodMs` grid (a multiple of
 * `periodMs`): in (0, periodMs] for a new timer. `afterBeat` (re-arming in a beat's own callback)
 * reckons from the grid point nearest `now` instead, so a callback run a millisecond early (timers
 * may) does not beat twice for one point, and one run late keeps the grid.
 */
export function msToBeat(periodMs: number, now = Date.now(), afterBeat = false): number {
  const slot = afterBeat ? Math.round(now / periodMs) : Math.floor(now / periodMs);
  return (slot + 1) * periodMs - now;
}

/**
 * Calls `beat` every `periodMs` on the wall clock's grid (see above), in the same timer callback as
 * every other beat of this period in this process. Returns the function that stops it. The timer
 * does not keep the process alive.
 */
export function everyBeat(periodMs: number, beat: () => void): () => void {
  let clock = clocks.get(periodMs);
  if (!clock) {
    const c: Clock = { timer: undefined, beats: new Set() };
    const arm = (afterBeat: boolean) => {
      c.timer = setTimeout(() => {
        for (const b of c.beats) b();
        if (clocks.get(periodMs) === c) arm(true);
      }, msToBeat(periodMs, Date.now(), afterBeat));
      c.timer.unref();
    };
    clocks.set(periodMs, (clock = c));
    arm(false);
  }
  const c = clock;
  c.beats.add(beat);
  return () => {
    if (!c.beats.delete(beat) || c.beats.size) return;
    clearTimeout(c.timer);
    if (clocks.get(periodMs) === c) clocks.delete(periodMs);
  };
}
