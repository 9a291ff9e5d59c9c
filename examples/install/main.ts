/**
 * npm packages on every worker, as the story's `client.run(install_packages)` with pip: one call
 * runs `npm install` once per machine (per --local-directory) and on every worker that joins
 * later; tasks then import the package. Offline here: the package is a local .tgz, packed from
 * ./hello-pkg the way `npm pack` does it; `client.install(["mathjs@13"])` works the same with a
 * registry.
 *
 *   npx tsx examples/install/main.ts
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { c as tar } from "tar";
import { Client } from "ts-dask";

const work = await mkdtemp(join(tmpdir(), "tsdask-install-example-"));
const tgz = join(work, "tsdask-example-hello-0.3.0.tgz");
await tar({ gzip: true, cwd: fileURLToPath(new URL("./hello-pkg", import.meta.url)), prefix: "package", file: tgz }, ["package.json", "index.js"]);

const client = await Client.connect();
try {
  const report = await client.install(tgz, { offline: true });
  for (const [worker, r] of Object.entries(report)) console.log(`${worker}: ${r.ok ? `installed ${JSON.stringify(r.versions)}${r.npm ? "" : " (already there)"}` : r.error}`);

  const hello = async () => ((await import("tsdask-example-hello" as string)) as { hello(): string }).hello();
  for (const [executor, text] of Object.entries(await client.run(hello))) console.log(`${executor}: ${text}`);
  const fromTasks = await client.gather(client.map(async (i: number) => `${i}: ${((await import("tsdask-example-hello" as string)) as { hello(): string }).hello()}`, [1, 2, 3, 4]));
  console.log(`from ${fromTasks.length} tasks: ok`);
} finally {
  await client.close();
  await rm(work, { recursive: true, force: true });
}
