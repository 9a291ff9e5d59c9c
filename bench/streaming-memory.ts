/**
 * bench/streaming-memory: the streaming workloads hold a bounded window, not the input. best() and
 * parallelStream() over a lazy input of 10^5 and 10^6 candidates, on backend "local" and on the
 * cluster (`ts-dask up --nprocs 2`, in its own processes: only the client is measured); each run in
 * a fresh process, whose peak RSS (getrusage maxrss) is reported.
 *
 * Bar (issue 5): peak client RSS over 10^6 at most 30 MB above that over 10^5, for both forms and
 * both backends. Environment: BENCH_SIZES (default "100000,1000000").
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { report, startUp } from "./lib.ts";

const CHILD = fileURLToPath(new URL("./lib-workloads/memory-child.ts", import.meta.url));
const sizes = (process.env.BENCH_SIZES ?? "100000,1000000").split(",").map(Number);
const up = await startUp(["--nprocs", "2"]);
type Row = { api: string; backend: string; n: number; peakRssMB: number; seconds: number };
const rows: Row[] = [];
try {
  for (const backend of ["local", "cluster"]) {
    for (const api of ["best", "stream"]) {
      for (const n of sizes) {
        const r = spawnSync(process.execPath, ["--import", "tsx", CHILD, api, backend, String(n), up.url, up.cluster], { encoding: "utf8", timeout: 600_000 });
        const line = r.stdout.trim().split("\n").pop() ?? "";
        if (r.status !== 0 || !line.startsWith("{")) throw new Error(`${api} ${backend} ${n} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
        const row = JSON.parse(line) as Row;
        rows.push(row);
        console.error(`${api} on ${backend}, ${n}: peak RSS ${row.peakRssMB.toFixed(1)} MB, ${row.seconds.toFixed(1)} s`);
      }
    }
  }
  const [small, large] = [Math.min(...sizes), Math.max(...sizes)];
  const growth = Object.fromEntries(
    ["local", "cluster"].flatMap((b) =>
      ["best", "stream"].map((a) => {
        const at = (n: number) => rows.find((r) => r.backend === b && r.api === a && r.n === n)!.peakRssMB;
        return [`${a} on ${b}`, Number((at(large) - at(small)).toFixed(1))];
      }),
    ),
  );
  report({
    bench: "streaming-memory",
    sizes,
    peakRssMB: rows.map((r) => ({ ...r, peakRssMB: Number(r.peakRssMB.toFixed(1)), seconds: Number(r.seconds.toFixed(1)) })),
    growthMB: growth,
    bar: { growthMB: "<= 30" },
    pass: Object.values(growth).every((g) => g <= 30),
  });
} finally {
  await up.stop();
}
