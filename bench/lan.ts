/**
 * bench/lan: the same cluster (nats-server + scheduler, one worker with 2 executors, a client) across
 * hosts of the LAN test bed (veth links through a bridge, one network namespace per machine) and all
 * in one host (loopback), in one run: `map` of BENCH_N trivial tasks (tasks/s) and sequential
 * submit → result round trips (ms). Medians of BENCH_RUNS rounds. Root on Linux only (test/lan/).
 */
import { join } from "node:path";
import { LanBed, lanUnavailable } from "../test/lan/bed.ts";
import { NATS_PORT, natsConfig, startScheduler } from "../test/lan/cluster.ts";
import { report, runs } from "./lib.ts";

const why = lanUnavailable();
if (why) {
  console.error(`bench/lan: not run here: ${why}`);
  process.exit(0);
}
const n = Number(process.env.BENCH_N ?? 100_000);
const bed = LanBed.create(["nats", "desk", "me", "solo"]);
try {
  const out: Record<string, unknown> = {};
  for (const [label, natsHost, workerHost, clientHost] of [["veth", "nats", "desk", "me"], ["loopback", "solo", "solo", "solo"]] as const) {
    const server = await bed.natsServer(natsHost, natsConfig(), `nats-${label}`);
    const local = `nats://127.0.0.1:${NATS_PORT}`;
    const remote = natsHost === workerHost ? local : `nats://${bed.host(natsHost).ip}:${NATS_PORT}`;
    const scheduler = await startScheduler(bed, natsHost, local, label);
    const worker = bed.tsdask(workerHost, ["worker", remote, "--cluster", label, "--nprocs", "2", "--name", `w-${label}`, "--local-directory", join(bed.host(workerHost).dir, label)]);
    await scheduler.waitFor(new RegExp(`worker w-${label} joined`), 60_000);
    const client = bed.script(clientHost, "test/lan/fixtures/bench-client.ts", [remote, label, String(n), "200", String(runs())]);
    const m = await client.waitFor(/@@ (.*)/, 600_000);
    out[label] = JSON.parse(m[1]!);
    await Promise.all([client.exited, worker.stop(), scheduler.stop()]);
    await server.stop();
  }
  report({ bench: "lan", tasks: n, runs: runs(), ...out });
} finally {
  await bed.destroy();
}
