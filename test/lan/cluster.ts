/**
 * The story's cluster on a {@link LanBed}: host `nats` runs nats-server and `ts-dask scheduler`,
 * each worker host runs `ts-dask worker … --nprocs 2 --death-timeout S --local-directory <its dir>`;
 * the client runs on `me`. Ports are the bed's own (never 4222 on this machine): NATS 14222,
 * dashboard 18787. Optional firewalls: workers and `me` drop every inbound new connection, `nats`
 * accepts only the NATS and dashboard ports.
 */
import { join } from "node:path";
import * as assert from "uvu/assert";
import { withTimeout } from "../helpers/cluster.ts";
import type { LanBed, LanProcess } from "./bed.ts";

export const NATS_PORT = 14222;
export const DASHBOARD_PORT = 18787;

export interface StoryCluster {
  url: string;
  cluster: string;
  nats: LanProcess;
  scheduler: LanProcess;
  workers: Map<string, LanProcess>;
}

/** nats-server config for the bed: every interface of host `nats`; pings every 2 s so dead peers go fast. */
export function natsConfig(extra = ""): string {
  return `listen: "0.0.0.0:${NATS_PORT}"\nping_interval: "2s"\nping_max: 2\n${extra}\n`;
}

export async function startScheduler(bed: LanBed, host: string, url: string, cluster: string, extra: string[] = []): Promise<LanProcess> {
  const s = bed.tsdask(host, ["scheduler", "--nats", url, "--cluster", cluster, "--dashboard-address", `:${DASHBOARD_PORT}`, ...extra]);
  await s.waitFor(/dashboard at /, 60_000);
  return s;
}

export function startWorker(bed: LanBed, host: string, url: string, cluster: string, opts: { deathTimeoutS?: number; extra?: string[] } = {}): LanProcess {
  return bed.tsdask(host, ["worker", url, "--cluster", cluster, "--nprocs", "2", "--death-timeout", String(opts.deathTimeoutS ?? 120), "--name", host, "--local-directory", join(bed.host(host).dir, "ts-dask"), ...(opts.extra ?? [])]);
}

/** Starts the story's cluster (firewalls first when asked) and waits until every worker joined. */
export async function startStory(bed: LanBed, opts: { workers?: string[]; firewalls?: boolean; deathTimeoutS?: number; cluster?: string } = {}): Promise<StoryCluster> {
  const workerHosts = opts.workers ?? ["desk", "laptop"];
  if (opts.firewalls) {
    bed.firewall("nats", { allowTcp: [NATS_PORT, DASHBOARD_PORT] });
    for (const h of [...workerHosts, "me"]) bed.firewall(h, "closed");
  }
  const cluster = opts.cluster ?? "home";
  const nats = await bed.natsServer("nats", natsConfig());
  const url = `nats://${bed.host("nats").ip}:${NATS_PORT}`;
  const scheduler = await startScheduler(bed, "nats", `nats://127.0.0.1:${NATS_PORT}`, cluster);
  const workers = new Map(workerHosts.map((h) => [h, startWorker(bed, h, url, cluster, { deathTimeoutS: opts.deathTimeoutS })]));
  await Promise.all(workerHosts.map((h) => scheduler.waitFor(new RegExp(`worker ${h} joined from ${h} `), 60_000)));
  return { url, cluster, nats, scheduler, workers };
}

/** The partition tests' client on host `me`: `n` tasks of `taskMs`, reporting progress and a final line. */
export function runStoryClient(bed: LanBed, c: StoryCluster, n: number, taskMs: number): LanProcess {
  return bed.script("me", "test/lan/fixtures/run-client.ts", [c.url, c.cluster, String(n), String(taskMs)]);
}

/** What that client reported when it finished (it must exit 0). */
export async function clientDone(client: LanProcess): Promise<{ n: number; wrong: number; duplicates: number; ms: number; maxGapMs: number }> {
  const m = await client.waitFor(/@@done (.*)/, 120_000);
  const exit = await withTimeout(client.exited, 20_000, "the client to exit");
  assert.is(exit.code, 0, client.output());
  return JSON.parse(m[1]!);
}
