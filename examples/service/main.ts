/**
 * A small HTTP service (node:http) that embeds a ts-dask worker and a client, sharing one NATS
 * connection with them: it accepts a job over HTTP and streams its results back with server-sent
 * events. The scheduler runs elsewhere (`ts-dask scheduler`, or startScheduler in another program).
 *
 *   npx tsx examples/service/main.ts nats://127.0.0.1:4222 [--cluster default] [--port 8080]
 *
 *   curl -s -X POST localhost:8080/jobs -d '{"numbers":[27,97,871]}'     → {"id":"1","events":"/jobs/1/events"}
 *   curl -sN localhost:8080/jobs/1/events                               → event: result / data: {"index":0,"n":27,"value":111} …
 *                                                                          event: done / data: {"count":3,"errors":0}
 * SIGTERM or Ctrl-C: stop taking jobs, hand queued tasks back, close everything, exit 0.
 */
import { createServer, type ServerResponse } from "node:http";
import { connect } from "nats";
import { Client, startWorker, type Future, type Logger } from "ts-dask";

const argv = process.argv.slice(2);
const flag = (name: string, dflt: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1]! : dflt);
const servers = argv.find((a, i) => !a.startsWith("--") && !argv[i - 1]?.startsWith("--")) ?? "nats://127.0.0.1:4222";
const cluster = flag("--cluster", "default");
const port = Number(flag("--port", "8080"));

const log: Logger = { info: (m) => console.log(`[service] ${m}`), warn: (m) => console.error(`[service] ${m}`) };
const nc = await connect({ servers, name: "example service" });
// The worker's supervisor shares the service's connection; its executor processes connect themselves.
const worker = await startWorker({ nc, cluster, name: "service", nprocs: 2, log });
const client = await Client.connect(servers, { cluster });
const work = await client.importModule<typeof import("./work.ts")>("./work.ts");

interface Row {
  index: number;
  n: number;
  value?: number;
  error?: string;
}
interface Job {
  rows: Row[];
  total: number;
  done: boolean;
  watchers: Set<ServerResponse>;
}
const jobs = new Map<string, Job>();
let nextJob = 1;

function send(res: ServerResponse, event: string, data: unknown) {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

function finish(job: Job, res: ServerResponse) {
  send(res, "done", { count: job.rows.length, errors: job.rows.filter((r) => r.error !== undefined).length });
  res.end();
}

async function run(job: Job, numbers: number[]) {
  const futures = client.map(work.collatzSteps, numbers);
  const index = new Map<Future<number>, number>(futures.map((f, i) => [f, i]));
  for await (const f of client.asCompleted(futures)) {
    const i = index.get(f)!;
    const err = await f.exception();
    const row: Row = err ? { index: i, n: numbers[i]!, error: err.message } : { index: i, n: numbers[i]!, value: await f.result() };
    job.rows.push(row);
    for (const w of job.watchers) send(w, "result", row);
  }
  job.done = true;
  for (const w of job.watchers) finish(job, w);
  job.watchers.clear();
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://x");
  if (req.method === "POST" && url.pathname === "/jobs") {
    let body = "";
    req.on("data", (d: Buffer) => (body += d));
    req.on("end", () => {
      let numbers: unknown;
      try {
        numbers = (JSON.parse(body) as { numbers?: unknown }).numbers;
      } catch {
        numbers = undefined;
      }
      if (!Array.isArray(numbers) || !numbers.every((n) => typeof n === "number")) {
        res.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({ error: 'send {"numbers": [1, 2, …]}' }));
        return;
      }
      const id = String(nextJob++);
      const job: Job = { rows: [], total: numbers.length, done: false, watchers: new Set() };
      jobs.set(id, job);
      void run(job, numbers as number[]);
      res.writeHead(202, { "content-type": "application/json" }).end(JSON.stringify({ id, events: `/jobs/${id}/events` }));
    });
    return;
  }
  const m = /^\/jobs\/(\d+)\/events$/.exec(url.pathname);
  const job = m ? jobs.get(m[1]!) : undefined;
  if (req.method === "GET" && job) {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    // A late subscriber gets the rows so far first, then the rest as they come.
    for (const row of job.rows) send(res, "result", row);
    if (job.done) return finish(job, res);
    job.watchers.add(res);
    req.on("close", () => job.watchers.delete(res));
    return;
  }
  res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: "POST /jobs, then GET /jobs/<id>/events" }));
});
server.listen(port, "127.0.0.1", () => {
  const a = server.address() as { port: number };
  console.log(`listening on http://127.0.0.1:${a.port} (worker 'service' with 2 executors, cluster '${cluster}')`);
});

let stopping = false;
async function stop(signal: string) {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: stopping`);
  server.close();
  for (const j of jobs.values()) for (const w of j.watchers) w.end();
  await client.close();
  const out = await worker.stop();
  await nc.close();
  console.log(`stopped (worker exit code ${out.exitCode})`);
  process.exit(0);
}
process.on("SIGTERM", () => void stop("SIGTERM"));
process.on("SIGINT", () => void stop("SIGINT"));
