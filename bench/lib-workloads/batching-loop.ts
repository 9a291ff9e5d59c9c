/**
 * bench/batching's plain loop, or half of it, in a process of its own: on each message `{ n, part, parts, salt }`,
 * makes a fresh reference (as the plain loop does) and runs myProc over the candidates c with
 * c % parts === part, then answers with the sum and the seconds it took. Two such processes at once
 * are the ceiling of any two-process split on this machine at this moment.
 */
import { makeRef, myProc } from "./work.ts";

process.on("message", (m: { n: number; part: number; parts: number; salt: number }) => {
  const t0 = performance.now();
  const ref = makeRef(m.salt);
  let s = 0;
  for (let c = m.part; c < m.n; c += m.parts) s += myProc(c, ref);
  process.send!({ sum: s, seconds: (performance.now() - t0) / 1000 });
});
process.send!({ ready: true });
