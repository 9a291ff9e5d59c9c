/**
 * bench/message-cost: the CPU one small NATS message costs this process (publish on one
 * connection, receive on another, both here; nats-server apart), sent back to back, with 1 ms and
 * with 10 ms between messages. On a machine whose cores idle between messages (or run tasks) each
 * wake-up costs far more than the message: the reason executors linger their completions
 * (actors/executor/outbox.ts). Medians of BENCH_RUNS runs.
 *
 * Then the price of one wake-up of a process that does nothing else (lib-workloads/
 * wakeup-receiver.mjs, plain Node, no code of ours), at 10 a second (an idle cluster's rate):
 * woken by a timer, by a raw TCP socket's data, and by a nats.js message (a callback
 * subscription, as every subscription of ts-dask's). CPU of every thread of the receiver (/proc)
 * over its main thread's voluntary context switches, BENCH_SECONDS (default 5) after a 2 s
 * warm-up; the three alternate within each round. Every beat, result and dispatch a ts-dask
 * process receives pays at least the nats.js figure; on the 2-vCPU VM this project is measured
 * on it is ~290-380 µs, which sets the floor of issue 10's overhead at 1 and 10 ms (DESIGN.md
 * "The idle floor").
 */
import { once } from "node:events";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { connect } from "nats";
import { startNatsServer } from "../runtime/nats-server.ts";
import { forkForBench, median, report, runs } from "./lib.ts";
import { cpuSeconds, mainThreadWakeups } from "./lib-workloads/proc-cpu.ts";

const srv = await startNatsServer({});
const tx = await connect({ servers: srv.url });
const rx = await connect({ servers: srv.url });
rx.subscribe("x", { callback: () => {} });
await rx.flush();
const out: Record<string, number> = {};
const receiverWakeupUs: Record<string, number> = {};
const receiverWakeupsPerSecond: Record<string, number> = {};
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const RECEIVER = fileURLToPath(new URL("./lib-workloads/wakeup-receiver.mjs", import.meta.url));
const KINDS = ["timer", "socket", "nats"] as const;
const tcp = net.createServer();
tcp.listen(0, "127.0.0.1");
await once(tcp, "listening");
const tcpPort = (tcp.address() as net.AddressInfo).port;
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

/** One receiver of `kind`, sent 10 wake-ups a second: µs of its CPU per wake-up, and wake-ups per second. */
async function receiver(kind: (typeof KINDS)[number]): Promise<[number, number]> {
  const peer = kind === "socket" ? once(tcp, "connection") : undefined;
  // execArgv []: plain Node (fork would otherwise pass on this process's `--import tsx`).
  const child = forkForBench(RECEIVER, [kind, kind === "socket" ? String(tcpPort) : srv.url], { execArgv: [], stdio: ["ignore", "ignore", "inherit", "ipc"] });
  const exited = once(child, "exit");
  exited.catch(() => {}); // awaited below; an 'error' before then must not be an unhandled rejection
  try {
    // A receiver that dies before it is ready (nats connect failed…) must not hang the benchmark.
    await Promise.race([once(child, "message"), exited.then(([code, sig]) => Promise.reject(new Error(`${kind} receiver exited (${code ?? sig}) before it was ready`)))]);
    const sock = peer && ((await peer) as [net.Socket])[0];
    sock?.on("error", () => {}); // a receiver dying mid-run: its measurement fails, not the process
    const payload = new Uint8Array(100);
    const poke = setInterval(() => (sock ? sock.write(payload) : kind === "nats" ? tx.publish("wake", payload) : undefined), 100);
    try {
      await sleep(2000);
      const pid = child.pid!;
      const c0 = cpuSeconds(pid);
      const w0 = mainThreadWakeups(pid);
      const t0 = performance.now();
      await sleep(SECONDS * 1000);
      const w = mainThreadWakeups(pid) - w0;
      return [((cpuSeconds(pid) - c0) / w) * 1e6, (w * 1000) / (performance.now() - t0)];
    } finally {
      clearInterval(poke);
      sock?.destroy();
    }
  } finally {
    child.kill();
    await exited;
  }
}

try {
  for (const gapMs of [0, 1, 10]) {
    const n = gapMs ? 300 : 3000;
    const us: number[] = [];
    for (let r = 0; r < runs(); r++) {
      const c0 = process.cpuUsage();
      for (let i = 0; i < n; i++) {
        tx.publish("x", new Uint8Array(100));
        await new Promise((res) => (gapMs ? setTimeout(res, gapMs) : setImmediate(res)));
      }
      await tx.flush();
      await rx.flush();
      const c = process.cpuUsage(c0);
      us.push((c.user + c.system) / n);
    }
    out[`gap ${gapMs} ms`] = +median(us).toFixed(1);
  }
  const per: Record<string, [number, number][]> = {};
  for (let r = 0; r < runs(); r++) {
    const order = r % 2 ? [...KINDS].reverse() : KINDS;
    for (const kind of order) (per[kind] ??= []).push(await receiver(kind));
  }
  for (const k of KINDS) {
    receiverWakeupUs[k] = +median(per[k]!.map((x) => x[0])).toFixed(0);
    receiverWakeupsPerSecond[k] = +median(per[k]!.map((x) => x[1])).toFixed(1);
  }
} finally {
  tcp.close();
  await tx.close();
  await rx.close();
  await srv.stop();
}
report({
  bench: "message-cost",
  unit: "µs of this process's CPU per 100-byte message (sender + receiver)",
  runs: runs(),
  results: out,
  // µs of a lone receiver's CPU per wake-up, by what woke it (10 a second).
  receiverWakeupUs,
  receiverWakeupsPerSecond,
});
