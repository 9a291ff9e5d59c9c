/**
 * What an executor adds to its heartbeat for the dashboard and /metrics (optional Heartbeat
 * fields): CPU % since the previous heartbeat (process.cpuUsage deltas; 100 = one core) and the
 * NATS bytes its connection moved so far; its late replies (runtime/reply-mux.ts), when there are some.
 */
import type { Heartbeat } from "../../runtime/protocol.ts";
import type { Transport } from "../../runtime/transport.ts";

let lastCpu = process.cpuUsage();
let lastAt = performance.now();

export function vitals(tx: Transport): Pick<Heartbeat, "cpu" | "bytesIn" | "bytesOut" | "lateReplies"> {
  const now = performance.now();
  const cpu = process.cpuUsage(lastCpu);
  const wallUs = (now - lastAt) * 1000;
  lastCpu = process.cpuUsage();
  lastAt = now;
  const s = tx.stats();
  return {
    cpu: wallUs > 0 ? Math.round(((cpu.user + cpu.system) / wallUs) * 1000) / 10 : 0,
    bytesIn: s.inBytes,
    bytesOut: s.outBytes,
    ...(tx.requests.lateReplies ? { lateReplies: tx.requests.lateReplies } : {}),
  };
}
