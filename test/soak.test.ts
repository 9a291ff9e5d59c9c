/**
 * Issue 15, the CI-sized soak: one scheduler and two workers (CLI processes) while ~60 real clients
 * connect, scatter, map, release and close, ~72,000 raw client registrations come and go (the
 * 16-bit wrap of the old client index is crossed), a module is uploaded in new versions and the
 * executors are restarted. Every result must be right; afterwards nothing per client or per
 * function is left on the scheduler or in the executors, and the scheduler's heap after GC did not
 * grow with the clients. bench/soak.ts runs the same loop for as long as asked.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as assert from "uvu/assert";
import { suite } from "uvu";
import { connect, type NatsConnection } from "nats";
import type { Client } from "../index.ts";
import { cleanup, onCleanup, startTestNats, waitFor, withTimeout } from "./helpers/cluster.ts";
import { stopAllCli } from "./helpers/cli.ts";
import { slopes, soak, startSoakCluster } from "./helpers/soak.ts";

const t = suite("soak");
t.after(cleanup);

t("clients come and go by the ten thousand: results right, nothing left behind, heap flat", async () => {
  const nats = await startTestNats();
  const dir = mkdtempSync(join(tmpdir(), "tsdask-soak-"));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  onCleanup(stopAllCli);
  const { admin } = await withTimeout(startSoakCluster(nats.url, "soak", dir), 90_000, "the soak cluster");
  onCleanup(() => admin.close());
  const nc: NatsConnection = await connect({ servers: nats.url });
  onCleanup(() => nc.close());

  const res = await withTimeout(
    soak({ address: nats.url, cluster: "soak", admin, nc, dir, rounds: 20, clientsPerRound: 3, crowdPerRound: 3_600, tasksPerMap: 100, uploadEvery: 7, restartEvery: 8, sampleEvery: 4 }),
    150_000,
    "20 soak rounds",
  );
  assert.equal(res.wrong, [], "every result right");
  assert.is(res.realClients, 60);
  assert.ok(1 + res.realClients + res.crowd >= 70_000, "the 16-bit wrap is crossed");
  assert.is(res.uploads, 3);
  assert.is(res.restarts, 2);

  // Everyone but the admin has left (half of the crowd by lease expiry, 5 s): nothing of theirs stays.
  const retained = async (a: Client) => (await a.info()).retained!;
  let last = await retained(admin);
  await waitFor(
    async () => {
      last = await retained(admin);
      return last.clientIndexes === 1 && last.clientsDraining === 0 && last.tokens === 1 && last.tickets === 1 && last.fns === 0 && last.mods === 0 && last.estimates === 0 && last.perFn === 0 && last.chunks === 0 && last.jobs === 0;
    },
    { timeoutMs: 20_000, label: "per-client and per-function state to be freed" },
  ).catch((e) => assert.unreachable(`${(e as Error).message}: ${JSON.stringify(last)}`));
  // Only the newest version of the upload is stored.
  assert.is(last.dataValues, 1, "the upload's current version only");
  // Indexes were reused: the peak of clients at once, not one per registration.
  assert.ok(last.clientCapacity < 20_000, `client index capacity ${last.clientCapacity}`);
  const cached = async () => (await admin.info()).workers.flatMap((w) => w.executors.map((e) => e.cached));
  await waitFor(async () => (await cached()).every((c) => c !== undefined && c.fns === 0 && c.data === 0), {
    timeoutMs: 10_000,
    label: "executors to drop the definitions and values of clients that left",
  }).catch(async (e) => assert.unreachable(`${(e as Error).message}: ${JSON.stringify(await cached())}`));

  // Heap after GC, per 10,000 registrations, over the samples after warm-up. A leak of a few
  // hundred bytes per client (an id, a token, a ticket key) would be megabytes here.
  const sl = slopes(res.samples);
  console.log(JSON.stringify({ samples: res.samples.map((s) => ({ r: s.registrations, sched: s.schedulerHeap, exec: s.executorHeap, s: s.seconds })), ...sl }));
  assert.ok(sl.schedulerBytesPer10kClients < 1_000_000, `scheduler heap grows ${sl.schedulerBytesPer10kClients} B per 10,000 clients`);
});

t.run();
