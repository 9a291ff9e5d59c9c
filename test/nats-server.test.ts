import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { connect, StringCodec, type NatsConnection } from "nats";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { TsDaskError } from "../runtime/errors.ts";
import { findNatsServer, startNatsServer, type NatsServer } from "../runtime/nats-server.ts";
import { isAlive, killTree } from "../runtime/platform.ts";
import { childExit, cleanup, onCleanup, startTestNats, waitFor, waitForLine, withTimeout } from "./helpers/cluster.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const sc = StringCodec();

async function open(server: NatsServer, opts: { token?: string } = {}): Promise<NatsConnection> {
  const nc = await withTimeout(connect({ servers: server.url, reconnect: false, ...opts }), 10_000, `connect to ${server.url}`);
  onCleanup(() => nc.close());
  return nc;
}

/** Publish on a fresh subject and await the message on a subscription of the same connection. */
async function roundTrip(nc: NatsConnection, text: string): Promise<string> {
  const subject = `test.${Math.random().toString(36).slice(2)}`;
  const sub = nc.subscribe(subject, { max: 1 });
  await withTimeout(nc.flush(), 5000, "subscription to reach the server");
  nc.publish(subject, sc.encode(text));
  for await (const m of sub) return sc.decode(m.data);
  throw new Error("subscription closed without a message");
}

/** Run `fn` with $TSDASK_NATS_SERVER set to `value`, restoring it afterwards. */
async function withEnv<T>(value: string, fn: () => Promise<T> | T): Promise<T> {
  const saved = process.env.TSDASK_NATS_SERVER;
  process.env.TSDASK_NATS_SERVER = value;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.TSDASK_NATS_SERVER;
    else process.env.TSDASK_NATS_SERVER = saved;
  }
}

test.after(cleanup);

test("findNatsServer finds the installed binary", () => {
  const bin = findNatsServer();
  assert.ok(bin, "nats-server installed (CI installs it)");
  assert.ok(path.isAbsolute(bin!));
});

test("starts on a free loopback port, round-trips a message, stops and is gone", async () => {
  const server = await startTestNats();
  assert.is(server.host, "127.0.0.1");
  assert.ok(server.port > 0 && server.port !== 4222, `port ${server.port}`);
  assert.is(server.url, `nats://127.0.0.1:${server.port}`);
  assert.ok(isAlive(server.pid));

  const nc = await open(server);
  assert.is(await withTimeout(roundTrip(nc, "hello"), 5000, "pub/sub round trip"), "hello");
  await nc.close();

  await withTimeout(server.stop(), 15_000, "server to stop");
  assert.not.ok(isAlive(server.pid), "PID gone after stop()");
  assert.ok((await server.exited) !== undefined);
  await server.stop(); // idempotent
});

test("two servers at once, on different ports, independent", async () => {
  const [a, b] = await Promise.all([startTestNats(), startTestNats()]);
  assert.is.not(a.port, b.port);
  assert.is.not(a.pid, b.pid);
  const [na, nb] = await Promise.all([open(a), open(b)]);
  // A subscriber on A does not hear a publish on B.
  const subject = "test.isolated";
  const subA = na.subscribe(subject);
  await na.flush();
  nb.publish(subject, sc.encode("from b"));
  await nb.flush();
  assert.is(await withTimeout(roundTrip(na, "a"), 5000, "round trip on A"), "a");
  assert.is(await withTimeout(roundTrip(nb, "b"), 5000, "round trip on B"), "b");
  assert.is(subA.getProcessed(), 0, "no cross-talk");
  await a.stop();
  assert.not.ok(isAlive(a.pid));
  assert.ok(isAlive(b.pid), "stopping A leaves B running");
  assert.is(await withTimeout(roundTrip(nb, "b2"), 5000, "B still works"), "b2");
});

test("jetstream with a temporary store directory, removed on stop", async () => {
  const server = await startTestNats({ jetstream: true });
  assert.ok(server.storeDir && existsSync(server.storeDir), "store dir exists");
  const nc = await open(server);
  const kv = await withTimeout(nc.jetstream().views.kv("test_bucket"), 10_000, "KV bucket");
  await kv.put("k", sc.encode("v"));
  assert.is(sc.decode((await kv.get("k"))!.value), "v");
  await nc.close();
  await server.stop();
  assert.not.ok(existsSync(server.storeDir!), "temporary store dir removed");
});

test("token and maxPayload are applied (and the token stays off the command line)", async () => {
  const token = 's3cret"tok\\en$x';
  const server = await startTestNats({ token, maxPayload: 2 * 1024 * 1024 });
  const denied = await connect({ servers: server.url, reconnect: false }).then(
    (nc) => (nc.close(), undefined),
    (e: Error) => e,
  );
  assert.ok(denied, "connecting without the token fails");
  assert.match(String((denied as Error).message), /authorization/i);
  const nc = await open(server, { token });
  assert.is(nc.info?.max_payload, 2 * 1024 * 1024);
  assert.is(await withTimeout(roundTrip(nc, "authorised"), 5000, "round trip with token"), "authorised");
  if (process.platform === "linux") {
    const { readFileSync } = await import("node:fs");
    const cmdline = readFileSync(`/proc/${server.pid}/cmdline`, "utf8");
    assert.not.ok(cmdline.includes("s3cret"), "token not visible in the process list");
  }
});

test("an explicit port in use fails with NatsServerFailed", async () => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
  onCleanup(() => new Promise((r) => blocker.close(r)));
  const port = (blocker.address() as net.AddressInfo).port;
  const err = await withTimeout(
    startNatsServer({ port }).then(
      (s) => (onCleanup(() => s.stop()), undefined),
      (e: unknown) => e,
    ),
    20_000,
    "start on a busy port",
  );
  assert.instance(err, TsDaskError);
  assert.is((err as TsDaskError).code, "NatsServerFailed");
  assert.match((err as Error).message, new RegExp(`${port}`));
});

test("missing binary: NatsServerNotFound with the install hint, no fallback", async () => {
  await withEnv("/nonexistent/nats-server", async () => {
    const thrown = (() => {
      try {
        findNatsServer();
      } catch (e) {
        return e;
      }
    })();
    assert.instance(thrown, TsDaskError);
    assert.is((thrown as TsDaskError).code, "NatsServerNotFound");
    const err = await startNatsServer().then(
      (s) => (onCleanup(() => s.stop()), undefined),
      (e: unknown) => e,
    );
    assert.instance(err, TsDaskError);
    assert.is((err as TsDaskError).code, "NatsServerNotFound");
    assert.match((err as Error).message, /apt-get install nats-server/);
    assert.match((err as Error).message, /brew install nats-server/);
  });
  // A set-but-empty variable means "not set".
  await withEnv("", () => assert.ok(findNatsServer()));
});

test("the server dies with the process that started it, even on SIGKILL", async () => {
  const url = pathToFileURL(path.join(here, "..", "runtime", "nats-server.ts")).href;
  const parent = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "--input-type=module",
      "-e",
      `const { startNatsServer } = await import(${JSON.stringify(url)});
       const s = await startNatsServer();
       console.log(JSON.stringify({ pid: s.pid, port: s.port }));`,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  onCleanup(() => void (parent.exitCode === null && parent.signalCode === null && parent.kill("SIGKILL")));
  const line = await waitForLine(parent.stdout!, /^\{/, { timeoutMs: 20_000, label: "server PID from the parent" });
  const { pid } = JSON.parse(line) as { pid: number; port: number };
  onCleanup(() => void (isAlive(pid) && killTree(pid, "SIGKILL")));
  assert.ok(isAlive(pid));
  parent.kill("SIGKILL");
  await withTimeout(childExit(parent), 10_000, "parent to die");
  // The server is not our child: no exit event reaches us, so poll its PID (bounded).
  await waitFor(() => !isAlive(pid), { timeoutMs: 10_000, label: `nats-server ${pid} gone after its parent died` });
});

test.run();
