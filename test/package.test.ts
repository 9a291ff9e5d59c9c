/**
 * The package as a user installs it on another machine: `npm pack` (which builds dist/), lint the
 * tarball (publint, @arethetypeswrong/cli), then in fresh temp directories
 *   a. `npm install ./ts-dask-<v>.tgz`, a plain .mjs script under plain `node` maps on an embedded cluster;
 *   b. a .ts script under `npx tsx` with importModule of a sibling module, and `tsc --noEmit` of the
 *      consumer passes with ts-dask's types;
 *   c. `npm install -g` into a temp prefix; `ts-dask up`, `ts-dask worker`, `ts-dask info` from there.
 * Every install runs `npm install --offline` against a private cache primed in `before` from the
 * packages this checkout's own `npm ci` fetched (helpers/npm-offline.ts): no registry is needed.
 * Three installs and three clusters take a few minutes on a busy 2-core machine:
 */
// test-timeout-s: 360
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Client } from "../index.ts";
import { cli, EventWatcher, stopAllCli } from "./helpers/cli.ts";
import { withTimeout } from "./helpers/cluster.ts";
import { primeOfflineCache, type OfflineCache } from "./helpers/npm-offline.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { version: string };

/** A user's environment: the compiled package, not this checkout's sources (see test/run.mjs). */
const USER_ENV: NodeJS.ProcessEnv = { NODE_OPTIONS: undefined, TSDASK_FROM_SOURCE: undefined, FORCE_COLOR: "0", NO_COLOR: "1" };
const NPM_FLAGS = ["--no-audit", "--no-fund", "--loglevel=error"];
/** What test a installs beside the tarball, for test b's type check of the consumer. */
const CONSUMER_DEV = ["typescript@5.9", "@types/node@20"];

interface Run {
  code: number | null;
  out: string;
}

/** Runs a command to its end; output is stdout and stderr together. */
function run(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Run> {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...USER_ENV, ...opts.env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d));
  child.stderr!.on("data", (d: Buffer) => (out += d));
  const done = new Promise<Run>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out }));
  });
  return withTimeout(done, opts.timeoutMs ?? 120_000, `${cmd} ${args.join(" ")}`).catch((e: Error) => {
    child.kill("SIGKILL");
    throw new Error(`${e.message}\n${out}`);
  });
}

async function ok(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<string> {
  const r = await run(cmd, args, opts);
  assert.is(r.code, 0, `${cmd} ${args.join(" ")} exited with ${r.code}:\n${r.out}`);
  return r.out;
}

const t = suite<{ tmp: string; tgz: string; offline: OfflineCache }>("package");

t.before(async (ctx) => {
  ctx.tmp = mkdtempSync(path.join(tmpdir(), "ts-dask-package-"));
  // `npm pack` runs `prepare`, which builds dist/ from the current sources.
  await ok("npm", ["pack", "--pack-destination", ctx.tmp, "--loglevel=error"], { cwd: root, timeoutMs: 120_000 });
  const tgz = readdirSync(ctx.tmp).find((f) => f.endsWith(".tgz"));
  assert.is(tgz, `ts-dask-${pkg.version}.tgz`);
  ctx.tgz = path.join(ctx.tmp, tgz!);
  ctx.offline = await primeOfflineCache(root, path.join(ctx.tmp, "npm-cache"), CONSUMER_DEV.map((s) => s.replace(/@[^@]+$/, "")));
});

t.after(async (ctx) => {
  await stopAllCli();
  if (ctx.tmp) rmSync(ctx.tmp, { recursive: true, force: true });
});

t("the tarball passes publint and @arethetypeswrong/cli (ESM only), and ships dist/ and bin/ without tests", async ({ tmp, tgz }) => {
  const bin = path.join(root, "node_modules", ".bin");
  const lint = await ok(path.join(bin, "publint"), ["run", tgz, "--strict"], { cwd: tmp });
  assert.match(lint, "All good");
  await ok(path.join(bin, "attw"), [tgz, "--profile", "esm-only", "--format", "table"], { cwd: tmp });
  const list = await ok("tar", ["-tzf", tgz], { cwd: tmp });
  for (const f of ["package/dist/index.js", "package/dist/index.d.ts", "package/dist/bundle/index.js.map", "package/dist/actors/executor/main.js", "package/dist/actors/executor/main.bundle.js", "package/dist/cli/bundle/main.js", "package/dist/bundle/index.js", "package/dist/runtime/tether.mjs", "package/dist/runtime/shipping/resolve-hook.mjs", "package/dist/actors/scheduler/observation/dashboard/static/index.html", "package/bin/ts-dask.mjs"]) {
    assert.ok(list.includes(f + "\n"), `${f} is not in the tarball`);
  }
  assert.not.match(list, /package\/test\//, "tests are not shipped");
});

t("a: installed from the tarball (npm install --offline), a plain .mjs script under plain node maps on an embedded cluster run by compiled JavaScript", async ({ tmp, tgz, offline }) => {
  const proj = path.join(tmp, "project");
  mkdirSync(proj);
  writeFileSync(path.join(proj, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  // typescript and @types/node are for test b (the consumer's own type check), in the same project.
  await ok("npm", ["install", tgz, ...CONSUMER_DEV, ...offline.flags, ...NPM_FLAGS], { cwd: proj, timeoutMs: 240_000 });
  writeFileSync(
    path.join(proj, "a.mjs"),
    [
      `import { Client, DataRef } from "ts-dask";`,
      `const client = await Client.connect();`,
      `console.log("squares", JSON.stringify(await client.gather(client.map((x) => x * x, [1, 2, 3, 4]))));`,
      `// A DataRef made by a task's own import of ts-dask passes the executor's (bundled) codec as one.`,
      `const ref = await client.submit(async () => (await (await import("ts-dask")).getWorker().client()).scatter([5, 6])).result();`,
      `console.log("ref", ref instanceof DataRef, JSON.stringify(await client.submit((xs) => xs.length, ref).result()));`,
      `console.log("future", JSON.stringify(await client.submit(async () => { const t = await import("ts-dask"); const f = (await t.getWorker().client()).submit((x) => x * 2, 21); return [f instanceof t.Future, await f.result()]; }).result()));`,
      `console.log("executor", JSON.stringify(await client.submit(() => ({ argv: process.argv[1], execArgv: process.execArgv })).result()));`,
      `try {`,
      `  await client.submit(function fails() { throw new Error("boom"); }).result();`,
      `} catch (e) { console.log("stack", e.stack); }`,
      `await client.uploadFile("./greet.ts");`,
      `console.log("upload", await client.submit(async () => (await import("greet")).greet("ts")).result());`,
      `await client.close();`,
    ].join("\n"),
  );
  // An uploaded .ts file: the executor loads the TypeScript loader for it (and only then).
  writeFileSync(path.join(proj, "greet.ts"), `export function greet(who: string): string {\n  return "hello " + who;\n}\n`);
  const out = await ok(process.execPath, ["a.mjs"], { cwd: proj, timeoutMs: 60_000 });
  assert.match(out, "squares [1,4,9,16]");
  const exec = JSON.parse(/^executor (.*)$/m.exec(out)![1]!) as { argv: string; execArgv: string[] };
  assert.is(exec.argv, path.join(proj, "node_modules", "ts-dask", "dist", "actors", "executor", "main.bundle.js"), "the executor runs the installed, compiled one-file bundle");
  assert.match(out, "ref true 2");
  assert.match(out, "future [true,42]");
  assert.not.ok(exec.execArgv.join(" ").includes("tsx"), `no tsx loader in the executor: ${exec.execArgv.join(" ")}`);
  assert.match(out, `${path.join(proj, "a.mjs")}:10`, "the remote stack names the user's line");
  assert.match(out, "upload hello ts");
});

t("b: a .ts script under npx tsx imports a sibling module on the cluster, and tsc --noEmit of the consumer passes", async ({ tmp }) => {
  const proj = path.join(tmp, "project");
  writeFileSync(path.join(proj, "tsconfig.json"), JSON.stringify({ compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, noEmit: true, allowImportingTsExtensions: true, types: ["node"] }, include: ["*.ts"] }));
  writeFileSync(path.join(proj, "scoring.ts"), `export function score(x: number): number {\n  if (x < 0) throw new RangeError("negative input");\n  return x * 10;\n}\n`);
  writeFileSync(
    path.join(proj, "b.ts"),
    [
      `import { Client, type Future, type TaskError } from "ts-dask";`,
      `const client = await Client.connect();`,
      `const m = await client.importModule<typeof import("./scoring.ts")>("./scoring.ts");`,
      `const f: Future<number> = client.submit(m.score, 4);`,
      `console.log("score", await f.result());`,
      `// @ts-expect-error score takes a number: the handle keeps the module's types`,
      `client.submit(m.score, "4").cancel();`,
      `try {`,
      `  await client.submit(m.score, -1).result();`,
      `} catch (e) { console.log("stack", (e as TaskError).stack); }`,
      `await client.close();`,
    ].join("\n"),
  );
  await ok(path.join(proj, "node_modules", ".bin", "tsc"), ["--noEmit", "-p", "."], { cwd: proj, timeoutMs: 60_000 });
  // TypeScript 6+ loads no @types package unless asked (`types` defaults to []): ts-dask's own
  // declarations must still find Node's types (they name NodeJS, Buffer) when the consumer lists none.
  writeFileSync(path.join(proj, "tsconfig.notypes.json"), JSON.stringify({ extends: "./tsconfig.json", compilerOptions: { types: [] }, include: ["c.ts"] }));
  writeFileSync(path.join(proj, "c.ts"), `import { Client, getWorker } from "ts-dask";\nimport type { WorkerInfo } from "ts-dask/worker";\nexport const connect: () => Promise<Client> = () => Client.connect();\nexport const where: () => WorkerInfo = getWorker;\n`);
  await ok(path.join(proj, "node_modules", ".bin", "tsc"), ["--noEmit", "-p", "tsconfig.notypes.json"], { cwd: proj, timeoutMs: 60_000 });
  const out = await ok("npx", ["--no-install", "tsx", "b.ts"], { cwd: proj, timeoutMs: 60_000 });
  assert.match(out, "score 40");
  assert.match(out, `${path.join(proj, "scoring.ts")}:2`, "the remote stack names the line of the user's .ts module");
});

t("c: installed globally (npm install -g --offline into a prefix): ts-dask up, ts-dask worker and ts-dask info", async ({ tmp, tgz, offline }) => {
  const prefix = path.join(tmp, "global");
  await ok("npm", ["install", "-g", "--prefix", prefix, tgz, ...offline.flags, ...NPM_FLAGS], { cwd: tmp, timeoutMs: 240_000 });
  const command = path.join(prefix, "bin", "ts-dask");
  const env = { ...USER_ENV, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH}` };
  const up = cli(["up", "--nprocs", "2", "--dashboard-address", "none", "--local-directory", path.join(tmp, "up")], env, { command, cwd: tmp });
  const [, url, cluster] = (await up.waitFor(/connect:\s+Client\.connect\("(nats:\/\/[^"]+)", \{ cluster: "([^"]+)" \}\)/, 60_000)) as unknown as [string, string, string];
  assert.not.match(url, ":4222");
  const watch = await EventWatcher.start(url, cluster);
  try {
    const worker = cli(["worker", url, "--cluster", cluster, "--nprocs", "1", "--name", "Extra", "--local-directory", path.join(tmp, "extra")], env, { command, cwd: tmp });
    await watch.until((e) => e.type === "executor-joined" && (e as { name?: string }).name === "Extra-0");
    const info = cli(["info", url, "--cluster", cluster], env, { command, cwd: tmp });
    assert.is(await withTimeout(info.exited, 30_000, "ts-dask info"), 0, info.output());
    assert.match(info.output(), "Extra-0");
    const client = await Client.connect(url, { cluster });
    try {
      const lines = Object.values(await client.run(() => process.argv[1] + " " + process.execArgv.join(" ")));
      assert.is(lines.length, 3, "two executors from up, one from the worker");
      for (const l of lines) {
        assert.ok(l.startsWith(path.join(prefix, "lib", "node_modules", "ts-dask", "dist", "actors", "executor", "main.bundle.js")), l);
        assert.not.ok(l.includes("tsx"), l);
      }
      // The scheduler (and the supervisor, in the same `up` process) runs the installed compiled
      // JavaScript: the frames that call a function run on the scheduler are in the CLI's bundle
      // (dist/cli/bundle/, tools/bundle.mjs).
      const stack = await client.runOnScheduler(() => new Error("where am I").stack ?? "");
      assert.match(stack, path.join(prefix, "lib", "node_modules", "ts-dask", "dist", "cli", "bundle") + path.sep);
      assert.not.match(stack, /node_modules\/ts-dask\/[^\s)]*\.ts:\d+/, stack);
    } finally {
      await client.close();
    }
    assert.is(await worker.stop("SIGTERM"), 0, worker.output());
    assert.is(await up.stop("SIGINT"), 0, up.output());
  } finally {
    await watch.close();
  }
});

t.run();
