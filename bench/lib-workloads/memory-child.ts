/**
 * One measurement of bench/streaming-memory: runs best() or parallelStream() over a lazy input of
 * `n` candidates on one backend and prints the process's peak RSS as JSON.
 *   node --import tsx memory-child.ts <best|stream> <local|cluster> <n> [natsUrl cluster]
 */
import { Client } from "../../index.ts";
import { best, delayed, parallelStream } from "../../workloads/index.ts";

const [api, backend, nText, url, cluster] = process.argv.slice(2);
const n = Number(nText);
const client = backend === "cluster" ? await Client.connect(url, { cluster }) : undefined;
const where = client ? { client } : { backend: "local" as const, nJobs: 2 };
const score = (c: number) => ((c * 2654435761) % 1000003) / 1000003;
function* candidates() {
  for (let i = 0; i < n; i++) yield i;
}
const peak: Record<string, number> = {};
const sample = setInterval(() => {
  for (const [k, v] of Object.entries(process.memoryUsage())) peak[k] = Math.max(peak[k] ?? 0, Math.round(v / 2 ** 20));
}, 20);
const t0 = performance.now();
let check = 0;
if (api === "best") {
  const top = await best(candidates, score, { ...where, k: 10 });
  check = top.length;
} else {
  for await (const v of parallelStream(where, function* () {
    for (const c of candidates()) yield delayed(score)(c);
  })) check += v > 0.5 ? 1 : 0;
}
const seconds = (performance.now() - t0) / 1000;
clearInterval(sample);
await client?.close();
console.log(JSON.stringify({ api, backend, n, peakRssMB: process.resourceUsage().maxRSS / 1024, seconds, check, peak }));
