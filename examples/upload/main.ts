/**
 * Code to the workers, as Dask's `client.upload_file('my_module.py')`: upload a package folder
 * (package.json + index.ts importing a sibling helpers.ts), call it from tasks, change it, upload
 * it again, and every worker uses the new version — the sibling file included.
 *
 *   npx tsx examples/upload/main.ts
 */
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "ts-dask";

// Work on a copy, so the example can edit it.
const work = await mkdtemp(join(tmpdir(), "tsdask-upload-example-"));
const dir = join(work, "my_module");
await cp(new URL("./my_module", import.meta.url), dir, { recursive: true });

const client = await Client.connect();
try {
  // Self-contained: it imports the upload by name on the worker (the type comes from the local copy).
  const score = async (x: number) => {
    const m: typeof import("./my_module/index.ts") = await import("my_module" as string);
    return m.score(x);
  };
  const xs = [1, 2, 3, 4, 5];

  const first = await client.uploadFile(dir);
  console.log(`uploaded ${first.name} (${first.hash.slice(0, 12)}) to ${Object.keys(first.executors).join(", ")}`);
  console.log(`scores: ${(await client.gather(client.map(score, xs))).join(", ")}`);

  // Change the sibling module and upload again: a new version, in its own directory on the workers.
  const helpers = join(dir, "helpers.ts");
  await writeFile(helpers, (await readFile(helpers, "utf8")).replace("FACTOR = 2", "FACTOR = 100"));
  const second = await client.uploadFile(dir);
  console.log(`uploaded ${second.name} again (${second.hash.slice(0, 12)})`);
  console.log(`scores after the change: ${(await client.gather(client.map(score, xs))).join(", ")}`);
} finally {
  await client.close();
  await rm(work, { recursive: true, force: true });
}
