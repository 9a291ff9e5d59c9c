/**
 * client.uploadFile(): code to every executor (also late joiners), new versions replace old ones
 * including their sibling modules, archives (.zip/.tgz) and the zip-slip guard.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { connect } from "nats";
import { mkdir, mkdtemp, readdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { zipSync } from "fflate";
import { c as tarCreate } from "tar";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { silentLogger } from "../runtime/actor.ts";
import { bytesHash, putBytes } from "../runtime/data-transfer.ts";
import { subjects, type RegisterReply, type UploadDef, type UploadReply } from "../runtime/protocol.ts";
import { hello } from "../runtime/version.ts";
import { decode, encode } from "../runtime/codec.ts";
import { Client, Supervisor } from "../index.ts";
import { cleanup, onCleanup, waitFor, withTimeout } from "./helpers/cluster.ts";

const t = suite<{ client: Client; dir: string; localDir: string }>("upload");
t.before(async (ctx) => {
  ctx.dir = await mkdtemp(join(tmpdir(), "tsdask-upload-"));
  ctx.localDir = join(ctx.dir, "worker");
  ctx.client = await withTimeout(Client.connect(undefined, { local: { nprocs: 2, localDirectory: ctx.localDir, quiet: true } }), 60_000, "embedded cluster start");
});
t.after(async (ctx) => {
  await ctx.client?.close();
  await cleanup();
});

/** my_module: package.json + index.ts importing a sibling helpers.ts. */
async function writeMyModule(dir: string, version: number) {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "package.json"), JSON.stringify({ name: "my_module", version: `${version}.0.0`, type: "module", exports: "./index.ts" }));
  await writeFile(join(dir, "index.ts"), `import { tag } from "./helpers.ts";\nexport const describe = (x: number): string => tag(x) + "/index-v${version}";\n`);
  await writeFile(join(dir, "helpers.ts"), `export const tag = (x: number): string => "helper-v${version}:" + x * ${version};\n`);
}

// A non-literal specifier: the upload exists on the workers only, not for the type checker here.
const callMyModule = async (x: number) => {
  const name = "my_module";
  return ((await import(name)) as { describe(x: number): string }).describe(x);
};

t("a package folder whose entry imports a sibling: upload, call, change, upload again, new behaviour everywhere (also a late joiner)", async ({ client, dir, localDir }) => {
  const src = join(dir, "src", "my_module");
  await writeMyModule(src, 1);
  const r1 = await withTimeout(client.uploadFile(src), 60_000, "upload v1");
  assert.is(r1.name, "my_module");
  assert.equal(Object.keys(r1.executors), ["local-0", "local-1"]);
  assert.ok(Object.values(r1.executors).every((o) => o.ok));
  assert.ok(existsSync(join(localDir, "uploads", "my_module", r1.hash, "node_modules", "my_module", "helpers.ts")), "unpacked into a content-hashed directory");
  const xs = [1, 2, 3, 4, 5, 6];
  assert.equal(await withTimeout(client.gather(client.map(callMyModule, xs)), 30_000, "v1 tasks"), xs.map((x) => `helper-v1:${x}/index-v1`));

  const idsBefore = (await client.info()).workers[0]!.executors.map((e) => e.id).sort();
  await writeMyModule(src, 2);
  const r2 = await withTimeout(client.uploadFile(src), 60_000, "upload v2");
  assert.is.not(r2.hash, r1.hash);
  assert.equal(await withTimeout(client.gather(client.map(callMyModule, xs)), 60_000, "v2 tasks"), xs.map((x) => `helper-v2:${x * 2}/index-v2`));
  // Both versions stay on disk, side by side; the processes that had v1 are recycled.
  assert.equal((await readdir(join(localDir, "uploads", "my_module"))).sort(), [r1.hash, r2.hash].sort());
  await waitFor(
    async () => {
      const now = (await client.info()).workers[0]!.executors.map((e) => e.id);
      return now.length === 2 && now.every((id) => !idsBefore.includes(id));
    },
    { timeoutMs: 30_000, label: "both executors recycled after the replacing upload" },
  );

  // A module loaded by reference may import the upload too.
  const uses = join(dir, "src", "uses.ts");
  await writeFile(uses, `import { describe } from "my_module";\nexport const viaModule = (x: number): string => "via:" + describe(x);\n`);
  const m = await client.importModule<{ viaModule(x: number): string }>(uses);
  assert.is(await withTimeout(client.submit(m.viaModule, 5).result(), 30_000, "importModule task"), "via:helper-v2:10/index-v2");

  // A worker that joins after the upload gets the newest version before it runs anything.
  const lc = client.localCluster!;
  const late = await Supervisor.start({ servers: lc.url, cluster: lc.cluster, name: "late", nprocs: 1, nthreads: 1, memoryLimit: 0, deathTimeoutMs: 30_000, localDirectory: join(dir, "late"), log: silentLogger });
  onCleanup(() => late.shutdown());
  await withTimeout(late.ready, 60_000, "late worker ready");
  const out = await withTimeout(client.runOn(["late-0"], callMyModule, 3), 30_000, "run on the late worker");
  assert.equal(out, { "late-0": "helper-v2:6/index-v2" });
});

t("a single .ts file is importable by its base name", async ({ client, dir }) => {
  const file = join(dir, "src", "tiny_mod.ts");
  await writeFile(file, `export const answer = (): number => 42;\n`);
  const r = await withTimeout(client.uploadFile(file), 60_000, "upload tiny_mod.ts");
  assert.is(r.name, "tiny_mod");
  const v = await client.submit(async () => {
    const name = "tiny_mod";
    return ((await import(name)) as { answer(): number }).answer();
  }).result();
  assert.is(v, 42);
});

t("re-uploading a changed file keeps only the current version's bytes in the scheduler", async ({ client, dir }) => {
  const file = join(dir, "src", "versioned_mod.ts");
  await writeFile(file, `export const v = (): number => 1;\n`);
  await withTimeout(client.uploadFile(file), 60_000, "upload v1");
  const held = (await client.info()).data;
  for (let v = 2; v <= 4; v++) {
    await writeFile(file, `export const v = (): number => ${v};\n`);
    await withTimeout(client.uploadFile(file), 60_000, `upload v${v}`);
  }
  const after = (await client.info()).data;
  assert.is(after.values, held.values, "one version held, not four");
  const v = await client.submit(async (name: string) => ((await import(name)) as { v(): number }).v(), "versioned_mod").result();
  assert.is(v, 4);
});

t("an executor whose connection is already gone when an upload reaches it (no responders) is counted as left once it leaves, not as failed", async ({ client, dir }) => {
  // A registered executor that never subscribes its upload subject: what the scheduler sees of one
  // that closed its connection (recycled, retiring) just before the upload and whose departure is
  // not known yet. NATS answers the upload "no responders" at once.
  const s = subjects(client.localCluster!.cluster);
  const nc = await connect({ servers: client.address, token: client.localCluster!.token });
  try {
    const ask = async (m: unknown) => decode<RegisterReply>((await nc.request(s.register, encode(m), { timeout: 5000 })).data);
    const instance = `gone-${randomBytes(4).toString("hex")}`;
    const w = await ask({ kind: "worker", hello: hello(), name: "Gone", instance, host: "elsewhere", pid: 1, platform: "linux", nprocs: 1, nthreads: 1, memoryLimit: 0 });
    assert.ok(w.ok, JSON.stringify(w));
    const id = `${instance}-x`;
    const e = await ask({ kind: "executor", hello: hello(), id, name: "Gone-0", worker: instance, index: 0, nthreads: 1, pid: 1 });
    assert.ok(e.ok && e.auth, JSON.stringify(e));
    // It beats until the scheduler fans the upload out (seen on a real executor's upload subject,
    // asked in the same turn as this one's), so the scheduler still counts it among the running
    // executors then; silent after, it is judged dead ~2.25 s later.
    const beat = () => nc.publish(s.heartbeat, encode({ id, kind: "executor", auth: e.ok ? e.auth : "", running: 0, queued: 0, rss: 1 }));
    beat();
    const beating = setInterval(beat, 100);
    // A real executor running (not being recycled by an earlier test's upload) is asked in that turn.
    let real = "";
    await waitFor(async () => !!(real = (await client.info()).workers.flatMap((x) => x.executors).find((y) => y.id !== id && y.state === "running")?.id ?? ""), { timeoutMs: 30_000, label: "a real executor running" });
    nc.subscribe(s.execUpload(real), { max: 1, callback: () => clearInterval(beating) });
    await nc.flush();
    const file = join(dir, "src", "left_mod.ts");
    await writeFile(file, `export const left = (): number => 7;\n`);
    const r = await withTimeout(client.uploadFile(file), 60_000, "upload with a departing executor").finally(() => clearInterval(beating));
    const gone = r.executors["Gone-0"];
    assert.ok(gone?.ok && typeof gone.left === "string", `counted as left: ${JSON.stringify(r.executors)}`);
    assert.equal(Object.values(r.executors).filter((o) => !o.ok), [], "no executor failed");
  } finally {
    await nc.close();
  }
});

t("a .zip (with a top folder) and a .tgz (npm pack layout) of a package", async ({ client, dir }) => {
  const enc = (s: string) => new TextEncoder().encode(s);
  const zip = zipSync({
    "zpkg/package.json": enc(JSON.stringify({ name: "zip_pkg", type: "module", main: "index.js" })),
    "zpkg/index.js": enc(`import { two } from "./lib/two.js";\nexport const plusTwo = (x) => x + two;\n`),
    "zpkg/lib/two.js": enc(`export const two = 2;\n`),
  });
  const zipFile = join(dir, "zip_pkg.zip");
  await writeFile(zipFile, zip);
  const tdir = join(dir, "tgz-src", "package");
  await mkdir(tdir, { recursive: true });
  await writeFile(join(tdir, "package.json"), JSON.stringify({ name: "tgz_pkg", type: "module", exports: { ".": "./main.js" } }));
  await writeFile(join(tdir, "main.js"), `export const times3 = (x) => x * 3;\n`);
  const tgzFile = join(dir, "tgz_pkg-1.0.0.tgz");
  await tarCreate({ gzip: true, cwd: join(dir, "tgz-src"), file: tgzFile }, ["package"]);

  assert.is((await withTimeout(client.uploadFile(zipFile), 60_000, "upload zip")).name, "zip_pkg");
  assert.is((await withTimeout(client.uploadFile(tgzFile), 60_000, "upload tgz")).name, "tgz_pkg");
  const both = async (x: number) => {
    const [zn, gn] = ["zip_pkg", "tgz_pkg"];
    const z = (await import(zn)) as { plusTwo(x: number): number };
    const g = (await import(gn)) as { times3(x: number): number };
    return g.times3(z.plusTwo(x));
  };
  assert.equal(await withTimeout(client.gather(client.map(both, [1, 2, 3])), 30_000, "archive tasks"), [9, 12, 15]);
});

t("an archive with an entry outside its folder (zip-slip) is refused with a clear error, nothing written", async ({ client, dir }) => {
  const enc = (s: string) => new TextEncoder().encode(s);
  const evil = join(dir, "evil.zip");
  await writeFile(evil, zipSync({ "package.json": enc(JSON.stringify({ name: "evil_pkg" })), "../../escaped.js": enc("export const x = 1;") }));
  try {
    await client.uploadFile(evil);
    assert.unreachable("should have been refused");
  } catch (e) {
    assert.is((e as { code?: string }).code, "UnsafeArchivePath");
    assert.match((e as Error).message, "'../../escaped.js'");
    assert.match((e as Error).message, "zip-slip");
  }
  assert.not.ok(existsSync(join(dir, "..", "escaped.js")));
  assert.not.ok(existsSync(join(dir, "escaped.js")));
});

t("a folder without package.json, or a missing path, is refused (BadUpload)", async ({ client, dir }) => {
  const bare = join(dir, "no-package");
  await mkdir(bare, { recursive: true });
  await writeFile(join(bare, "index.ts"), "export const a = 1;\n");
  for (const p of [bare, join(dir, "nope.ts")]) {
    try {
      await client.uploadFile(p);
      assert.unreachable();
    } catch (e) {
      assert.is((e as { code?: string }).code, "BadUpload", (e as Error).message);
    }
  }
});

t("executors check archives too: a zip-slip archive sent past the client is refused on each executor, reported by name", async ({ client }) => {
  const enc = (s: string) => new TextEncoder().encode(s);
  const bytes = zipSync({ "package.json": enc(JSON.stringify({ name: "sneaky_pkg" })), "a/../../../escaped.js": enc("1") });
  const hash = bytesHash(bytes);
  await putBytes(client.tx, client.subjects, client.id, bytes, hash, { fail: (m) => new Error(m), auth: (client as unknown as { auth: string }).auth });
  const upload: UploadDef = { name: "sneaky_pkg", hash, size: bytes.byteLength, kind: "zip", file: "sneaky.zip" };
  // Earlier uploads recycled both executors; one may come back (from the worker's standby) well before the other.
  await waitFor(async () => ((await client.info()).workers.find((w) => w.name === "local")?.executors.length ?? 0) >= 2, { timeoutMs: 30_000, label: "both executors back after the recycles" });
  const r = await withTimeout(client.tx.request<UploadReply>(client.subjects.upload, { client: client.id, auth: (client as unknown as { auth: string }).auth, upload }, 30_000), 40_000, "raw upload");
  assert.ok(r.ok);
  if (!r.ok) return;
  const outcomes = Object.entries(r.executors);
  assert.ok(outcomes.length >= 2);
  for (const [, o] of outcomes) {
    assert.not.ok(o.ok);
    if (!o.ok) assert.match(o.error, "zip-slip");
  }
});

t("an executor that cannot unpack makes uploadFile reject with UploadFailed naming it; the others have the upload", async ({ client, dir }) => {
  const lc = client.localCluster!;
  const notADir = join(dir, "not-a-directory");
  await writeFile(notADir, "a file where the worker's local directory should be");
  const broken = await Supervisor.start({ servers: lc.url, cluster: lc.cluster, name: "broken", nprocs: 1, nthreads: 1, memoryLimit: 0, deathTimeoutMs: 30_000, localDirectory: notADir, log: silentLogger });
  onCleanup(() => broken.shutdown());
  await withTimeout(broken.ready, 60_000, "broken worker ready");
  const file = join(dir, "src", "partial_mod.ts");
  await writeFile(file, `export const one = (): number => 1;\n`);
  try {
    await withTimeout(client.uploadFile(file), 60_000, "upload with one failing executor");
    assert.unreachable("should have failed on broken-0");
  } catch (e) {
    const err = e as Error & { code?: string; report?: Record<string, { ok: boolean; error?: string }> };
    assert.is(err.code, "UploadFailed", err.message);
    assert.match(err.message, "Upload of 'partial_mod' failed on 1 of");
    assert.match(err.message, "broken-0: ");
    assert.not.ok(err.report!["broken-0"]!.ok);
    assert.ok(err.report!["local-0"]!.ok && err.report!["local-1"]!.ok);
  }
  await broken.shutdown();
});

t("an executor that exits before answering an upload does not hold uploadFile for its 2-minute timeout; its replacement gets the upload", async ({ client, dir }) => {
  const marker = join(dir, "busy-started");
  // Busy in a synchronous body (the upload order waits unread in its socket), then the process exits.
  // A retry of the task (the scheduler re-runs a task whose executor died) finds the marker and returns.
  const dying = client.submit(async (m: string) => {
    const fs = await import("node:fs");
    if (fs.existsSync(m)) return "second run";
    fs.writeFileSync(m, "");
    const t0 = Date.now();
    while (Date.now() - t0 < 3000);
    process.exit(7);
  }, marker);
  await waitFor(() => existsSync(marker), { timeoutMs: 30_000, label: "the task that will exit is running" });
  const file = join(dir, "src", "after_exit_mod.ts");
  await writeFile(file, `export const seven = (): number => 7;\n`);
  const r = await withTimeout(client.uploadFile(file), 60_000, "upload while one executor is about to exit");
  const left = Object.entries(r.executors).filter(([, o]) => o.ok && o.left);
  assert.is(left.length, 1, JSON.stringify(r.executors));
  assert.ok(Object.values(r.executors).every((o) => o.ok));
  assert.is(await withTimeout(dying.result(), 60_000, "the retried task"), "second run");
  // Every executor now, the replacement included, has the upload.
  const names = (await client.info()).workers.find((w) => w.name === "local")!.executors.map((e) => e.name);
  const out = await withTimeout(client.runOn(names, async () => ((await import("after_exit_mod" as string)) as { seven(): number }).seven()), 30_000, "run on every executor");
  assert.equal(Object.values(out), names.map(() => 7));
});

t.run();
