/**
 * bench/message-cost: the CPU one small NATS message costs this process (publish on one
 * connection, receive on another, both here; nats-server apart), sent back to back, with 1 ms and
 * with 10 ms between messages. On a machine whose cores idle between messages (or run tasks) each
 * wake-up costs far more than the message: the reason executors linger their completions
 * (actors/executor/outbox.ts). Medians of BENCH_RUNS runs.
 */
import { connect } from "nats";
import { startNatsServer } from "../runtime/nats-server.ts";
import { median, report, runs } from "./lib.ts";

const srv = await startNatsServer({});
const tx = await connect({ servers: srv.url });
const rx = await connect({ servers: srv.url });
rx.subscribe("x", { callback: () => {} });
await rx.flush();
const out: Record<string, number> = {};
try {
  for (const gapMs of [0, 1, 10]) {
    const n = gapMs ? 300 : 3000;
    const us: number[] = [];
    for (let r = 0; r < runs(); r++) {
      const c0 = process.cpuUsage();
      for (let i = 0; i < n; i++) {
        tx.publish("x", new Uint8Array(100));
        await new Promise((res) => (gapMs ? setTimeout(res, gapMs) : setImmediate(res)));
      }
      await tx.flush();
      await rx.flush();
      const c = process.cpuUsage(c0);
      us.push((c.user + c.system) / n);
    }
    out[`gap ${gapMs} ms`] = +median(us).toFixed(1);
  }
} finally {
  await tx.close();
  await rx.close();
  await srv.stop();
}
report({ bench: "message-cost", unit: "µs of this process's CPU per 100-byte message (sender + receiver)", runs: runs(), results: out });
