// Preload for CPU profiles of every process of a cluster (NODE_OPTIONS refuses --cpu-prof):
//   NODE_OPTIONS="--import <abs path>/bench/lib-workloads/cpu-profile-hook.mjs"
// Each Node process that loads it profiles itself (node:inspector, 200 µs samples); on SIGUSR2 it
// writes what it has to $CPU_PROFILE_DIR (default /tmp)/prof-<pid>-<argv tail>.cpuprofile and
// starts again (so a first signal after a warm-up drops the warm-up). bench/scatter-phases sends
// the signals with BENCH_PROFILE=1. Open the files in Chrome DevTools or read their top frames.
import inspector from "node:inspector";
import { writeFileSync } from "node:fs";

const s = new inspector.Session();
s.connect();
s.post("Profiler.enable", () => s.post("Profiler.setSamplingInterval", { interval: 200 }, () => s.post("Profiler.start")));
process.on("SIGUSR2", () => {
  s.post("Profiler.stop", (err, r) => {
    if (!err) {
      const tail = process.argv.slice(1).join(" ").replace(/[^a-z0-9]+/gi, "_").slice(-40);
      writeFileSync(`${process.env.CPU_PROFILE_DIR ?? "/tmp"}/prof-${process.pid}-${tail}.cpuprofile`, JSON.stringify(r.profile));
    }
    s.post("Profiler.start");
  });
});
