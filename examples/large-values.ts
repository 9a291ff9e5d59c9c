/**
 * Large values on the ordinary path: a 20 MB argument and a 20 MB result (NATS carries at most
 * 1 MiB per message by default; ts-dask moves bigger values through the scheduler in chunks),
 * where a large result lives until it is gathered, what happens above the cap, a function run in
 * the scheduler process, and opt-in deduplication of repeated work.
 *
 *   npx tsx examples/large-values.ts
 */
import { Client, type TaskError } from "ts-dask";

const MB = 1e6;
const client = await Client.connect(undefined, { maxValueBytes: 64 * MB });
try {
  // 1. A 20 MB argument and a 20 MB result, as if they were small.
  const signal = new Float64Array(2_500_000).map((_, i) => Math.sin(i / 100));
  const smooth = (x: Float64Array, k: number) => {
    const out = new Float64Array(x.length);
    let acc = 0;
    for (let i = 0; i < x.length; i++) {
      acc += x[i]! - (i >= k ? x[i - k]! : 0);
      out[i] = acc / Math.min(i + 1, k);
    }
    return out;
  };
  const t0 = performance.now();
  const f = client.submit(smooth, signal, 50);
  await client.wait([f]);
  const held = (await client.info()).data;
  console.log(`finished; its result is held by the scheduler until gathered: ${held.results} result(s), ${(held.resultBytes! / MB).toFixed(1)} MB`);
  const smoothed = await f.result();
  console.log(`20 MB in, ${(smoothed.byteLength / MB).toFixed(0)} MB out in ${Math.round(performance.now() - t0)} ms; smoothed[1000] = ${smoothed[1000]!.toFixed(4)}`);

  // 2. A chain: the intermediate result goes scheduler → executor, never through this process.
  const peak = client.submit((x: Float64Array) => x.reduce((m, v) => Math.max(m, v), -Infinity), f);
  console.log(`peak of the smoothed signal: ${(await peak.result()).toFixed(4)}`);

  // 3. Above the cap (maxValueBytes, here 64 MB): a named error that says what to do.
  const tooBig = client.submit((n: number) => new Uint8Array(n), 100 * MB);
  const e = (await tooBig.exception()) as TaskError;
  console.log(`too large: ${e.code}: ${e.message.split(". ")[0]}`);

  // 4. A function run once in the scheduler's process (outside the task queue).
  const onScheduler = await client.runOnScheduler(() => ({ pid: process.pid, heapMB: Math.round(process.memoryUsage().heapUsed / 1e6) }));
  console.log(`ran on the scheduler: pid ${onScheduler.pid}`);

  // 5. Deduplication, opt-in: repeated seeds run once each with pure: true.
  const trial = (seed: number) => ({ seed, by: process.pid, at: performance.now() });
  const seeds = [1, 2, 3, 1, 2, 3, 1, 2, 3];
  const plain = await client.gather(client.map(trial, seeds));
  const pure = await client.gather(client.map(trial, seeds, { pure: true }));
  const runs = (rs: { at: number; by: number }[]) => new Set(rs.map((r) => `${r.by}@${r.at}`)).size;
  console.log(`${seeds.length} seeds: ${runs(plain)} executions by default, ${runs(pure)} with pure: true`);
} finally {
  await client.close();
}
