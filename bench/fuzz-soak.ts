/**
 * bench/fuzz-soak: the fuzz test (test/fuzz.test.ts) for longer, for soak runs: rounds of a
 * hostile peer (test/helpers/fuzzer.ts) attacking a run, each with its own printed seed, until
 * FUZZ_SOAK_MS (default 30 s) is spent. Prints one JSON line per round and a summary; exits 1
 * at the first round that breaks an invariant, naming its seed (replay: FUZZ_SEED=<seed>).
 *   FUZZ_SOAK_MS=600000 FUZZ_ROUND_MS=20000 npx tsx bench/fuzz-soak.ts
 */
import { fuzzRun } from "../test/helpers/fuzzer.ts";

const total = Number(process.env.FUZZ_SOAK_MS ?? 30_000);
const roundMs = Number(process.env.FUZZ_ROUND_MS ?? 10_000);
const tasks = Number(process.env.FUZZ_TASKS ?? 3000);
let seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
const t0 = Date.now();
const rounds: { seed: number; ms: number; forged: number; executions: number }[] = [];
while (Date.now() - t0 < total) {
  const out = await fuzzRun({ seed, durationMs: roundMs, tasks, taskMs: 3 });
  const broken = [
    JSON.stringify(out.values) !== JSON.stringify(out.expected) && "a future has a wrong value",
    out.resolved !== tasks && `${out.resolved} rows settled futures for ${tasks} tasks`,
    out.stealAnswers > 0 && "a stranger was handed tasks",
    JSON.stringify(out.pidsAfter) !== JSON.stringify(out.pidsBefore) && "an executor exited",
    out.unhandled.length > 0 && `unhandled rejection: ${out.unhandled[0]}`,
    out.resubmitted > 0 && `${out.resubmitted} rows re-submitted`,
  ].filter(Boolean);
  const row = { seed, ms: out.ms, sent: out.sent, forged: out.forged, executions: out.executions, trust: { ...out.trust, rivals: out.trust?.rivals.length } };
  console.log(JSON.stringify({ round: rounds.length + 1, ...row }));
  if (broken.length) {
    console.log(JSON.stringify({ bench: "fuzz-soak", failed: true, seed, broken, replay: `FUZZ_SEED=${seed} node test/run.mjs fuzz` }));
    process.exit(1);
  }
  rounds.push({ seed, ms: out.ms, forged: out.forged, executions: out.executions });
  seed = (seed * 1103515245 + 12345) % 1_000_000;
}
const executions = rounds.reduce((a, r) => a + r.executions, 0);
console.log(JSON.stringify({ bench: "fuzz-soak", rounds: rounds.length, seeds: rounds.map((r) => r.seed), tasks: tasks * rounds.length, executions, amplification: +(executions / (tasks * rounds.length)).toFixed(4), forgedRowsDropped: rounds.reduce((a, r) => a + r.forged, 0), ms: Date.now() - t0 }));
process.exit(0);
