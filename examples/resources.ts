/**
 * Worker resources, as Dask's: a worker says what each of its processes offers
 * (`ts-dask worker --resources GPU=1,MEM=8e9`; here the private cluster's `local.resources`), a
 * task what it holds while it runs (`{ resources: { GPU: 1 } }` on map, `client.with({ resources })`
 * for submit). A task runs only where its resources are free: with one GPU per process, GPU tasks
 * run one at a time even though the process runs two tasks at once. A need no worker offers
 * waits (a worker that has it may join) and the scheduler says so on this script's stderr.
 *
 *   npx tsx examples/resources.ts
 */
import { Client } from "ts-dask";

const client = await Client.connect(undefined, { local: { nprocs: 1, nthreads: 2, resources: { GPU: 1 } } });
const step = async (x: number) => {
  const start = Date.now();
  await new Promise((r) => setTimeout(r, 100));
  return [x, start, Date.now()];
};
/** Whether any two [x, start, end] intervals overlap. */
const overlap = (rows: number[][]) => rows.some((a, i) => rows.some((b, j) => i !== j && a[1]! < b[2]! && b[1]! < a[2]!));
try {
  const gpu = await client.gather(client.map(step, [1, 2, 3, 4], { resources: { GPU: 1 } }));
  console.log(`GPU tasks overlapped: ${overlap(gpu)}`);
  const plain = await client.gather(client.map(step, [1, 2, 3, 4]));
  console.log(`plain tasks overlapped: ${overlap(plain)}`);
  const one = await client.with({ resources: { GPU: 1 } }).submit(step, 5).result();
  console.log(`submit with resources: ${one[0]}`);

  const tpu = client.map(step, [6], { resources: { TPU: 1 } }); // no worker offers TPU: it waits
  await client.flush(); // the scheduler has it (and has said so on stderr)
  const info = await client.info();
  console.log(`waiting for resources: ${info.tasks.needingResources}; GPU free/total: ${info.workers[0]!.executors[0]!.resourcesFree?.GPU}/${info.workers[0]!.resources?.GPU}`);
  client.cancel(tpu);
} finally {
  await client.close();
}
