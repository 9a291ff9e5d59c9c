/**
 * Embedding: the scheduler and a worker started inside a program you already run, sharing its
 * NATS connection and its logger, then a client of that cluster; `stop()` ends each.
 *
 *   npx tsx examples/embed.ts nats://127.0.0.1:4222 [--cluster embedded]
 *
 * (`ts-dask scheduler` and `ts-dask worker` are this, plus flags and signal handling.)
 */
import { connect } from "nats";
import { Client, startScheduler, startWorker, type Logger } from "ts-dask";

const argv = process.argv.slice(2);
const [servers = "nats://127.0.0.1:4222"] = argv.filter((a, i) => !a.startsWith("--") && !argv[i - 1]?.startsWith("--"));
const cluster = argv.includes("--cluster") ? argv[argv.indexOf("--cluster") + 1]! : "embedded";

// The host program's own logger and NATS connection.
const lines: string[] = [];
const log: Logger = { info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`) };
const nc = await connect({ servers });

const sched = await startScheduler({ nc, cluster, log });
const worker = await startWorker({ servers, cluster, name: "svc", nprocs: 1, log });
const client = await Client.connect(servers, { cluster });
try {
  const info = await client.info();
  console.log(`scheduler and worker '${info.workers.map((w) => w.name).join(", ")}' run inside pid ${process.pid} (cluster '${cluster}')`);
  const squares = await client.gather(client.map((x: number) => x * x, [1, 2, 3, 4]));
  console.log(`squares: ${squares.join(" ")}`);
} finally {
  await client.close();
  const out = await worker.stop();
  await sched.stop();
  console.log(`worker stopped (exit code ${out.exitCode}); the shared connection is ${nc.isClosed() ? "closed" : "still open"}`);
  await nc.close();
  console.log(`${lines.length} log lines went to the host's logger, e.g. "${lines[0]}"`);
}
