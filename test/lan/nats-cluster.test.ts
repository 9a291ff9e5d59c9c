/**
 * A NATS cluster of three nodes (issue 12, item 7), on the LAN test bed: nats-servers with routes
 * on hosts n1, n2, n3; the scheduler (on n1) lists n1 first, the workers (desk, laptop) n2 first,
 * the client (me) n3 first, each with the full list. n2 is killed (SIGKILL) mid-run: the workers
 * move to another node and the run completes with every result once and right. `ts-dask info`
 * and the dashboard say which node each process is on, before and after the kill. Prints the
 * measured recovery (`figure:` lines). Root on Linux only.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { withTimeout } from "../helpers/cluster.ts";
import { LanBed, lanOrSkip, type LanProcess } from "./bed.ts";
import type { ClusterInfo } from "../../runtime/protocol.ts";
import type { Snapshot } from "../../actors/scheduler/observation/dashboard/views.ts";
import { DASHBOARD_PORT, NATS_PORT, natsConfig, startScheduler, startWorker } from "./cluster.ts";

const ROUTE_PORT = 16222;
const MONITOR_PORT = 18222;

/** Names of the client connections of the nats-server in `host` (its /connz, read from inside the host). */
async function connz(bed: LanBed, host: string): Promise<string[]> {
  const p = bed.spawn(host, process.execPath, ["-e", `fetch("http://127.0.0.1:${MONITOR_PORT}/connz?limit=1000").then((r) => r.json()).then((j) => console.log("CONNZ " + JSON.stringify(j.connections.map((c) => c.name ?? ""))))`]);
  const m = await p.waitFor(/CONNZ (.*)/, 20_000);
  return JSON.parse(m[1]!) as string[];
}
/** `ts-dask info --json` run on `host` against `url`. */
async function info(bed: LanBed, host: string, url: string): Promise<ClusterInfo> {
  const p = bed.tsdask(host, ["info", url, "--cluster", "home", "--json"]);
  const exit = await withTimeout(p.exited, 30_000, "ts-dask info");
  assert.is(exit.code, 0, p.output());
  return JSON.parse(p.output().slice(p.output().indexOf("{"))) as ClusterInfo;
}

/** The dashboard's snapshot, read on the scheduler's host (its firewall lets only NATS in). */
async function dashboard(bed: LanBed, host: string): Promise<Snapshot> {
  const p = bed.spawn(host, process.execPath, ["-e", `fetch("http://127.0.0.1:${DASHBOARD_PORT}/api/snapshot").then((r) => r.text()).then((t) => console.log("SNAP " + t))`]);
  const m = await p.waitFor(/SNAP (.*)/, 20_000);
  return JSON.parse(m[1]!) as Snapshot;
}

/** Each worker's and executor's NATS node as `info` shows it: name → node. */
function nodesOf(i: ClusterInfo): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const w of i.workers) {
    out[`worker ${w.name}`] = w.nats;
    for (const e of w.executors) out[`executor ${e.name}`] = e.nats;
  }
  return out;
}

const N = 400;
/** 400 × 300 ms on 4 executors: ≥ 30 s, so the checks below finish (and the node dies) mid-run even on a loaded machine. */
const TASK_MS = 300;

if (lanOrSkip("test/lan/nats-cluster.test.ts")) {
  let bed: LanBed | undefined;
  test.after(async () => {
    await bed?.destroy();
  });

  test("three routed nats-servers; the workers' node killed -9 mid-run: they move to another node, every result once", async () => {
    bed = LanBed.create(["n1", "n2", "n3", "desk", "laptop", "me"]);
    const nodes = ["n1", "n2", "n3"];
    const url = (first: string) => [first, ...nodes.filter((n) => n !== first)].map((n) => `nats://${bed!.host(n).ip}:${NATS_PORT}`).join(",");
    const routes = nodes.map((n) => `"nats-route://${bed!.host(n).ip}:${ROUTE_PORT}"`).join(", ");
    const servers = new Map<string, LanProcess>();
    for (const n of nodes) {
      servers.set(n, await bed.natsServer(n, natsConfig(`server_name: ${n}\nhttp: "127.0.0.1:${MONITOR_PORT}"\ncluster { name: home, listen: "0.0.0.0:${ROUTE_PORT}", routes: [${routes}] }`)));
    }
    // Every node routes to the other two before anything connects.
    await Promise.all(nodes.map(async (n) => {
      for (const other of nodes.filter((o) => o !== n)) await servers.get(n)!.waitFor(new RegExp(`${bed!.host(other).ip.replace(/\./g, "\\.")}:\\d+ - rid:\\d+ - Route connection created`), 30_000);
    }));
    for (const h of ["desk", "laptop", "me"]) bed.firewall(h, "closed");
    for (const n of nodes) bed.firewall(n, { allowTcp: [NATS_PORT, ROUTE_PORT] });

    const scheduler = await startScheduler(bed, "n1", url("n1"), "home");
    const workers = ["desk", "laptop"].map((h) => startWorker(bed!, h, url("n2"), "home"));
    await Promise.all(["desk", "laptop"].map((h) => scheduler.waitFor(new RegExp(`worker ${h} joined from ${h} `), 60_000)));
    const client = bed.script("me", "test/lan/fixtures/run-client.ts", [url("n3"), "home", String(N), String(TASK_MS)]);
    await client.waitFor(/@@progress 100\b/, 90_000);
    // Each process is on the node it listed first: as the servers see it (connz), and as ts-dask info
    // (from `me`, through n3) and the dashboard say, from what the processes report. All at once,
    // while the client still runs.
    const [conns, before, snap] = await Promise.all([Promise.all(nodes.map(async (n) => [n, (await connz(bed!, n)).sort()] as const)), info(bed, "me", url("n3")), dashboard(bed, "n1")]);
    assert.is(client.proc.exitCode, null, "the run was still going when the checks were made");
    const on = Object.fromEntries(conns);
    assert.ok(on.n1.includes("ts-dask scheduler"), JSON.stringify(on));
    for (const name of ["worker desk", "worker laptop", "executor desk-0", "executor laptop-1"]) assert.ok(on.n2.includes(name), `${name} on n2: ${JSON.stringify(on)}`);
    assert.ok(on.n3.includes("ts-dask client"), JSON.stringify(on));
    assert.is(before.scheduler.nats, "n1");
    assert.equal(before.clientNodes, { n3: 1 }, JSON.stringify(before.clientNodes));
    const expected = Object.fromEntries(["worker desk", "worker laptop", "executor desk-0", "executor desk-1", "executor laptop-0", "executor laptop-1"].map((k) => [k, "n2"]));
    assert.equal(nodesOf(before), expected);
    assert.is(snap.scheduler.nats, "n1");
    assert.equal(snap.clientNodes, { n3: 1 });
    assert.equal(Object.fromEntries(snap.workers.map((w) => [w.name, w.nats])), { desk: "n2", laptop: "n2" });
    const killedAt = Date.now();
    servers.get("n2")!.proc.kill("SIGKILL");
    await servers.get("n2")!.exited;
    const m = await client.waitFor(/@@done (.*)/, 120_000);
    const result = JSON.parse(m[1]!) as { n: number; wrong: number; duplicates: number; ms: number; maxGapMs: number };
    assert.is((await withTimeout(client.exited, 20_000, "client exit")).code, 0, client.output());
    assert.is(result.n, N);
    assert.is(result.wrong, 0);
    for (const w of workers) assert.is(w.proc.exitCode, null, `worker still running:\n${w.output()}`);
    const after = [...(await connz(bed, "n1")), ...(await connz(bed, "n3"))];
    for (const name of ["worker desk", "worker laptop", "executor desk-0", "executor laptop-1"]) assert.ok(after.includes(name), `${name} moved to n1 or n3: ${JSON.stringify(after)}`);
    assert.is(scheduler.proc.exitCode, null);
    // They say so too: every worker and executor reports n1 or n3 within a few heartbeats (executors
    // busy with tasks send their figures at least every 2 s).
    const deadline = Date.now() + 20_000;
    let moved = nodesOf(await info(bed, "me", url("n3")));
    while (Object.values(moved).some((n) => n !== "n1" && n !== "n3") && Date.now() < deadline) moved = nodesOf(await info(bed, "me", url("n3")));
    assert.is(Object.keys(moved).length, 6, JSON.stringify(moved));
    for (const [who, node] of Object.entries(moved)) assert.ok(node === "n1" || node === "n3", `${who} on ${node} after n2 was killed: ${JSON.stringify(moved)}`);
    const snapAfter = await dashboard(bed, "n1");
    for (const w of snapAfter.workers) assert.ok(/^n[13]($|;)/.test(w.nats) && !w.nats.includes("n2"), `dashboard: ${w.name} on ${w.nats}`);
    console.log(`figure: 7 node n2 killed; run done ${Date.now() - killedAt} ms later (run ${result.ms} ms, longest gap ${result.maxGapMs} ms, duplicates dropped ${result.duplicates})`);
  });
}

test.run();
