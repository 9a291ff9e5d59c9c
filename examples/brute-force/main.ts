/**
 * The story's main job: several hundred thousand candidate input sets, a few ms of numeric work
 * each against shared reference data, keep the best. Streamed through best(): the candidates come
 * from a generator (never all in memory), the 8 MB reference is scattered once per executor,
 * batches are sized automatically, and with --checkpoint a crashed run resumes where it stopped.
 *
 *   npx tsx examples/brute-force/main.ts                 # 25,000 candidates, ~11 s on a private 2-core cluster
 *   npx tsx examples/brute-force/main.ts --full          # the full study: 200,000 candidates
 *   npx tsx examples/brute-force/main.ts nats://host:4222 --cluster NAME   # a running cluster
 *   npx tsx examples/brute-force/main.ts --local         # this machine's processes, no cluster
 *   npx tsx examples/brute-force/main.ts --checkpoint my-study   # resumable (kill it, run it again)
 *   npx tsx examples/brute-force/main.ts --compare       # also time the plain loop over every candidate
 *
 * It ends saying how it compares with a plain loop in this process: estimated from the first
 * few hundred candidates, or measured over all of them with --compare (which takes that long first).
 *
 * Environment: BRUTE_N overrides the number of candidates.
 */
import { best, Client, importModule, type BackendOptions, type Baseline } from "ts-dask";
import { candidates, makeReference, score, TRUTH } from "./study.ts";

const args = process.argv.slice(2);
const flag = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const address = args.find((a, i) => !a.startsWith("--") && !["--cluster", "--checkpoint"].includes(args[i - 1] ?? ""));
const n = Number(process.env.BRUTE_N ?? (args.includes("--full") ? 200_000 : 25_000));
const checkpoint = flag("--checkpoint");

// The plain loop first, before any cluster: a long synchronous loop would stall a connected client.
const reference = makeReference();
const baseline = plainLoop(reference, args.includes("--compare") ? n : Math.min(n, 300));
const client = args.includes("--local") ? undefined : await Client.connect(address, { cluster: flag("--cluster") });
try {
  // score() runs on the workers (by reference); candidates() and makeReference() run here.
  const study = client
    ? await client.importModule<typeof import("./study.ts")>("./study.ts")
    : await importModule<typeof import("./study.ts")>("./study.ts", { from: import.meta.url });
  const where: BackendOptions = client ? { client } : { backend: "local" };
  console.log(`scoring ${n.toLocaleString("en")} candidates against ${(reference.byteLength / 1e6).toFixed(0)} MB of reference data`);

  const t0 = performance.now();
  const stats = {};
  const top = await best(candidates(n), study.score, {
    ...where,
    args: [reference], // large and shared by every call: scattered once per executor, automatically
    k: 5,
    maximize: true,
    total: n,
    checkpoint,
    verbose: true,
    progress: true,
    log: (line) => console.log(line),
    baseline, // the closing "Done …" line says how this run compares with it
    stats,
  });
  const s = (performance.now() - t0) / 1000;
  const { scored = 0, resumed = 0, batches, maxBatch, scattered } = stats as Record<string, number>;
  console.log(
    `done in ${s.toFixed(1)} s: ${scored.toLocaleString("en")} scored (${Math.round(scored / s).toLocaleString("en")}/s)` +
      (resumed ? `, ${resumed.toLocaleString("en")} from the checkpoint` : "") +
      ` in ${batches} batches of up to ${maxBatch}; reference data scattered: ${scattered}`,
  );
  console.log("best candidates:");
  for (const t of top) console.log(`  #${t.index} score ${t.score.toFixed(4)} freq ${t.candidate.freq.join("/")} amp ${t.candidate.amp.join("/")} phase ${t.candidate.phase.join("/")}`);
  // Candidates are random guesses (9 numbers on a 0.1 grid): the strong tone is matched first, the
  // faint ones only by luck, so the best differ from the truth; more candidates (--full) come closer.
  console.log(`hidden truth:  freq ${TRUTH.freq.join("/")} amp ${TRUTH.amp.join("/")} phase ${TRUTH.phase.join("/")}`);
  console.log("  (the candidates are random guesses: the strong first tone is found, the faint ones need more candidates, e.g. --full)");
} finally {
  await client?.close();
}

/**
 * A plain loop: score() over the first `count` candidates in this process, as a user would without
 * a cluster. A sample (after a short warm-up, so the JIT has compiled score()) estimates the whole.
 */
function plainLoop(reference: Float64Array, count: number): Baseline {
  if (count < n) for (const c of candidates(30, 99)) score(c, reference);
  const t = performance.now();
  for (const c of candidates(count)) score(c, reference);
  const seconds = (performance.now() - t) / 1000;
  const how = count === n ? "measured" : `estimated from ${count} candidates; --compare measures it`;
  if (count === n) console.log(`plain loop over ${count.toLocaleString("en")} candidates (--compare): ${seconds.toFixed(1)} s`);
  return { seconds, calls: count, how };
}
