/**
 * examples/service/ (issue 14, part 2): a node:http service embedding a worker (sharing the
 * service's NATS connection, startWorker({ nc })) and a client; a job posted over HTTP streams its
 * results back as server-sent events; SIGTERM stops it cleanly. Real nats-server, a scheduler
 * started here, the service as a child process.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { connect } from "nats";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Client, startScheduler, startWorker } from "../index.ts";
import { childExit, cleanup, onCleanup, startTestNats, waitForLine, withTimeout } from "./helpers/cluster.ts";

test.after(cleanup);

const ROOT = fileURLToPath(new URL("..", import.meta.url));

function steps(n: number): number {
  let s = 0;
  for (let x = n; x !== 1; s++) x = x % 2 === 0 ? x / 2 : 3 * x + 1;
  return s;
}

/** Reads a text/event-stream body to its end: [event, data] pairs. */
async function readEvents(res: Response): Promise<[string, unknown][]> {
  const out: [string, unknown][] = [];
  let buf = "";
  const dec = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += dec.decode(chunk, { stream: true });
    let end: number;
    while ((end = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const ev = /^event: (.*)$/m.exec(block)?.[1] ?? "message";
      const data = /^data: (.*)$/m.exec(block)?.[1];
      out.push([ev, data === undefined ? undefined : JSON.parse(data)]);
    }
  }
  return out;
}

test("examples/service: POST a job, its results stream back as server-sent events; SIGTERM stops it with exit 0", async () => {
  const nats = await startTestNats();
  const sched = await startScheduler({ servers: nats.url, cluster: "svc", log: { info: () => {}, warn: () => {} } });
  onCleanup(() => sched.stop());
  const child = spawn(process.execPath, ["--import", "tsx", "examples/service/main.ts", nats.url, "--cluster", "svc", "--port", "0"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  onCleanup(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"));
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d));
  const line = await waitForLine(child.stdout!, /listening on (http:\/\/\S+)/, { timeoutMs: 60_000 });
  const base = /listening on (http:\/\/\S+)/.exec(line)![1]!;
  assert.match(line, "worker 'service' with 2 executors, cluster 'svc'");
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d));

  const numbers = [27, 97, 871, 6171, 1, 0, 77031];
  const posted = await withTimeout(fetch(`${base}/jobs`, { method: "POST", body: JSON.stringify({ numbers }) }), 10_000, "POST /jobs");
  assert.is(posted.status, 202);
  const { id, events } = (await posted.json()) as { id: string; events: string };
  const stream = await withTimeout(fetch(`${base}${events}`), 10_000, "GET events");
  assert.is(stream.headers.get("content-type"), "text/event-stream");
  const got = await withTimeout(readEvents(stream), 60_000, "the event stream to end");
  const results = got.filter(([e]) => e === "result").map(([, d]) => d as { index: number; n: number; value?: number; error?: string });
  assert.is(results.length, numbers.length, "one event per number");
  for (const r of results) {
    if (r.n === 0) assert.match(r.error!, "not a positive whole number: 0");
    else assert.is(r.value, steps(r.n), `steps(${r.n})`);
  }
  assert.equal(results.map((r) => r.index).sort((a, b) => a - b), numbers.map((_, i) => i));
  assert.equal(got[got.length - 1], ["done", { count: numbers.length, errors: 1 }]);
  // A late subscriber reads the whole job again.
  const again = await withTimeout(readEvents(await fetch(`${base}/jobs/${id}/events`)), 10_000, "replay");
  assert.is(again.filter(([e]) => e === "result").length, numbers.length);
  assert.equal((await fetch(`${base}/jobs`, { method: "POST", body: "{}" })).status, 400);

  child.kill("SIGTERM");
  const { code } = await withTimeout(childExit(child), 30_000, "the service to stop");
  assert.is(code, 0, out + err);
  assert.match(out, "SIGTERM: stopping");
  assert.match(out, "stopped (worker exit code 0)");
});

test("startWorker({ nc }) shares the caller's connection (left open by stop()); executors connect to the same server", async () => {
  const nats = await startTestNats();
  const sched = await startScheduler({ servers: nats.url, cluster: "svc2", log: { info: () => {}, warn: () => {} } });
  onCleanup(() => sched.stop());
  const nc = await connect({ servers: nats.url });
  onCleanup(() => nc.close());
  const w = await withTimeout(startWorker({ nc, cluster: "svc2", name: "shared", nprocs: 1, log: { info: () => {}, warn: () => {} } }), 30_000, "worker");
  const client = await withTimeout(Client.connect(nats.url, { cluster: "svc2" }), 30_000, "client");
  try {
    assert.is(await withTimeout(client.submit((x: number) => x * 3, 14).result(), 30_000, "a task on the shared-connection worker"), 42);
    assert.equal((await client.info()).workers.map((x) => x.name), ["shared"]);
  } finally {
    await client.close();
  }
  assert.is((await withTimeout(w.stop(), 30_000, "stop")).exitCode, 0);
  assert.is(nc.isClosed(), false, "the shared connection is the caller's to close");
  const codeOf = (p: Promise<unknown>) => p.then(() => "resolved", (e: Error & { code?: string }) => e.code);
  assert.is(await codeOf(startWorker({})), "BadOption");
});

test.run();
