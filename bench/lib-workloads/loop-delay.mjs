// Preloaded into the scheduler by bench/deep-queue (`node --import`): prints the longest event-loop
// delay of every second on stdout (`LOOPDELAY <ms>`), so the bench reads the scheduler's stalls
// per phase without changing the scheduler. Bench-only: it keeps a 10 ms timer running.
import { monitorEventLoopDelay } from "node:perf_hooks";

const h = monitorEventLoopDelay({ resolution: 10 });
h.enable();
setInterval(() => {
  process.stdout.write(`LOOPDELAY ${Math.round(h.max / 1e6)}\n`);
  h.reset();
}, 1000).unref();
