#!/usr/bin/env node
// `npm run build`: compiles ts-dask to dist/ (ES modules, .d.ts, source maps) with tsc
// (tsconfig.build.json), then copies the files tsc does not emit: the plain-JavaScript modules
// (.mjs: the tether keeper, the executors' resolve hook) and the dashboard's static files.
// dist/ mirrors the source tree, so `new URL("./x", import.meta.url)` finds the same neighbours.
// Last, the executor's and the CLI's entries are bundled (tools/bundle.mjs): their processes boot faster.
import { spawnSync } from "node:child_process";
import { cpSync, readdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { bundleAll } from "./bundle.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = path.join(root, "dist");
const SOURCE_DIRS = ["runtime", "actors", "client", "cluster", "cli", "workloads"];

rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const r = spawnSync(process.execPath, [tsc, "-p", path.join(root, "tsconfig.build.json")], { cwd: root, stdio: "inherit" });
if (r.status !== 0) {
  console.error(`build: tsc failed (exit ${r.status ?? r.signal})`);
  process.exit(1);
}

/** Every file under `dir` that tsc does not handle (not .ts, not documentation). */
function assets(dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...assets(full));
    else if (!/\.(?:ts|md)$/.test(e.name)) out.push(full);
  }
  return out;
}
let copied = 0;
for (const d of SOURCE_DIRS) {
  for (const file of assets(path.join(root, d))) {
    cpSync(file, path.join(dist, path.relative(root, file)));
    copied++;
  }
}
const b = await bundleAll(dist);
console.log(`build: dist/ written (${copied} asset files copied; bundles: executor ${b.executor.modules} modules ${b.executor.kib} KiB, cli ${b.cli.modules} modules ${b.cli.kib} KiB, index ${b.index.modules} modules ${b.index.kib} KiB)`);
