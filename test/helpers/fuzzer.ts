/**
 * A hostile peer on the cluster's NATS (issue 11), for test/fuzz.test.ts and bench/fuzz-soak.ts.
 * During a run it publishes, on every route of the route table (runtime/routes.ts, walked
 * mechanically; per-peer routes with real and invented ids): random bytes, truncated
 * msgpack, wrong shapes, replays of messages captured earlier in the run, and well-formed
 * forgeries (wrong results, steals, cancels, completions, byes, restarts, installs, another
 * scheduler's beats, code to run on executors or the scheduler, reads of scattered data); it plays
 * a fake scheduler answering registrations and submits; and when a broadcast scatter is pushed, it
 * pushes forged chunks of the same value (with the client's token, read off the wire) at once.
 * Everything is drawn from one seeded generator: a failure replays from its seed.
 */
import { randomBytes } from "node:crypto";
import { connect, type NatsConnection, type Subscription } from "nats";
import { Client } from "../../index.ts";
import { decode, encode } from "../../runtime/codec.ts";
import { PROTOCOL_VERSION, subjects, type DataPut, type ExecControl } from "../../runtime/protocol.ts";
import type { RouteParam } from "../../runtime/route.ts";
import { routes } from "../../runtime/routes.ts";
import { withTimeout } from "./cluster.ts";
import { mulberry32 } from "../../workloads/rng.ts";

export interface FuzzOptions {
  seed: number;
  /** How long the peer attacks, from the moment the tasks are submitted. */
  durationMs: number;
  tasks: number;
  /** Each task sleeps this long (async), so the run overlaps the attack. */
  taskMs: number;
  /** Messages per round (one round per event-loop turn). */
  perRound?: number;
  /** Messages the peer sends at least (the attack goes on past `durationMs` until then, up to 4 × it). */
  minMessages?: number;
  /** Elements of the scattered Float64Array every task reads (default 1.5 M: 12 chunks). */
  refLength?: number;
}

export interface FuzzOutcome {
  seed: number;
  /** Messages sent, by kind. */
  sent: Record<string, number>;
  values: unknown[];
  expected: number[];
  /** Rows that settled a future at the client, and rows it dropped (forged / duplicate). */
  resolved: number;
  forged: number;
  duplicates: number;
  /** Rows the client re-submitted (no connection was lost and the scheduler never moved: must be 0). */
  resubmitted: number;
  /** Executions of the task function, summed over executors (work amplification). */
  executions: number;
  /** Answers a stranger got to its steal requests (must be 0). */
  stealAnswers: number;
  /** Chunks of stored data a stranger was given by `data.get` (must be 0). */
  dataAnswers: number;
  /** Forged runs that ran: on executors (summed), in the scheduler's process (both must be 0). */
  evilRuns: number;
  evilSchedulerRuns: number;
  /** Forged chunks pushed for the scattered value, and values the scheduler's store threw away as not matching their hash. */
  forgedChunks: number;
  storeCorrupted: number;
  pidsBefore: number[];
  pidsAfter: number[];
  trust: { scheduler: number; executors: number; clients: number; rivals: string[] } | undefined;
  unhandled: string[];
  ms: number;
}


export async function fuzzRun(o: FuzzOptions): Promise<FuzzOutcome> {
  const r = mulberry32(o.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const int = (n: number) => Math.floor(r() * n);
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => int(256));
  const unhandled: string[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(String((e as Error)?.stack ?? e));
  process.on("unhandledRejection", onUnhandled);
  const t0 = Date.now();
  // The client over NATS (no in-process link) and without the same-host drop directory, as one on
  // another machine: the peer must see its traffic (probes, submits, pushed chunks) to attack it.
  const client = await withTimeout(Client.connect(undefined, { local: { nprocs: 2, link: false }, sameHostScatter: false }), 60_000, "embedded start");
  let nc: NatsConnection | undefined;
  const subs: Subscription[] = [];
  let beat: NodeJS.Timeout | undefined;
  try {
    const local = client.localCluster!;
    nc = await connect({ servers: client.address, token: local.token });
    const s = subjects(local.cluster);
    const info = await client.info();
    const execIds = info.workers.flatMap((w) => w.executors.map((e) => e.id));
    const workerIds = info.workers.map((w) => w.instance);
    const pidsBefore = info.workers.flatMap((w) => w.executors.map((e) => e.pid)).sort();
    const realSched = info.scheduler.instance;
    const hello = { proto: PROTOCOL_VERSION, version: "0.1.0", node: process.versions.node };

    // Capture traffic for replays (the peer sees everything on a shared account). A broadcast
    // scatter's value is forged twice, with the client's token read off its probe: when the
    // scheduler invites executors to listen (its own subscription is in place by then, so the
    // forged chunks reach it before any honest one) and at the first honest chunk (they race the
    // honest ones to the listening executors: after its first window of 8 the client waits).
    const captured: { subject: string; data: Uint8Array }[] = [];
    const pushPrefix = s.dataPush("");
    const chunkSize = Math.max(64 * 1024, nc.info!.max_payload - 4096);
    const probes = new Map<string, DataPut>();
    const forgedFor = new Set<string>();
    let forgedChunks = 0;
    const peek = <T>(data: Uint8Array): T | undefined => {
      try {
        return decode(data) as T; // the peer's own garbage lands here too
      } catch {
        return undefined;
      }
    };
    const forgePush = (why: string, hash: string) => {
      const m = probes.get(hash);
      if (!m || m.chunks < 2 || forgedFor.has(`${why}:${hash}`)) return;
      forgedFor.add(`${why}:${hash}`);
      const { probe: _, ...base } = m;
      for (let i = m.chunks - 1; i >= 0; i--) {
        const n = i === m.chunks - 1 ? m.size - (m.chunks - 1) * chunkSize : chunkSize;
        nc!.publish(s.dataPush(hash), encode({ ...base, index: i, bytes: new Uint8Array(n).fill(1 + int(255)) }));
        forgedChunks++;
      }
    };
    subs.push(
      nc.subscribe(`${s.prefix}.>`, {
        callback: (_e, m) => {
          if (m.subject === s.dataPut) {
            const put = peek<DataPut>(m.data);
            if (put?.probe && put.broadcast && typeof put.hash === "string") probes.set(put.hash, put);
          } else if (m.subject.endsWith(".control")) {
            const c = peek<ExecControl>(m.data);
            if (c?.op === "listen" && typeof c.hash === "string") forgePush("listen", c.hash);
          } else if (m.subject.startsWith(pushPrefix)) forgePush("push", m.subject.slice(pushPrefix.length));
          if (captured.length < 4000) captured.push({ subject: m.subject, data: m.data.slice() });
        },
      }),
    );
    // A fake scheduler: answers registrations and submits, and beats `alive`.
    const fake = `fake${int(1e6)}`;
    subs.push(nc.subscribe(s.register, { callback: (_e, m) => m.respond(encode(r() < 0.5 ? { ok: true, scheduler: fake, heartbeatMs: 500, hello, auth: "fake", fresh: true } : { ok: false, code: "Forged", message: "go away" })) }));
    subs.push(nc.subscribe(s.submit, { callback: (_e, m) => m.respond(encode(r() < 0.5 ? { ok: false, code: "Forged", message: "dropped", sched: fake } : { ok: true, slots: new Uint32Array(10), sched: realSched })) }));
    beat = setInterval(() => nc!.publish(s.alive, encode({ instance: pick([fake, `fake${int(1e6)}`]), heartbeatMs: 500 })), 100);

    // A scattered value pushed to the idle executors (broadcast) while the peer forges its chunks:
    // every task checks it, so a forged chunk that became the value would show in the results.
    const refLength = o.refLength ?? 1_500_000; // 12 MB: 12 chunks of ~1 MiB
    // The peer's subscriptions above must be in place at the server before the scatter starts, or
    // under load it misses the probe and forges nothing (seen: forgedChunks 0 at load 22).
    await nc.flush();
    const ref = await client.scatter(Float64Array.from({ length: refLength }, (_, i) => i), { broadcast: true });

    // The run: every row's value is known; each execution is counted on its executor.
    const xs = Array.from({ length: o.tasks }, (_, i) => i);
    const task = async (x: number, ms: number, v: Float64Array) => {
      const g = globalThis as { __fuzzRuns?: number };
      g.__fuzzRuns = (g.__fuzzRuns ?? 0) + 1;
      await new Promise((res) => setTimeout(res, ms));
      const at = (x * 7919) % v.length;
      return v[at] === at && v[v.length - 1] === v.length - 1 ? x * 3 : -1 - x;
    };
    const futures = client.map(task, xs, { args: [o.taskMs, ref] as [number, typeof ref] });

    // Every route of the table (runtime/routes.ts), per-peer ones with real and invented ids.
    const params: Record<RouteParam, string[]> = {
      exec: [...execIds, "ghost"],
      client: [client.id, "ghost"],
      instance: [...workerIds, "ghost"],
      hash: ["0".repeat(64)],
      output: ["fuzzed"],
      actor: ["ghost"],
    };
    const all = Object.values(routes).flatMap((rt) => (rt.param === undefined ? [rt.subject(s, "")] : params[rt.param].map((p) => rt.subject(s, p))));
    const evilFn = { kind: "src", hash: "evil", name: "evil", source: "() => -777", file: "evil.ts", line: 1 };
    // Code a stranger wants run on an executor (client.run) or in the scheduler (runOnScheduler): it counts itself.
    const evilRun = { kind: "src", hash: `evilrun${int(1e6)}`, name: "evilRun", source: "() => (globalThis.__evilRuns = (globalThis.__evilRuns ?? 0) + 1)", file: "evil.ts", line: 1 };
    const evilSched = { kind: "src", hash: `evilsched${int(1e6)}`, name: "evilSched", source: "() => (globalThis.__evilSchedulerRuns = (globalThis.__evilSchedulerRuns ?? 0) + 1)", file: "evil.ts", line: 1 };
    const refHash = ref.hash;
    const keys = (n: number) => Uint32Array.from({ length: n }, () => int(o.tasks));
    const forgeries: (() => [string, unknown])[] = [
      () => [s.results(client.id), { worker: "evil", keys: keys(20), values: Array(20).fill(-777), ...(r() < 0.5 ? { tickets: new Uint32Array(new Uint8Array(randomBytes(160)).buffer) } : {}) }],
      () => [s.execTasks(pick(execIds)), { sched: realSched, seq: 1e9, fns: [evilFn], groups: [{ client: client.id, fn: "evil", slots: keys(5), keys: keys(5), rows: encode([[1], [2], [3], [4], [5]]) }] }],
      () => [s.execCancel(pick(execIds)), { slots: keys(50), keys: keys(50) }],
      () => [s.execControl(pick(execIds)), { op: pick(["restart", "recycle", "resync", "prefetch", "listen", "reregister"]), hash: "x", size: 10, chunks: 1 }],
      () => [s.execUpload(pick(execIds)), { uploads: [{ name: "evil", hash: "00", size: 1, kind: "file", file: "evil.js" }] }],
      () => [s.workerInstall(pick(workerIds)), { specs: [{ spec: "left-pad" }] }],
      () => [s.done, { exec: pick(execIds), sched: realSched, slots: keys(30), failed: 0, stats: [] }],
      () => [s.bye, pick([{ id: pick(execIds), kind: "executor", sched: realSched }, { id: client.id, kind: "client" }, { id: pick(workerIds), kind: "worker" }])],
      () => [s.heartbeat, { id: pick(execIds), kind: "executor", running: 0, queued: 0, rss: 0 }],
      () => [s.cancel, { client: client.id, slots: keys(50), keys: keys(50) }],
      () => [s.submit, { client: client.id, fns: [evilFn], groups: [{ fn: "evil", keys: keys(10), rows: encode(Array(10).fill([1])), ends: Uint32Array.from({ length: 10 }, (_, i) => 2 * (i + 1)) }] }],
      () => [s.register, { kind: "client", hello, id: client.id, auth: "impostor", secret: bytes(16) }],
      () => [s.resync, { exec: pick(execIds), sched: realSched, held: new Uint32Array(0) }],
      () => [s.retire, { exec: pick(execIds), sched: realSched, returned: keys(10) }],
      () => [s.restart, { client: client.id, auth: "guess" }],
      () => [s.install, { client: client.id, specs: [{ spec: "left-pad" }] }],
      () => [s.alive, { instance: `fake${int(1e6)}`, heartbeatMs: 500 }],
      () => [s.dataRelease, { client: client.id, hashes: ["x"] }],
      () => [s.dataPut, { client: client.id, hash: "x", size: 4, index: 0, chunks: 1, bytes: bytes(4) }],
      () => [s.register, { kind: "executor", hello, id: pick(execIds), name: "evil-0", worker: pick(workerIds), index: 0, nthreads: 1, pid: 1 }],
      () => [s.register, { kind: "worker", hello, name: "local", instance: pick(workerIds), host: "evil", pid: 1, platform: "linux", nprocs: 1, nthreads: 1, memoryLimit: 0 }],
      () => [s.upload, { client: client.id, upload: { name: "evil", hash: "00", size: 1, kind: "file", file: "evil.js" } }],
      () => [s.execRun(pick(execIds)), { fn: evilRun, args: [], ...(r() < 0.5 ? { auth: "guess" } : {}) }],
      () => [s.schedRun, { fn: evilSched, args: [], ...pick([{}, { client: client.id }, { client: client.id, auth: "guess" }, { client: "ghost", auth: "ghost" }]) }],
      () => [s.schedRun, { fn: evilRun, args: [], client: client.id, auth: "guess", exec: pick(execIds) }],
      () => [s.dataPush(refHash), { client: client.id, hash: refHash, size: refLength * 8, index: int(12), chunks: 12, bytes: bytes(64) }],
      () => [s.dataPut, { client: client.id, hash: refHash, size: 64, index: 0, chunks: 1, bytes: bytes(64) }],
    ];
    // Reads of the scattered value a stranger tries (every answer with bytes is a leak).
    const dataReads: (() => Record<string, unknown>)[] = [
      () => ({ hash: refHash, index: int(12) }),
      () => ({ hash: refHash, index: 0, client: client.id, auth: "guess" }),
      () => ({ hash: refHash, index: 0, client: "ghost", auth: "ghost" }),
      () => ({ hash: refHash, index: 0, exec: pick(execIds), auth: "guess" }),
      () => ({ hash: refHash, index: 0, worker: pick(workerIds), auth: "guess" }),
    ];
    let dataAnswers = 0;
    const sent: Record<string, number> = {};
    const count = (k: string) => (sent[k] = (sent[k] ?? 0) + 1);
    let stealAnswers = 0;
    const send = () => {
      const kind = int(7);
      if (kind === 0) return count("random"), nc!.publish(pick(all), bytes(1 + int(64)));
      if (kind === 1) return count("truncated"), nc!.publish(pick(all), encode({ groups: [{ fn: 42 }], client: "x", exec: 1, slots: keys(3) }).subarray(0, 1 + int(12)));
      if (kind === 2) return count("wrong-shape"), nc!.publish(pick(all), encode(pick([["not", "an", "object"], { id: 5, kind: "executor", slots: "no", keys: null, sched: 1, groups: "x" }, { op: 7 }, { instance: 3 }, null, 42])));
      if (kind === 3 && captured.length) {
        const m = pick(captured);
        return count("replay"), nc!.publish(m.subject, m.data);
      }
      if (kind === 4) {
        count("steal");
        return void nc!.request(s.execSteal(pick(execIds)), encode({ max: 100 }), { timeout: 300 }).then(() => stealAnswers++, () => {});
      }
      if (kind === 5) {
        count("data.get");
        return void nc!.request(s.dataGet, encode(pick(dataReads)()), { timeout: 300 }).then(
          (m) => (decode(m.data) as { ok?: boolean })?.ok === true && dataAnswers++,
          () => {},
        );
      }
      const [subject, msg] = pick(forgeries)();
      count("forgery");
      nc!.publish(subject, encode(msg));
    };
    const per = o.perRound ?? 10;
    // The attack starts with the run (not with the cluster's start-up, slow on a busy machine).
    const attackFrom = Date.now();
    // At least `minMessages` (a loaded machine turns the event loop slowly), within 4 × the duration.
    const total = () => Object.values(sent).reduce((x, y) => x + y, 0);
    while (Date.now() - attackFrom < o.durationMs || (total() < (o.minMessages ?? 0) && Date.now() - attackFrom < 4 * o.durationMs)) {
      for (let i = 0; i < per; i++) send();
      // Let the cluster breathe between rounds (a timer, so real I/O of this process runs too).
      await new Promise((res) => setTimeout(res, 2));
    }
    clearInterval(beat);
    for (const sub of subs.splice(0)) sub.unsubscribe();
    await nc.flush();

    const values = await withTimeout(client.gather(futures), 120_000, `gather after fuzzing (seed ${o.seed})`);
    const runs = await client.run(() => (globalThis as { __fuzzRuns?: number }).__fuzzRuns ?? 0);
    const evil = await client.run(() => (globalThis as { __evilRuns?: number }).__evilRuns ?? 0);
    const after = await client.info();
    return {
      seed: o.seed,
      sent,
      values,
      expected: xs.map((x) => x * 3),
      resolved: client.resolved,
      forged: client.forged,
      duplicates: client.duplicates,
      resubmitted: client.resubmitted,
      executions: Object.values(runs).reduce((a, b) => a + (b as number), 0),
      stealAnswers,
      dataAnswers,
      evilRuns: Object.values(evil).reduce((a, b) => a + (b as number), 0),
      // The embedded scheduler runs in this process.
      evilSchedulerRuns: (globalThis as { __evilSchedulerRuns?: number }).__evilSchedulerRuns ?? 0,
      forgedChunks,
      storeCorrupted: local.scheduler.data.corrupted,
      pidsBefore,
      pidsAfter: after.workers.flatMap((w) => w.executors.map((e) => e.pid)).sort(),
      trust: after.trust,
      unhandled,
      ms: Date.now() - t0,
    };
  } finally {
    clearInterval(beat);
    for (const sub of subs) sub.unsubscribe();
    await nc?.close();
    await client.close();
    process.off("unhandledRejection", onUnhandled);
  }
}
