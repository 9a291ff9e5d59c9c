/** `ts-dask scheduler | worker | up`: start the actors and run until a shutdown signal. */
import { hostname, networkInterfaces } from "node:os";
import { join } from "node:path";
import { Scheduler } from "../actors/scheduler/scheduler.ts";
import { startDashboard } from "../actors/scheduler/dashboard/server.ts";
import { Supervisor } from "../actors/supervisor/supervisor.ts";
import { LocalCluster } from "../client/local-cluster.ts";
import { consoleLogger } from "../runtime/actor.ts";
import { formatBytes, parseMemoryLimit } from "../runtime/memory.ts";
import { defaultLocalDirectory, onShutdown } from "../runtime/platform.ts";
import { Transport } from "../runtime/transport.ts";
import { TSDASK_VERSION } from "../runtime/version.ts";

/**
 * Runs `stop` on the first SIGINT/SIGTERM (or the Windows equivalents) and exits 0 once it is
 * done: a requested stop is a clean exit (a second signal exits at once).
 */
const onStopRequest = (stop: () => Promise<unknown>) => onShutdown(() => stop().then(() => {}), { timeoutMs: 30_000, exitCode: 0 });

export async function runScheduler(o: { servers: string; cluster: string; token?: string; dashboardAddress?: string; maxValueBytes?: number }) {
  const log = consoleLogger("[scheduler]");
  const tx = await Transport.connect({ servers: o.servers, token: o.token, name: "ts-dask scheduler", waitOnFirstConnect: true });
  const s = await Scheduler.start(tx, { cluster: o.cluster, log, maxValueBytes: o.maxValueBytes });
  log.info(`ts-dask ${TSDASK_VERSION} scheduler for cluster '${o.cluster}' on ${o.servers}`);
  const dash = await startDashboard(s.monitor, { address: o.dashboardAddress ?? ":8787", log });
  if (dash) log.info(`dashboard at ${dash.url}`);
  onStopRequest(async () => {
    await dash?.close();
    await s.stop();
    await tx.close();
  });
  await new Promise(() => {}); // runs until a stop request
}

export async function runWorker(o: {
  servers: string;
  cluster: string;
  token?: string;
  nprocs: number;
  nthreads: number;
  memoryLimit: string;
  deathTimeoutS: number;
  name?: string;
  localDirectory?: string;
}) {
  const name = o.name ?? hostname().replace(/[^A-Za-z0-9_-]/g, "-");
  const log = consoleLogger(`[${name}]`);
  const memoryLimit = parseMemoryLimit(o.memoryLimit, o.nprocs);
  const w = await Supervisor.start({
    servers: o.servers,
    token: o.token,
    cluster: o.cluster,
    name,
    nprocs: o.nprocs,
    nthreads: o.nthreads,
    memoryLimit,
    deathTimeoutMs: o.deathTimeoutS * 1000,
    localDirectory: o.localDirectory ?? join(defaultLocalDirectory(), name),
    log,
  });
  log.info(`ts-dask ${TSDASK_VERSION} worker ${name}: ${o.nprocs} process(es) × ${o.nthreads} thread(s)${memoryLimit ? `, ${formatBytes(memoryLimit)} each` : ""}, cluster '${o.cluster}' on ${o.servers}`);
  onStopRequest(() => w.shutdown("stop requested", { graceful: true }));
  const out = await w.exited;
  if (out.exitCode) log.warn(`exiting: ${out.reason}`);
  process.exit(out.exitCode);
}

export async function runUp(o: { nprocs: number; nthreads: number; memoryLimit: string; name?: string; port?: number; lan: boolean; dashboardAddress?: string; maxValueBytes?: number; cluster?: string; localDirectory?: string }) {
  const c = await LocalCluster.start({
    cluster: o.cluster,
    localDirectory: o.localDirectory,
    maxValueBytes: o.maxValueBytes,
    nprocs: o.nprocs,
    nthreads: o.nthreads,
    memoryLimit: parseMemoryLimit(o.memoryLimit, o.nprocs),
    name: o.name,
    port: o.port,
    lan: o.lan,
    // On by default here (off for the embedded cluster); loopback unless the cluster is on the LAN.
    dashboard: o.dashboardAddress ?? (o.lan ? ":8787" : "127.0.0.1:8787"),
  });
  console.log(`ts-dask ${TSDASK_VERSION}: cluster '${c.cluster}' is up with ${o.nprocs} executor(s).`);
  console.log(`  connect:  Client.connect("${c.connectString}", { cluster: "${c.cluster}" })`);
  console.log(`  workers:  ts-dask worker ${c.connectString} --cluster ${c.cluster}`);
  const lan = o.lan ? lanAddress() : undefined;
  if (lan) console.log(`  from other machines: ts-dask worker ${c.connectString.replace("127.0.0.1", lan)} --cluster ${c.cluster}`);
  console.log(`  info:     ts-dask info ${c.connectString} --cluster ${c.cluster}`);
  if (c.dashboard) console.log(`  dashboard: ${c.dashboard.url}`);
  console.log("Ctrl-C stops everything.");
  onStopRequest(() => c.stop());
  await new Promise(() => {}); // runs until a stop request
}

/** This machine's first non-loopback IPv4 address, for the `--lan` banner. */
function lanAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  return undefined;
}
