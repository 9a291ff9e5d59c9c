/**
 * Functions by reference: exports of a module (with its local imports) run on the workers,
 * typed as the module. Also: asCompleted, wait and console output of tasks.
 *
 *   npx tsx examples/modules.ts
 */
import { Client } from "ts-dask";

const client = await Client.connect();
try {
  const procs = await client.importModule<typeof import("./lib/procs.ts")>("./lib/procs.ts");
  const futures = client.map(procs.score, Array.from({ length: 50 }, (_, i) => i), { args: [0.8] });

  const first = await client.wait(futures, { returnWhen: "FIRST_COMPLETED" });
  console.log(`first done: ${first.done.length}, still running: ${first.notDone.length}`);

  let best = { i: -1, score: -Infinity };
  for await (const f of client.asCompleted(futures)) {
    const s = await f.result();
    if (s > best.score) best = { i: futures.indexOf(f), score: s };
  }
  console.log(`best candidate: ${best.i} (score ${best.score.toFixed(4)})`);

  // console.log inside a task is printed here, prefixed with the worker's name.
  await client.submit(() => console.log("hello from a task")).result();
  console.log(`ran on: ${await client.submit(procs.hostInfo).result()}`);
} finally {
  await client.close();
}
