/**
 * Sharing a cluster: two clients at once, and `priority`. Client A queues a long map; client B,
 * connected to the same cluster a moment later, gets its few results without waiting for A's
 * queue (clients take turns, batch by batch). Within one client, `priority` (higher first, as
 * Dask's `priority=`) puts urgent tasks ahead of ones queued earlier. A, whose process runs the
 * private cluster, reaches its scheduler in-process (the link); B, like a client on another
 * machine, over NATS.
 *
 *   npx tsx examples/sharing.ts
 */
import { Client } from "ts-dask";

const busy = (ms: number) => {
  const end = Date.now() + ms;
  while (Date.now() < end);
  return ms;
};
const double = (x: number) => 2 * x;

const a = await Client.connect(); // a private cluster on this machine
const b = await Client.connect(a.address, { cluster: a.localCluster!.cluster });
try {
  const long = a.map(busy, new Array(2_000).fill(2));
  await long[0]!.result();
  const mine = await b.gather(b.map(double, [1, 2, 3]));
  console.log(`B got [${mine}] while A had ${long.filter((f) => f.done()).length} of ${long.length} done`);

  const urgent = await a.gather(a.map(double, [10, 20], { priority: 10 }));
  console.log(`A's urgent [${urgent}] came before its queue drained (${long.filter((f) => f.done()).length} of ${long.length} done)`);
  await a.gather(long);
  console.log("A's long map done");
  const link = a.localCluster!.link!;
  console.log(`A sent ${link.delivered.toServer} messages to its scheduler in-process (B: over NATS)`);
} finally {
  await b.close();
  await a.close();
}
