/**
 * bench/requests: what one request/reply costs through `Transport.requestWhere` (every submit of a
 * client in another process, every register and lease renewal, every steal), apart from the
 * cluster: a responder on a second NATS connection of this process, BENCH_N sequential requests,
 * then the same number 16 at a time. Per request: wall µs, and CPU µs of this process (requester +
 * responder) and of nats-server (from /proc). Medians of BENCH_RUNS rounds. Linux only.
 */
import { loadavg } from "node:os";
import { connect } from "nats";
import { startNatsServer } from "../runtime/nats-server.ts";
import { Transport } from "../runtime/transport.ts";
import { median, report, runs } from "./lib.ts";
import { cpuSeconds } from "./lib-workloads/proc-cpu.ts";

const N = Number(process.env.BENCH_N ?? 10_000);
const LANES = 16;
const nats = await startNatsServer();
const responder = await connect({ servers: nats.url });
responder.subscribe("echo", { callback: (_e, m) => m.respond(m.data) });
await responder.flush();
const tx = await Transport.connect({ servers: nats.url, name: "bench requests" });
const accept = (r: { i: number }) => typeof r.i === "number";
const cpu = () => ({ self: cpuSeconds(process.pid), nats: cpuSeconds(nats.pid) });
const rows: Record<string, { wallUs: number[]; selfUs: number[]; natsUs: number[] }> = { sequential: { wallUs: [], selfUs: [], natsUs: [] }, [`${LANES} at a time`]: { wallUs: [], selfUs: [], natsUs: [] } };
const load = [loadavg()[0]!];
try {
  for (let i = 0; i < 500; i++) await tx.requestWhere("echo", { i }, 5000, accept); // warm up
  for (let r = 0; r < runs(); r++) {
    for (const kind of r % 2 ? Object.keys(rows).reverse() : Object.keys(rows)) {
      const c0 = cpu();
      const t0 = performance.now();
      if (kind === "sequential") for (let i = 0; i < N; i++) await tx.requestWhere("echo", { i }, 5000, accept);
      else {
        let next = 0;
        await Promise.all(Array.from({ length: LANES }, async () => {
          while (next < N) await tx.requestWhere("echo", { i: next++ }, 5000, accept);
        }));
      }
      const wall = performance.now() - t0;
      const c1 = cpu();
      rows[kind]!.wallUs.push((wall * 1000) / N);
      rows[kind]!.selfUs.push(((c1.self - c0.self) * 1e6) / N);
      rows[kind]!.natsUs.push(((c1.nats - c0.nats) * 1e6) / N);
    }
  }
  load.push(loadavg()[0]!);
  report({
    bench: "requests",
    requests: N,
    runs: runs(),
    perRequest: Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, { wallUs: +median(v.wallUs).toFixed(1), cpuUsThisProcess: +median(v.selfUs).toFixed(1), cpuUsNatsServer: +median(v.natsUs).toFixed(1) }])),
    allRuns: rows,
    inboxSubscriptions: (tx as { requests?: { inboxSubscriptions: number } }).requests?.inboxSubscriptions,
    loadAverage: load.map((x) => +x.toFixed(1)),
  });
} finally {
  await tx.close();
  await responder.close();
  await nats.stop();
}
