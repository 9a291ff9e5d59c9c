/**
 * Periodic work of the actors in one process, on shared timers: actors that beat at the same
 * period (the scheduler's `alive`, a supervisor's heartbeat, both in `ts-dask up` and in an
 * embedded cluster) wake the process once per period instead of once each, and their messages
 * leave together, so nats-server and each receiver wake once for them too. On the 2-vCPU VM this
 * project is measured on, a wake-up costs ~150 µs of CPU before any work is done (a Node process
 * whose only work is a no-op 67 ms interval: 2.3 ms of CPU per second), and while tasks run every
 * such millisecond is taken from them.
 */

interface Clock {
  timer: NodeJS.Timeout;
  beats: Set<() => void>;
}

const clocks = new Map<number, Clock>();

/**
 * Calls `beat` every `periodMs`, in the same timer callback as every other beat of this period in
 * this process. Returns the function that stops it. The timer does not keep the process alive.
 */
export function everyBeat(periodMs: number, beat: () => void): () => void {
  let clock = clocks.get(periodMs);
  if (!clock) {
    const beats = new Set<() => void>();
    const timer = setInterval(() => {
      for (const b of beats) b();
    }, periodMs);
    timer.unref();
    clocks.set(periodMs, (clock = { timer, beats }));
  }
  const c = clock;
  c.beats.add(beat);
  return () => {
    if (!c.beats.delete(beat) || c.beats.size) return;
    clearInterval(c.timer);
    if (clocks.get(periodMs) === c) clocks.delete(periodMs);
  };
}
