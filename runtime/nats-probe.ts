/**
 * Is there a NATS server at this address? A NATS server greets every new connection with `INFO {…}`
 * at once; the NATS client library, given some other service (the dashboard's HTTP port, say), waits
 * 20 s for that greeting and then leaves its socket open. One raw TCP look first turns that into a
 * clear error within about a second.
 */
import { connect as tcpConnect } from "node:net";

/** Wait this long for the greeting before poking the other side (HTTP servers speak only when spoken to). */
const QUIET_MS = 1_000;
/** Give up after this: the other side neither greets nor answers. */
const GIVE_UP_MS = 5_000;

/**
 * What the first server of a `nats://…` list says: `"nats"` (it greeted with INFO), `"unreachable"`
 * (no TCP connection: left to the NATS client, which may retry), or `{ other }` with the first bytes
 * (or "" for silence) of whatever is listening there instead.
 */
export function probeNats(server: string): Promise<"nats" | "unreachable" | { other: string }> {
  const m = /^(?:(nats|tls):\/\/)?(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/i.exec(server.trim());
  if (!m) return Promise.resolve("nats"); // ws:// or a form we do not know: leave it to the client library
  const host = m[2]!.replace(/^\[|\]$/g, "");
  const port = Number(m[3] ?? 4222);
  return new Promise((resolve) => {
    let got = "";
    const sock = tcpConnect({ host, port });
    const done = (r: "nats" | "unreachable" | { other: string }) => {
      clearTimeout(poke);
      clearTimeout(giveUp);
      sock.destroy();
      resolve(r);
    };
    const poke = setTimeout(() => sock.writable && sock.write("PING\r\n"), QUIET_MS);
    const giveUp = setTimeout(() => done({ other: got }), GIVE_UP_MS);
    sock.on("data", (d: Buffer) => {
      got += d.toString("latin1");
      if (got.length < 5 && "INFO ".startsWith(got)) return;
      done(got.startsWith("INFO ") ? "nats" : { other: got });
    });
    sock.on("error", () => done(got ? { other: got } : "unreachable"));
    sock.on("close", () => done(got ? { other: got } : "unreachable"));
  });
}
