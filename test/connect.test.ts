/** Connecting to something that is not a NATS server: a clear error, and nothing left running. */
import { spawn } from "node:child_process";
import { createServer as createHttp, type Server as HttpServer } from "node:http";
import { createServer as createTcp, type Server as TcpServer, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { once } from "node:events";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { childExit, withTimeout } from "./helpers/cluster.ts";

const FIXTURE = fileURLToPath(new URL("./fixtures/connect/not-nats.ts", import.meta.url));
const t = suite<{ http: HttpServer; silent: TcpServer; sockets: Socket[] }>("connect");

t.before(async (ctx) => {
  ctx.http = createHttp((_, res) => res.end("a dashboard")).listen(0, "127.0.0.1");
  ctx.sockets = [];
  ctx.silent = createTcp((s) => ctx.sockets.push(s)).listen(0, "127.0.0.1"); // accepts, never speaks
  await Promise.all([once(ctx.http, "listening"), once(ctx.silent, "listening")]);
});
t.after((ctx) => {
  ctx.http.closeAllConnections();
  ctx.http.close();
  for (const s of ctx.sockets) s.destroy();
  ctx.silent.close();
});

/** Runs the fixture against `address`; it must print its outcome and exit on its own (the servers stay up). */
async function connectTo(address: string): Promise<{ code: string; message: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", FIXTURE, address], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d));
  child.stderr!.on("data", (d: Buffer) => (out += d));
  const { code } = await withTimeout(childExit(child), 30_000, `the client process to exit by itself after connecting to ${address}`).catch((e) => {
    child.kill("SIGKILL");
    throw e;
  });
  assert.is(code, 0, out);
  return JSON.parse(out.trim().split("\n").at(-1)!);
}

const port = (s: HttpServer | TcpServer) => (s.address() as { port: number }).port;

t("an HTTP port (the dashboard) is named as not NATS, and the client leaves nothing open", async ({ http }) => {
  const r = await connectTo(`nats://127.0.0.1:${port(http)}`);
  assert.is(r.code, "NotNats", r.message);
  assert.match(r.message, `nats://127.0.0.1:${port(http)} is not a NATS server: it answered "HTTP/1.1 400 Bad Request"`);
  assert.match(r.message, "4222");
});

t("a port that accepts and says nothing is not NATS either", async ({ silent }) => {
  const r = await connectTo(`nats://127.0.0.1:${port(silent)}`);
  assert.is(r.code, "NotNats", r.message);
  assert.match(r.message, "said nothing");
});

t.run();
