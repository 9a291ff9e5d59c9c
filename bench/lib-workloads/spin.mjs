// The task body of bench/task-overhead: `k` rounds of integer arithmetic (a fixed amount of CPU
// work, unlike a wall-clock spin, which burns less CPU when the process is descheduled, so its
// CPU time could not be told apart from the overhead). bench/task-overhead calibrates `k` per
// duration. A plain .mjs default export so piscina's worker threads can load it as it is.
export default function spin(k) {
  let x = 1;
  for (let i = 0; i < k; i++) x = (x * 1103515245 + 12345) >>> 0;
  return x;
}
