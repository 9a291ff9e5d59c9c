/**
 * bench/scatter-phases: where one fresh 10 MB Float64Array scatter (broadcast, as bench/batching
 * does) spends its time and CPU on `ts-dask up --nprocs 2`: wall and CPU seconds per process (from
 * /proc) for the scatter itself and for the first use on both executors, plus the client-side
 * steps timed alone (encode, hash), and minor page faults per process (on a VM, the first touch of
 * fresh memory can cost more than the copy into it). Medians of BENCH_RUNS (default 7). CPU
 * profiles: see BENCH_PROFILE below.
 */
import { loadavg } from "node:os";
import { Client } from "../index.ts";
import { encodeLarge } from "../runtime/codec.ts";
import { bytesHash } from "../runtime/data-transfer.ts";
import { makeRef } from "./lib-workloads/work.ts";
import { comm, delta, descendants, sample, type ProcessRoles } from "./lib-workloads/proc-cpu.ts";
import { median, report, startUp } from "./lib.ts";
import { readFileSync } from "node:fs";

/** Minor page faults of the processes of each role so far (/proc/<pid>/stat field 10). */
const faults = (roles: ProcessRoles): Record<string, number> =>
  Object.fromEntries(
    Object.entries(roles).map(([role, pids]) => [
      role,
      pids.reduce((a, p) => {
        try {
          const st = readFileSync(`/proc/${p}/stat`, "utf8");
          return a + Number(st.slice(st.lastIndexOf(")") + 2).split(" ")[7]);
        } catch {
          return a;
        }
      }, 0),
    ]),
  );

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const up = await startUp(["--nprocs", "2"]);
const client = await Client.connect(up.url, { cluster: up.cluster });
const roles = (): ProcessRoles => {
  const rest = descendants(up.proc.pid!);
  return { client: [process.pid], "scheduler+supervisor": [up.proc.pid!], executors: rest.filter((p) => comm(p) !== "nats-server"), nats: rest.filter((p) => comm(p) === "nats-server") };
};
const read = async (i: number, d: Float64Array) => {
  await new Promise((res) => setTimeout(res, 20));
  return [JSON.parse(process.env.TSDASK_EXECUTOR!).name, d[i]] as const;
};
try {
  await client.gather(client.map(read, [1, 2, 3, 4], { args: [await client.scatter(makeRef(0), { broadcast: true })] }));
  // BENCH_PROFILE=1 with NODE_OPTIONS="--import $PWD/bench/lib-workloads/cpu-profile-hook.mjs": every
  // node process of the cluster (and this one) restarts its profile here and writes it at the end.
  const profile = async () => {
    if (!process.env.BENCH_PROFILE) return;
    for (const p of [process.pid, ...Object.values(roles()).flat()]) if (comm(p) === "node") process.kill(p, "SIGUSR2");
    await new Promise((res) => setTimeout(res, 1000));
  };
  await profile();
  const rows: Record<string, number>[] = [];
  for (let r = 1; r <= RUNS; r++) {
    const ref = makeRef(1000 + r);
    const t0 = performance.now();
    const bytes = encodeLarge(ref);
    const t1 = performance.now();
    bytesHash(bytes);
    const t2 = performance.now();
    const rs = roles();
    const c0 = sample(rs);
    const f0 = faults(rs);
    const s0 = performance.now();
    const dref = await client.scatter(ref, { broadcast: true });
    const s1 = performance.now();
    const c1 = sample(rs);
    const seen = await client.gather(client.map(read, [1, 2, 3, 4, 5, 6], { args: [dref] }));
    const s2 = performance.now();
    const c2 = sample(rs);
    const f2 = faults(rs);
    if (new Set(seen.map((s) => s[0])).size < 2 || seen.some((s, k) => s[1] !== ref[k + 1])) throw new Error("not held by both executors");
    client.release([dref]);
    const cs = delta(c0, c1);
    const cu = delta(c1, c2);
    const row: Record<string, number> = { encodeMs: t1 - t0, hashMs: t2 - t1, scatterWallMs: s1 - s0, useWallMs: s2 - s1 };
    for (const k of Object.keys(cs)) ((row[`scatterCpuMs ${k}`] = cs[k]! * 1000), (row[`useCpuMs ${k}`] = cu[k]! * 1000), (row[`minorFaults ${k}`] = f2[k]! - f0[k]!));
    rows.push(row);
    console.error(`run ${r}: ${JSON.stringify(Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Math.round(v)])))}`);
  }
  await profile();
  report({
    bench: "scatter-phases",
    bytes: makeRef(0).byteLength,
    runs: RUNS,
    load1: Number(loadavg()[0].toFixed(2)),
    medianMs: Object.fromEntries(Object.keys(rows[0]!).map((k) => [k, Number(median(rows.map((r) => r[k]!)).toFixed(1))])),
  });
} finally {
  await client.close();
  await up.stop();
}
