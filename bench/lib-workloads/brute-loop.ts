/**
 * The plain loop of bench/brute-force, in a process of its own (as a user would run it: no cluster
 * in the same process): on each message `{ n }`, scores n candidates (with `{ part, parts }` only
 * the candidates whose id % parts === part: several such processes are the ideal split) and answers with the best
 * score and the seconds it took.
 */
import { candidates, makeReference, score } from "../../examples/brute-force/study.ts";

const reference = makeReference();
process.on("message", (m: { n: number; part?: number; parts?: number }) => {
  const t0 = performance.now();
  const parts = m.parts ?? 1;
  const part = m.part ?? 0;
  let best = -Infinity;
  for (const c of candidates(m.n)) if (c.id % parts === part) best = Math.max(best, score(c, reference));
  process.send!({ best, seconds: (performance.now() - t0) / 1000 });
});
process.send!({ ready: true });
