/**
 * joblib, the story's way, with ts-dask:
 *
 *   Parallel(n_jobs=-1)(delayed(my_proc)(c, ref_data) for c in candidates)          # local
 *   with parallel_backend("dask", scatter=[ref_data]): Parallel(batch_size=N, pre_dispatch="3*n_jobs")(…)
 *
 * The same code runs on this machine's processes and on the cluster; batching is automatic, the
 * generator is read a bounded window ahead, and the 10 MB reference data travels once per worker.
 *
 *   npx tsx examples/joblib-style/main.ts                 # both backends (a private cluster for "cluster")
 *   npx tsx examples/joblib-style/main.ts --backend local
 *   npx tsx examples/joblib-style/main.ts nats://host:4222 --cluster NAME --backend cluster
 *
 * Environment: JOBLIB_N (candidates, default 20,000).
 */
import { Client, delayed, importModule, parallel, parallelStream, withBackend, type EngineStats } from "ts-dask";

const args = process.argv.slice(2);
const flag = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const address = args.find((a, i) => !a.startsWith("--") && !["--cluster", "--backend"].includes(args[i - 1] ?? ""));
const which = flag("--backend") ?? "both";
const n = Number(process.env.JOBLIB_N ?? 20_000);

const refData = new Float64Array(1_250_000).map((_, i) => Math.sin(i)); // 10 MB
function* candidates() {
  for (let c = 0; c < n; c++) yield c; // lazy: never all in memory
}

const procs = await importModule<typeof import("./procs.ts")>("./procs.ts", { from: import.meta.url });

async function timed<T>(label: string, f: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const r = await f();
  console.log(`${label}: ${((performance.now() - t0) / 1000).toFixed(2)} s`);
  return r;
}

if (which === "local" || which === "both") {
  // Parallel(n_jobs=-1)(delayed(my_proc)(c, ref_data) for c in candidates)
  const res = await timed(`backend "local", ${n} candidates`, () =>
    parallel({ nJobs: -1, backend: "local", verbose: 1, log: console.log }, function* () {
      for (const c of candidates()) yield delayed(procs.myProc)(c, refData);
    }),
  );
  console.log(`local: ${res.length} results, res[42] = ${res[42]!.toFixed(6)}`);
}

if (which === "cluster" || which === "both") {
  const client = await Client.connect(address, { cluster: flag("--cluster") });
  try {
    // with parallel_backend("dask", scatter=[ref_data]): the same joblib code, on the cluster
    const stats: Partial<EngineStats> = {};
    const res = await timed(`backend "cluster", ${n} candidates`, () =>
      withBackend({ client, scatter: [refData] }, () =>
        parallel({ verbose: 1, log: console.log, stats }, function* () {
          for (const c of candidates()) yield delayed(procs.myProc)(c, refData);
        }),
      ),
    );
    console.log(`cluster: ${res.length} results, res[42] = ${res[42]!.toFixed(6)}; ${stats.batches} tasks (auto batch size up to ${stats.maxBatch}), ${stats.scattered} value scattered`);

    // The story's hand tuning still works: batch_size=N, pre_dispatch="3*n_jobs".
    await timed(`batchSize 200, preDispatch "3*n_jobs"`, () =>
      parallel({ client, batchSize: 200, preDispatch: "3*n_jobs", scatter: [refData] }, function* () {
        for (const c of candidates()) yield delayed(procs.myProc)(c, refData);
      }),
    );

    // Streaming, in input order: memory stays bounded whatever the length of the input.
    let best = { c: -1, v: -Infinity };
    let i = 0;
    for await (const v of parallelStream({ client }, function* () {
      for (const c of candidates()) yield delayed(procs.myProc)(c, refData);
    })) {
      if (v > best.v) best = { c: i, v };
      i++;
    }
    console.log(`streamed ${i} results in order; the largest is candidate ${best.c} (${best.v.toFixed(4)})`);
  } finally {
    await client.close();
  }
}
