/**
 * The story's main job: several hundred thousand candidate input sets, a few ms of numeric work
 * each against shared reference data, keep the best. Streamed through best(): the candidates come
 * from a generator (never all in memory), the 8 MB reference is scattered once per executor,
 * batches are sized automatically, and with --checkpoint a crashed run resumes where it stopped.
 *
 *   npx tsx examples/brute-force/main.ts                 # ~25,000 candidates, ~30 s on a private 2-core cluster
 *   npx tsx examples/brute-force/main.ts --full          # the full study: 200,000 candidates
 *   npx tsx examples/brute-force/main.ts nats://host:4222 --cluster NAME   # a running cluster
 *   npx tsx examples/brute-force/main.ts --local         # this machine's processes, no cluster
 *   npx tsx examples/brute-force/main.ts --checkpoint my-study   # resumable (kill it, run it again)
 *
 * Environment: BRUTE_N overrides the number of candidates.
 */
import { best, Client, importModule, type BackendOptions } from "ts-dask";
import { candidates, makeReference, TRUTH } from "./study.ts";

const args = process.argv.slice(2);
const flag = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const address = args.find((a, i) => !a.startsWith("--") && !["--cluster", "--checkpoint"].includes(args[i - 1] ?? ""));
const n = Number(process.env.BRUTE_N ?? (args.includes("--full") ? 200_000 : 25_000));
const checkpoint = flag("--checkpoint");

const client = args.includes("--local") ? undefined : await Client.connect(address, { cluster: flag("--cluster") });
try {
  // score() runs on the workers (by reference); candidates() and makeReference() run here.
  const study = client
    ? await client.importModule<typeof import("./study.ts")>("./study.ts")
    : await importModule<typeof import("./study.ts")>("./study.ts", { from: import.meta.url });
  const where: BackendOptions = client ? { client } : { backend: "local" };
  const reference = makeReference();
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
    stats,
  });
  const s = (performance.now() - t0) / 1000;
  console.log(`done in ${s.toFixed(1)} s (${Math.round(n / s).toLocaleString("en")} candidates/s)`, stats);
  console.log("best candidates:");
  for (const t of top) console.log(`  #${t.index} score ${t.score.toFixed(4)} freq ${t.candidate.freq.join("/")} amp ${t.candidate.amp.join("/")} phase ${t.candidate.phase.join("/")}`);
  console.log(`hidden truth: freq ${TRUTH.freq.join("/")} amp ${TRUTH.amp.join("/")} phase ${TRUTH.phase.join("/")}`);
} finally {
  await client?.close();
}
