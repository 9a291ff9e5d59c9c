/**
 * The plain loop of bench/brute-force, in a process of its own (as a user would run it: no cluster
 * in the same process): on each message `{ n }`, scores n candidates and answers with the best
 * score and the seconds it took.
 */
import { candidates, makeReference, score } from "../../examples/brute-force/study.ts";

const reference = makeReference();
process.on("message", (m: { n: number }) => {
  const t0 = performance.now();
  let best = -Infinity;
  for (const c of candidates(m.n)) best = Math.max(best, score(c, reference));
  process.send!({ best, seconds: (performance.now() - t0) / 1000 });
});
process.send!({ ready: true });
