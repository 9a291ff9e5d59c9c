/**
 * bench/soak: the soak loop of test/soak.test.ts (issue 15) for as long as asked. One
 * `ts-dask scheduler` and two `ts-dask worker` processes (one executor each) on a private
 * nats-server; rounds of real clients (connect, scatter, map, release, close) and a crowd of raw
 * registrations, with new module versions uploaded and executors restarted now and then.
 *
 * Environment: SOAK_SECONDS (default 120) or SOAK_ROUNDS, SOAK_CLIENTS (real clients per round, 3),
 * SOAK_CROWD (raw registrations per round, 5000), SOAK_TASKS (tasks per map, 100), SOAK_UPLOAD_EVERY
 * (rounds, 10), SOAK_RESTART_EVERY (12), SOAK_SAMPLE_EVERY (5). Prints one JSON document: totals,
 * wrong results (must be 0), heap after GC of the scheduler and of the executors (sum) per sample,
 * their slopes per 10,000 client registrations (least squares, first sample left out as warm-up),
 * and what the scheduler still holds at the end (`retained`, after every client but the admin left).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "nats";
import { startNatsServer } from "../runtime/nats-server.ts";
import { stopAllCli } from "../test/helpers/cli.ts";
import { slopes, soak, startSoakCluster } from "../test/helpers/soak.ts";
import { report } from "./lib.ts";

const env = (k: string, d: number) => Number(process.env[k] ?? d);
const seconds = env("SOAK_SECONDS", 120);
const nats = await startNatsServer({});
const dir = mkdtempSync(join(tmpdir(), "tsdask-soak-bench-"));
const cluster = "soak";
try {
  const { admin } = await startSoakCluster(nats.url, cluster, dir);
  const nc = await connect({ servers: nats.url });
  const t0 = Date.now();
  const res = await soak({
    address: nats.url,
    cluster,
    admin,
    nc,
    dir,
    rounds: env("SOAK_ROUNDS", Number.MAX_SAFE_INTEGER),
    until: t0 + seconds * 1000,
    clientsPerRound: env("SOAK_CLIENTS", 3),
    crowdPerRound: env("SOAK_CROWD", 5000),
    tasksPerMap: env("SOAK_TASKS", 100),
    uploadEvery: env("SOAK_UPLOAD_EVERY", 10),
    restartEvery: env("SOAK_RESTART_EVERY", 12),
    sampleEvery: env("SOAK_SAMPLE_EVERY", 5),
    onSample: (s) => process.stderr.write(`round ${s.round}: ${s.registrations} registrations, scheduler heap ${(s.schedulerHeap / 2 ** 20).toFixed(1)} MiB, executors ${(s.executorHeap / 2 ** 20).toFixed(1)} MiB, ${s.seconds.toFixed(0)} s\n`),
  });
  const wall = (Date.now() - t0) / 1000;
  // Let the crowd's leases expire (5 s grace), then what is left.
  await new Promise((r) => setTimeout(r, 8000));
  const end = await admin.info({ gc: true });
  report({
    bench: "soak",
    wallSeconds: Math.round(wall),
    rounds: res.rounds,
    realClients: res.realClients,
    crowd: res.crowd,
    registrations: 1 + res.realClients + res.crowd,
    tasks: res.tasks,
    uploads: res.uploads,
    restarts: res.restarts,
    wrong: res.wrong.length,
    firstWrong: res.wrong.slice(0, 5),
    ...slopes(res.samples),
    retainedAtEnd: end.retained ?? null,
    executorsCachedAtEnd: end.workers.flatMap((w) => w.executors.map((e) => e.cached ?? null)),
    samples: res.samples.map((s) => ({ round: s.round, registrations: s.registrations, schedulerHeap: s.schedulerHeap, executorHeap: s.executorHeap, seconds: s.seconds })),
  });
  await admin.close();
  await nc.close();
} finally {
  await stopAllCli();
  await nats.stop();
  rmSync(dir, { recursive: true, force: true });
}
