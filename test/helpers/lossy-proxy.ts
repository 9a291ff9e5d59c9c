/**
 * A TCP proxy in front of a real nats-server that drops chosen messages on their way to the
 * client: NATS delivers at most once, and this is how a test loses a message without touching
 * the code under test (as a route between NATS nodes that fell behind would). It reads the
 * server's side of the NATS protocol (`MSG`/`HMSG` frames; every other line passes as it is), and
 * counts what its clients send (`SUB`, `UNSUB`, `PUB`, … in {@link LossyProxy.clientOps}): how a
 * test sees the protocol cost of the code under test at a real server.
 */
import { createServer, connect as tcpConnect, type Server, type Socket } from "node:net";

export interface LossyProxy {
  /** `nats://127.0.0.1:<port>`: connect the client here. */
  url: string;
  /** Subjects of the messages dropped so far. */
  dropped: string[];
  /** Protocol operations the proxy's clients sent so far, by verb (`SUB`, `UNSUB`, `PUB`, `HPUB`, `PING`, …). */
  clientOps: Record<string, number>;
  /** Subjects of the clients' `SUB` lines so far, in order. */
  subscribed: string[];
  close(): Promise<void>;
}

/**
 * @param target the nats-server's `nats://host:port`
 * @param drop called for each message to a client of this proxy; true drops it
 */
export async function startLossyProxy(target: string, drop: (subject: string) => boolean): Promise<LossyProxy> {
  const { hostname, port } = new URL(target);
  const dropped: string[] = [];
  const clientOps: Record<string, number> = {};
  const subscribed: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = tcpConnect(Number(port), hostname);
    sockets.add(client).add(upstream);
    // Passed on unchanged; read on the side to count the client's operations.
    let sent: Buffer = Buffer.alloc(0);
    client.on("data", (chunk: Buffer) => {
      upstream.write(chunk);
      sent = sent.length ? Buffer.concat([sent, chunk]) : chunk;
      for (;;) {
        const eol = sent.indexOf("\r\n");
        if (eol < 0) break;
        const parts = sent.subarray(0, eol).toString("latin1").split(" ");
        const op = parts[0]!.toUpperCase();
        let end = eol + 2;
        if (op === "PUB" || op === "HPUB") {
          end += Number(parts[parts.length - 1]) + 2; // payload (headers included) and its CRLF
          if (sent.length < end) break;
        }
        clientOps[op] = (clientOps[op] ?? 0) + 1;
        if (op === "SUB") subscribed.push(parts[1]!);
        sent = sent.subarray(end);
      }
    });
    let buf: Buffer = Buffer.alloc(0);
    upstream.on("data", (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      const out: Buffer[] = [];
      for (;;) {
        const eol = buf.indexOf("\r\n");
        if (eol < 0) break;
        const line = buf.subarray(0, eol).toString("latin1");
        const op = line.slice(0, line.indexOf(" ") >>> 0).toUpperCase();
        let end = eol + 2;
        if (op === "MSG" || op === "HMSG") {
          const parts = line.split(" ");
          end += Number(parts[parts.length - 1]) + 2; // payload (headers included) and its CRLF
          if (buf.length < end) break;
          if (drop(parts[1]!)) {
            dropped.push(parts[1]!);
            buf = buf.subarray(end);
            continue;
          }
        }
        out.push(buf.subarray(0, end));
        buf = buf.subarray(end);
      }
      if (out.length) client.write(Buffer.concat(out));
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address() as { port: number };
  return {
    url: `nats://127.0.0.1:${addr.port}`,
    dropped,
    clientOps,
    subscribed,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
