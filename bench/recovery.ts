/**
 * bench/recovery: 200 × 50 ms tasks on `ts-dask up --nprocs 2`; kill -9 one executor after 60
 * results (its nanny restarts it) → extra wall time over an undisturbed run, alternated, medians.
 * Dask, same test: +1.23 s. Bar (issue #4): ≤ +0.8 s.
 * Also: how long the scheduler takes to notice a whole worker that vanished (kill -9 of a
 * `ts-dask worker` and its executors), from the kill to the `executor-left` event.
 */
import { connect } from "nats";
import { Client } from "../index.ts";
import { decode } from "../runtime/codec.ts";
import { subjects, type ClusterEvent } from "../runtime/protocol.ts";
import { cli } from "../test/helpers/cli.ts";
import { median, report, runs, startUp } from "./lib.ts";

const up = await startUp(["--nprocs", "2"]);
const client = await Client.connect(up.url, { cluster: up.cluster });
const sleep = (ms: number) => new Promise<number>((r) => setTimeout(() => r(ms), ms));
const tasks = Array.from({ length: 200 }, () => 50);

async function run(kill: boolean): Promise<number> {
  const t0 = performance.now();
  const fs = client.map(sleep, tasks);
  if (kill) {
    let done = 0;
    await new Promise<void>((res) => fs.forEach((f) => f.result().then(() => ++done === 60 && res())));
    const pid = (await client.info()).workers[0]!.executors[0]!.pid;
    process.kill(pid, "SIGKILL");
  }
  await client.gather(fs);
  return (performance.now() - t0) / 1000;
}

try {
  await client.gather(client.map(sleep, [1, 1])); // ship the function
  const plain: number[] = [];
  const killed: number[] = [];
  for (let r = 0; r < runs(); r++) {
    plain.push(await run(false));
    killed.push(await run(true));
    // wait for the restarted executor before the next round
    while ((await client.info()).workers[0]!.executors.length < 2) await sleep(50);
  }
  // Detection of a vanished worker: a second worker, killed with its executors.
  const nc = await connect({ servers: up.url });
  const detect: number[] = [];
  for (let r = 0; r < Math.min(3, runs()); r++) {
    const name = `Victim${r}`;
    const w = cli(["worker", up.url, "--cluster", up.cluster, "--nprocs", "1", "--name", name]);
    const events: ClusterEvent[] = [];
    const sub = nc.subscribe(subjects(up.cluster).events, { callback: (_e, m) => events.push(decode<ClusterEvent>(m.data)) });
    while (!events.some((e) => e.type === "executor-joined" && e.name === `${name}-0`)) await sleep(20);
    const pids = (await client.info()).workers.find((x) => x.name === name)!.executors.map((e) => e.pid);
    const t0 = performance.now();
    w.proc.kill("SIGKILL");
    for (const p of pids) process.kill(p, "SIGKILL");
    while (!events.some((e) => e.type === "executor-left" && e.name === `${name}-0`)) await sleep(5);
    detect.push((performance.now() - t0) / 1000);
    sub.unsubscribe();
  }
  await nc.close();
  report({
    bench: "recovery",
    tasks: 200,
    taskMs: 50,
    executors: 2,
    runs: runs(),
    undisturbedSeconds: +median(plain).toFixed(3),
    withKillSeconds: +median(killed).toFixed(3),
    extraSeconds: +(median(killed) - median(plain)).toFixed(3),
    allRuns: { plain: plain.map((x) => +x.toFixed(3)), killed: killed.map((x) => +x.toFixed(3)) },
    wholeWorkerKillDetectionSeconds: detect.map((x) => +x.toFixed(3)),
    note: "kill -9 of the supervisor and its executors at once: no goodbye, detected by missed heartbeats",
    bar: { extraSeconds: 0.8 },
    dask: { extraSeconds: 1.23 },
  });
} finally {
  await client.close();
  await up.stop();
}
