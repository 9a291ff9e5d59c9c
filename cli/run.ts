/** `ts-dask scheduler | worker | up`: start the actors and run until a shutdown signal. */
import { hostname, networkInterfaces } from "node:os";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startScheduler, startWorker } from "../actors/embed.ts";
import { LocalCluster } from "../cluster/local.ts";
import { consoleLogger } from "../runtime/actor.ts";
import { formatBytes, parseMemoryLimit } from "../runtime/memory.ts";
import { defaultLocalDirectory, onShutdown } from "../runtime/platform.ts";
import { redactUrl, type NatsAuth } from "../runtime/nats-auth.ts";
import { TSDASK_VERSION } from "../runtime/version.ts";

/**
 * Runs `stop` on the first SIGINT/SIGTERM (or the Windows equivalents) and exits 0 once it is
 * done: a requested stop is a clean exit (a second signal exits at once).
 */
const onStopRequest = (stop: () => Promise<unknown>) => onShutdown(() => stop().then(() => {}), { timeoutMs: 30_000, exitCode: 0 });

export async function runScheduler(o: { servers: string; cluster: string; token?: string; auth?: NatsAuth; dashboardAddress?: string; maxValueBytes?: number }) {
  const log = consoleLogger("[scheduler]");
  let stop: (() => Promise<void>) | undefined;
  // Before anything is announced: whoever reads the announcement may ask us to stop at once.
  onStopRequest(async () => stop?.());
  const s = await startScheduler({ ...o, log, dashboardAddress: o.dashboardAddress ?? ":8787" });
  stop = s.stop;
  log.info(`ts-dask ${TSDASK_VERSION} scheduler for cluster '${o.cluster}' on ${redactUrl(o.servers)}`);
  if (s.dashboard) log.info(`dashboard at ${s.dashboard.url}`);
  await new Promise(() => {}); // runs until a stop request
}

export async function runWorker(o: {
  servers: string;
  cluster: string;
  token?: string;
  auth?: NatsAuth;
  nprocs: number;
  nthreads: number;
  memoryLimit: string;
  deathTimeoutS: number;
  name?: string;
  localDirectory?: string;
  resources?: Record<string, number>;
}) {
  const name = o.name ?? hostname().replace(/[^A-Za-z0-9_-]/g, "-");
  const log = consoleLogger(`[${name}]`);
  const memoryLimit = parseMemoryLimit(o.memoryLimit, o.nprocs);
  const w = await startWorker({ ...o, name, memoryLimit, deathTimeoutMs: o.deathTimeoutS * 1000, log });
  onStopRequest(() => w.stop());
  log.info(`ts-dask ${TSDASK_VERSION} worker ${name}: ${o.nprocs} process(es) × ${o.nthreads} thread(s)${memoryLimit ? `, ${formatBytes(memoryLimit)} each` : ""}${o.resources ? `, resources ${formatResourceList(o.resources)} each` : ""}, cluster '${o.cluster}' on ${redactUrl(o.servers)}`);
  const out = await w.exited;
  if (out.exitCode) log.warn(`exiting: ${out.reason}`);
  process.exit(out.exitCode);
}

export async function runUp(o: { nprocs: number; nthreads: number; memoryLimit: string; name?: string; port?: number; lan: boolean; jetstream?: boolean; dashboardAddress?: string; maxValueBytes?: number; cluster?: string; localDirectory?: string; resources?: Record<string, number> }) {
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
    ...(o.resources ? { resources: o.resources } : {}),
    jetstream: o.jetstream,
    // No client in this process: nobody would join the in-process link.
    link: false,
    // On by default here (off for the embedded cluster); loopback unless the cluster is on the LAN.
    dashboard: o.dashboardAddress ?? (o.lan ? ":8787" : "127.0.0.1:8787"),
  });
  // Before "is up": a signal that arrives once that line is out must find our handler (a signal
  // without one kills the process mid-statement, whatever JavaScript runs).
  onStopRequest(() => c.stop());
  console.log(`ts-dask ${TSDASK_VERSION}: cluster '${c.cluster}' is up with ${o.nprocs} executor(s)${o.resources ? `, each offering ${formatResourceList(o.resources)}` : ""}.`);
  // The generated token (--lan) goes to a file only this user can read, never to the terminal or logs.
  const tokenFile = c.token ? writeTokenFile(o.localDirectory ?? defaultLocalDirectory(), c.cluster, c.token) : undefined;
  const cred = tokenFile ? ` --token-file ${tokenFile}` : "";
  if (tokenFile) console.log(`  token:    written to ${tokenFile} (mode 0600); copy that file to the other machines (or set $TSDASK_TOKEN there)`);
  const token = tokenFile ? `, token: readFileSync(${JSON.stringify(tokenFile)}, "utf8").trim()` : "";
  console.log(`  connect:  Client.connect("${c.url}", { cluster: "${c.cluster}"${token} })`);
  console.log(`  workers:  ts-dask worker ${c.url} --cluster ${c.cluster}${cred}`);
  const lan = o.lan ? lanAddress() : undefined;
  if (lan) console.log(`  from other machines: ts-dask worker ${c.url.replace("127.0.0.1", lan)} --cluster ${c.cluster}${cred}`);
  if (lan && o.port === undefined) console.log(`  (NATS took a free port, ${new URL(c.url).port}; for a firewall rule start with --port 4222)`);
  console.log(`  info:     ts-dask info ${c.url} --cluster ${c.cluster}${cred}`);
  if (c.dashboard) console.log(`  dashboard: ${c.dashboard.url}`);
  console.log("Ctrl-C stops everything.");
  await new Promise(() => {}); // runs until a stop request
}

/** Writes `token` to `<dir>/<cluster>.token` with mode 0600 (the directory 0700); returns the path. */
function writeTokenFile(dir: string, cluster: string, token: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${cluster}.token`);
  rmSync(file, { force: true }); // a new file gets the mode below whatever an old one had
  writeFileSync(file, token + "\n", { mode: 0o600 });
  return file;
}

/** This machine's first non-loopback IPv4 address, for the `--lan` banner. */
function lanAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  return undefined;
}

/** `GPU=1,MEM=8000000000`: as the --resources flag takes it. */
function formatResourceList(r: Record<string, number>): string {
  return Object.entries(r)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}
