/**
 * bench/large-values: a 50 MB argument and a 50 MB result on the ordinary submit/result path
 * (NATS at its default 1 MiB max_payload: both travel through the scheduler's data store in
 * chunks), on `ts-dask up --nprocs 2`. A fresh array per run. Reports the round trip (submit →
 * value in hand) and its parts: until the task finished (argument stored, fetched by the executor,
 * result stored) and the gather (result fetched from the scheduler).
 */
import { Client } from "../index.ts";
import { median, report, runs, startUp } from "./lib.ts";

const N = 6_250_000; // 50 MB of float64
const up = await startUp(["--nprocs", "2"]);
const client = await Client.connect(up.url, { cluster: up.cluster });
try {
  const negate = (a: Float64Array) => a.map((v) => -v);
  await client.submit(negate, new Float64Array(10)).result(); // ship the function once
  const total: number[] = [];
  const finished: number[] = [];
  const gather: number[] = [];
  for (let r = 0; r < runs(); r++) {
    const big = new Float64Array(N).fill(r + 0.5);
    const t0 = performance.now();
    const f = client.submit(negate, big);
    await client.wait([f]);
    const t1 = performance.now();
    const out = await f.result();
    const t2 = performance.now();
    if (out.length !== N || out[N - 1] !== -(r + 0.5)) throw new Error("wrong result");
    total.push((t2 - t0) / 1000);
    finished.push((t1 - t0) / 1000);
    gather.push((t2 - t1) / 1000);
  }
  const s = (xs: number[]) => +median(xs).toFixed(3);
  report({
    bench: "large-values",
    bytes: { argument: N * 8, result: N * 8 },
    runs: runs(),
    medianSeconds: { roundTrip: s(total), untilFinished: s(finished), gather: s(gather) },
    mbPerSecond: +((2 * N * 8) / 1e6 / median(total)).toFixed(1),
    allRuns: total.map((x) => +x.toFixed(3)),
  });
} finally {
  await client.close();
  await up.stop();
}
