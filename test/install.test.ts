/**
 * client.install(): npm install into each worker's local directory, once per directory (workers
 * sharing one take turns), replayed to late joiners, failures reported per worker. Offline: the
 * package is a fixture packed with `npm pack` at test time.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { connect } from "nats";
import { decode, encode } from "../runtime/codec.ts";
import { subjects, type RegisterReply } from "../runtime/protocol.ts";
import { hello } from "../runtime/version.ts";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { silentLogger } from "../runtime/actor.ts";
import { spawnNpm } from "../runtime/platform.ts";
import { Client, Supervisor } from "../index.ts";
import { childExit, cleanup, onCleanup, withTimeout } from "./helpers/cluster.ts";

const FIXTURE = fileURLToPath(new URL("./fixtures/install/tsdask-fixture-greet", import.meta.url));
const USES_GREET = fileURLToPath(new URL("./fixtures/install/uses-greet.ts", import.meta.url));

const t = suite<{ client: Client; dir: string; shared: string; tgz: string }>("install");
t.before(async (ctx) => {
  ctx.dir = await mkdtemp(join(tmpdir(), "tsdask-install-"));
  ctx.shared = join(ctx.dir, "shared");
  // npm pack the fixture into the temp directory.
  const pack = spawnNpm(["pack", FIXTURE, "--pack-destination", ctx.dir, "--silent"], { cwd: ctx.dir, env: process.env })!;
  let out = "";
  pack.stdout!.on("data", (d: Buffer) => (out += d));
  pack.stderr!.on("data", (d: Buffer) => (out += d));
  const { code } = await withTimeout(childExit(pack), 60_000, "npm pack");
  assert.is(code, 0, out);
  ctx.tgz = join(ctx.dir, "tsdask-fixture-greet-1.0.0.tgz");
  assert.ok(existsSync(ctx.tgz), out);
  ctx.client = await withTimeout(Client.connect(undefined, { local: { nprocs: 1, name: "wa", localDirectory: ctx.shared, quiet: true } }), 60_000, "embedded cluster start");
  const lc = ctx.client.localCluster!;
  // A second worker on the same machine, sharing the local directory.
  const wb = await Supervisor.start({ servers: lc.url, cluster: lc.cluster, name: "wb", nprocs: 1, nthreads: 1, memoryLimit: 0, deathTimeoutMs: 30_000, localDirectory: ctx.shared, log: silentLogger });
  onCleanup(() => wb.shutdown());
  await withTimeout(wb.ready, 60_000, "worker wb ready");
});
t.after(async (ctx) => {
  await ctx.client?.close();
  await cleanup();
});

const greet = async (who: string) => {
  const name = "tsdask-fixture-greet";
  return ((await import(name)) as { greet(w: string): string }).greet(who);
};

t("a module importing a package the workers lack: PackageNotInstalled, naming client.install", async ({ client }) => {
  const mod = await client.importModule<typeof import("./fixtures/install/uses-greet.ts")>(USES_GREET);
  const errors = await withTimeout(Promise.all(client.map(mod.hello, ["a", "b", "c", "d"]).map((f) => f.exception())), 30_000, "failing loads");
  for (const e of errors) {
    assert.is((e as { code?: string })?.code, "PackageNotInstalled", String(e));
    assert.match((e as Error).message, `Package 'tsdask-fixture-greet', imported by`);
    assert.match((e as Error).message, `client.install(["tsdask-fixture-greet"])`);
  }
  // A task's own import() of it: the same advice.
  const own = await withTimeout(client.submit(greet, "x").exception(), 30_000, "a task importing it");
  assert.is(own?.code, "PackageNotInstalled", String(own));
  assert.match(own!.message, `package 'tsdask-fixture-greet' is not installed there`);
  assert.match(own!.message, `client.install(["tsdask-fixture-greet"])`);
  // Every executor tries (and fails) before the install in the next test.
  const before = await withTimeout(client.run(mod.hello, "r").then(() => undefined, (e: Error) => e), 30_000, "run before install");
  assert.match(String(before), "tsdask-fixture-greet");
});

t("install from a local .tgz: two workers sharing a directory run npm once; tasks on every executor import it", async ({ client, shared, tgz }) => {
  const report = await withTimeout(client.install(tgz, { offline: true }), 120_000, "install");
  assert.equal(Object.keys(report).sort(), ["wa", "wb"]);
  for (const r of Object.values(report)) {
    assert.ok(r.ok, JSON.stringify(r));
    if (r.ok) assert.is(r.version, "1.0.0");
  }
  const ran = Object.values(report).filter((r) => r.ok && r.npm).length;
  assert.is(ran, 1, `exactly one worker ran npm: ${JSON.stringify(report)}`);
  const state = JSON.parse(readFileSync(join(shared, ".ts-dask", "installs.json"), "utf8")) as { npmRuns: number };
  assert.is(state.npmRuns, 1, "one npm run in the shared directory");
  assert.ok(existsSync(join(shared, "node_modules", "tsdask-fixture-greet", "package.json")));

  const out = await withTimeout(client.run(greet, "x"), 30_000, "run on every executor");
  assert.equal(out, { "wa-0": "hello x from tsdask-fixture-greet", "wb-0": "hello x from tsdask-fixture-greet" });
  assert.equal(await withTimeout(client.gather(client.map(greet, ["a", "b", "c"])), 30_000, "tasks"), ["a", "b", "c"].map((w) => `hello ${w} from tsdask-fixture-greet`));

  // Installing the same again: nobody runs npm.
  const again = await withTimeout(client.install(tgz, { offline: true }), 60_000, "install again");
  assert.ok(Object.values(again).every((r) => r.ok && !r.npm), JSON.stringify(again));
});

t("a worker that no longer listens when an install reaches it is counted as left once it leaves, not as failed", async ({ client, tgz }) => {
  // A registered worker that beats until the install is fanned out (seen on a real worker's install
  // subject, asked in the same turn) and never listens: what the scheduler sees of a worker that
  // closed its connection (stopping) just before. NATS answers its install "no responders" at once.
  const lc = client.localCluster!;
  const s = subjects(lc.cluster);
  const nc = await connect({ servers: client.address, token: lc.token });
  try {
    const instance = `ghost-${randomBytes(4).toString("hex")}`;
    const reg = decode<RegisterReply>((await nc.request(s.register, encode({ kind: "worker", hello: hello(), name: "ghostw", instance, host: "elsewhere", pid: 1, platform: "linux", nprocs: 1, nthreads: 1, memoryLimit: 0 }), { timeout: 5000 })).data);
    assert.ok(reg.ok && reg.auth, JSON.stringify(reg));
    const beat = () => nc.publish(s.heartbeat, encode({ id: instance, kind: "worker", auth: reg.ok ? reg.auth : "", running: 0, queued: 0, rss: 1, executors: [] }));
    beat();
    const beating = setInterval(beat, 100);
    const real = (await client.info()).workers.find((w) => w.name === "wa")!.instance;
    nc.subscribe(s.workerInstall(real), { max: 1, callback: () => clearInterval(beating) });
    await nc.flush();
    const report = await withTimeout(client.install(tgz, { offline: true }), 120_000, "install with a departing worker").finally(() => clearInterval(beating));
    const ghost = report["ghostw"];
    assert.ok(ghost?.ok && typeof ghost.left === "string", `counted as left: ${JSON.stringify(report)}`);
    assert.equal(Object.keys(report).sort(), ["ghostw", "wa", "wb"]);
  } finally {
    await nc.close();
  }
});

t("after the install, the module that failed to load loads on the same executors (no restart)", async ({ client }) => {
  const mod = await client.importModule<typeof import("./fixtures/install/uses-greet.ts")>(USES_GREET);
  assert.equal(await withTimeout(client.run(mod.hello, "r"), 30_000, "run after install"), { "wa-0": "hello r from tsdask-fixture-greet", "wb-0": "hello r from tsdask-fixture-greet" });
  assert.equal(await withTimeout(client.gather(client.map(mod.hello, ["x", "y", "z"])), 30_000, "map after install"), ["x", "y", "z"].map((w) => `hello ${w} from tsdask-fixture-greet`));
});

t("a worker that joins later installs before its executors start", async ({ client, dir }) => {
  const lc = client.localCluster!;
  const late = join(dir, "late");
  const wc = await Supervisor.start({ servers: lc.url, cluster: lc.cluster, name: "wc", nprocs: 1, nthreads: 1, memoryLimit: 0, deathTimeoutMs: 30_000, localDirectory: late, log: silentLogger });
  onCleanup(() => wc.shutdown());
  await withTimeout(wc.ready, 120_000, "late worker ready");
  assert.ok(existsSync(join(late, "node_modules", "tsdask-fixture-greet")), "installed before the executors were ready");
  const out = await withTimeout(client.runOn(["wc-0"], greet, "late"), 30_000, "run on the late worker");
  assert.equal(out, { "wc-0": "hello late from tsdask-fixture-greet" });
});

t("a failing install (no such package file) rejects with InstallFailed naming every worker, with npm's output", async ({ client, dir }) => {
  try {
    await withTimeout(client.install(join(dir, "does-not-exist-9.9.9.tgz"), { offline: true }), 120_000, "failing install");
    assert.unreachable("should have failed");
  } catch (e) {
    const err = e as Error & { code?: string; report?: Record<string, { ok: boolean; error?: string }> };
    assert.is(err.code, "InstallFailed", err.message);
    assert.equal(Object.keys(err.report ?? {}).sort(), ["wa", "wb", "wc"]);
    for (const [who, r] of Object.entries(err.report!)) {
      assert.not.ok(r.ok);
      assert.match(err.message, `--- ${who}: npm exited with code`);
      assert.match(r.error!, "does-not-exist-9.9.9.tgz");
    }
    assert.match(err.message, "failed on 3 of 3 worker(s)");
  }
});

t.run();
