/**
 * The soak loop shared by test/soak.test.ts (CI-sized) and bench/soak.ts (as long as asked), issue 15.
 *
 * Rounds, one after another, against a running cluster: at the start of some rounds an admin
 * client uploads a new version of a module (executors that had the old one recycle) or restarts
 * every executor; then, at once, a few real clients each connect, scatter a value, map a function
 * of their own (distinct source, so a distinct definition) over it, map a function importing the
 * uploaded module, check every result, release and close; and a crowd of raw registrations (the
 * project's codec over a plain NATS connection, as short scripts would) of which half say goodbye
 * and half are left to expire. Every few rounds a sample: the scheduler's heap after a full GC
 * (`info({ gc: true })`), every executor's heap after GC (`client.run`), and `info.retained`.
 */
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { NatsConnection } from "nats";
import { Client } from "../../index.ts";
import { decode, encode } from "../../runtime/codec.ts";
import { subjects, type ClusterInfo, type RegisterReply } from "../../runtime/protocol.ts";
import { hello } from "../../runtime/version.ts";
import { cli, type CliProcess } from "./cli.ts";

export interface SoakOptions {
  address: string;
  cluster: string;
  /** A long-lived client: uploads, restarts, samples. */
  admin: Client;
  /** A plain NATS connection for the crowd's raw registrations. */
  nc: NatsConnection;
  /** Where the uploaded module's versions are written. */
  dir: string;
  /** Stop after this many rounds, or when `until` passes (whichever first). */
  rounds: number;
  until?: number;
  clientsPerRound: number;
  crowdPerRound: number;
  tasksPerMap: number;
  uploadEvery: number;
  restartEvery: number;
  sampleEvery: number;
  onSample?: (s: SoakSample) => void;
}

export interface SoakSample {
  round: number;
  /** Client registrations the scheduler has seen (real and raw). */
  registrations: number;
  realClients: number;
  schedulerHeap: number;
  /** Sum of every executor's heap after GC (they restart: the sum of the current ones). */
  executorHeap: number;
  /** Absent from a scheduler older than issue 15. */
  retained: ClusterInfo["retained"];
  seconds: number;
}

export interface SoakResult {
  rounds: number;
  realClients: number;
  crowd: number;
  tasks: number;
  uploads: number;
  restarts: number;
  samples: SoakSample[];
  wrong: string[];
}

const MODULE = "soakmod";

/** Registers `n` raw clients; half of them say goodbye at once, the others let their lease expire. */
async function crowd(o: SoakOptions, round: number, n: number): Promise<void> {
  const s = subjects(o.cluster);
  const h = hello();
  let next = 0;
  const one = async () => {
    while (next < n) {
      const i = next++;
      const id = `crowd-${round}-${i}`;
      const auth = `a-${id}`;
      const r = decode(new Uint8Array((await o.nc.request(s.register, encode({ kind: "client", hello: h, id, auth, secret: new Uint8Array(randomBytes(16)) }), { timeout: 30_000 })).data)) as RegisterReply;
      if (!r.ok) throw new Error(`raw registration refused: ${r.message}`);
      if (i % 2 === 0) o.nc.publish(s.bye, encode({ id, kind: "client", auth }));
    }
  };
  await Promise.all(Array.from({ length: 32 }, one));
}

/** One real client's life: connect, scatter, map twice, check, release, close. */
async function life(o: SoakOptions, round: number, j: number, version: number, wrong: string[]): Promise<number> {
  const c = await Client.connect(o.address, { cluster: o.cluster });
  try {
    const salt = round * 1000 + j;
    const table = Array.from({ length: 64 }, (_, k) => k * 7 + salt);
    const ref = await c.scatter(table);
    const xs = Array.from({ length: o.tasksPerMap }, (_, i) => i);
    // A function of this client only (its own source, so its own definition on the scheduler).
    const own = new Function("x", "t", `return x + t[x % t.length] + ${salt};`) as (x: number, t: number[]) => number;
    const a = await c.gather(c.map(own, xs, { args: [ref] }));
    const imported = async (x: number) => ((await import("soakmod" as string)) as { f: (x: number) => number }).f(x);
    const b = await c.gather(c.map(imported, xs));
    for (const x of xs) {
      if (a[x] !== x + table[x % 64]! + salt) wrong.push(`round ${round} client ${j}: own(${x}) = ${a[x]}`);
      if (b[x] !== x * 3 + version) wrong.push(`round ${round} client ${j}: f(${x}) = ${b[x]}, version ${version}`);
    }
    c.release([ref]);
    return 2 * xs.length;
  } finally {
    await c.close();
  }
}

async function sample(o: SoakOptions, round: number, realClients: number, crowdSoFar: number, t0: number): Promise<SoakSample> {
  const heaps = await o.admin.run(() => {
    (globalThis as { gc?: () => void }).gc?.();
    return process.memoryUsage().heapUsed;
  });
  const info = await o.admin.info({ gc: true });
  return {
    round,
    // Counted here (the admin, the real clients, the crowd) so a scheduler without `retained` can be compared.
    registrations: 1 + realClients + crowdSoFar,
    realClients,
    schedulerHeap: info.scheduler.heapUsed,
    executorHeap: Object.values(heaps).reduce((a, b) => a + (b as number), 0),
    retained: info.retained,
    seconds: (Date.now() - t0) / 1000,
  };
}

export async function soak(o: SoakOptions): Promise<SoakResult> {
  const t0 = Date.now();
  const res: SoakResult = { rounds: 0, realClients: 0, crowd: 0, tasks: 0, uploads: 0, restarts: 0, samples: [], wrong: [] };
  let version = 0;
  const file = join(o.dir, `${MODULE}.mjs`);
  for (let round = 0; round < o.rounds && (o.until === undefined || Date.now() < o.until); round++) {
    if (round % o.uploadEvery === 0) {
      version++;
      writeFileSync(file, `export const v = ${version};\nexport function f(x) { return x * 3 + v; }\n`);
      await o.admin.uploadFile(file);
      res.uploads++;
    }
    if (round > 0 && round % o.restartEvery === 0) {
      await o.admin.restart();
      res.restarts++;
    }
    const lives = Array.from({ length: o.clientsPerRound }, (_, j) => life(o, round, j, version, res.wrong));
    const [tasks] = await Promise.all([Promise.all(lives), crowd(o, round, o.crowdPerRound)]);
    res.tasks += tasks.reduce((a, b) => a + b, 0);
    res.realClients += o.clientsPerRound;
    res.crowd += o.crowdPerRound;
    res.rounds = round + 1;
    if (round % o.sampleEvery === 0) {
      const s = await sample(o, round, res.realClients, res.crowd, t0);
      res.samples.push(s);
      o.onSample?.(s);
    }
  }
  return res;
}

/** Least-squares slope of y over x. */
export function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** Heap growth per 10,000 client registrations (bytes), from the samples after the first (warm-up). */
export function slopes(samples: readonly SoakSample[]): { schedulerBytesPer10kClients: number; executorBytesPer10kClients: number } {
  const s = samples.slice(1);
  return {
    schedulerBytesPer10kClients: Math.round(slope(s.map((p) => ({ x: p.registrations, y: p.schedulerHeap }))) * 10_000),
    executorBytesPer10kClients: Math.round(slope(s.map((p) => ({ x: p.registrations, y: p.executorHeap }))) * 10_000),
  };
}

/**
 * Starts the soak's cluster on a NATS server: one `ts-dask scheduler` and two `ts-dask worker`
 * processes (one executor each), every process with `--expose-gc` so heaps are measured after a
 * full collection. Resolves with the admin client once both executors run.
 */
export async function startSoakCluster(url: string, cluster: string, dir: string): Promise<{ admin: Client; scheduler: CliProcess; workers: CliProcess[] }> {
  const env = { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --expose-gc`.trim() };
  const scheduler = cli(["scheduler", "--nats", url, "--cluster", cluster, "--dashboard-address", "none"], env);
  await scheduler.waitFor(/scheduler for cluster/, 60_000);
  const workers = [1, 2].map((i) => cli(["worker", url, "--cluster", cluster, "--nprocs", "1", "--name", `soak${i}`, "--local-directory", join(dir, `w${i}`)], env));
  const admin = await Client.connect(url, { cluster });
  const deadline = Date.now() + 60_000;
  // Executors join with no event the admin can await before it connected: poll the worker table.
  while ((await admin.info()).workers.reduce((a, w) => a + w.executors.filter((e) => e.state === "running").length, 0) < 2) {
    if (Date.now() > deadline) throw new Error("the soak cluster's two executors did not start within 60 s");
    await new Promise((r) => setTimeout(r, 100));
  }
  return { admin, scheduler, workers };
}
