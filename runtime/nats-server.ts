/**
 * Start and stop a private nats-server (the embedded server behind `ts-dask up`, Client.connect()
 * with no address, and every integration test).
 *
 * The server is a tethered child ({@link spawnTethered}): it dies with this process, even on SIGKILL.
 * It listens on a free loopback port unless a port is given (never 4222 unless asked: a foreign
 * nats-server may be there). Readiness is the server's own "Server is ready" log line, confirmed by a
 * TCP connect — no fixed sleeps. Needs nats-server ≥ 2.2 (the first to print that line).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { Errors } from "./errors.ts";
import { startupMark } from "./startup-trace.ts";
import { executablePath, isWindows, killTree, spawnTethered, waitForPidExit, type TetherExit, type Tethered } from "./platform.ts";

export interface NatsServerOptions {
  /** Client port; 0 or absent: a free port chosen for you (retried if another process takes it first). */
  port?: number;
  /** Address to bind (default `127.0.0.1`). `0.0.0.0` exposes the server to the network. */
  host?: string;
  /** Enable JetStream (KV, object store). */
  jetstream?: boolean;
  /** JetStream store directory; default a fresh temporary directory, removed by stop(). */
  storeDir?: string;
  /** Require this token from clients (`nats://token@host:port` or `connect({ token })`). */
  token?: string;
  /** Largest message in bytes (server default 1 MiB; NATS allows up to 64 MiB, warns above 8 MiB). */
  maxPayload?: number;
  /**
   * More server configuration, as nats-server config text: `authorization { users: […] }`, a
   * `tls { … }` block, `accounts`, `operator` … (written to a private 0600 file, never the command
   * line). The address and port still come from `host` and `port`.
   */
  config?: string;
  /** Copy the server's log lines to our stderr, prefixed `[nats-server :port]` (default false). */
  log?: boolean;
  /** How long to wait for the server to be ready (default 15000 ms). */
  startTimeoutMs?: number;
}

export interface NatsServer {
  /** Address for clients, e.g. `nats://127.0.0.1:39123` (loopback when bound to 0.0.0.0 or ::). */
  readonly url: string;
  readonly port: number;
  /** The address the server is bound to, as given (default `127.0.0.1`). */
  readonly host: string;
  /** PID of the nats-server process. */
  readonly pid: number;
  /** The JetStream store directory when JetStream is on. */
  readonly storeDir: string | undefined;
  /** Settles when the server process has exited, whoever stopped it. */
  readonly exited: Promise<TetherExit>;
  /** The server's most recent log lines (up to 50), for diagnostics. */
  recentLog(): string[];
  /** Terminate the server (SIGTERM, SIGKILL after 5 s), wait for its exit, remove its temporary files. Idempotent. */
  stop(): Promise<void>;
}

/** Where nats-server is looked for after `$TSDASK_NATS_SERVER` and PATH. */
const WELL_KNOWN_PATHS = isWindows
  ? [path.join(process.env.ProgramFiles ?? "C:\\Program Files", "nats-server", "nats-server.exe")]
  : ["/usr/sbin/nats-server", "/usr/local/bin/nats-server", "/opt/homebrew/bin/nats-server"];

/**
 * Path of the nats-server binary: `$TSDASK_NATS_SERVER` (a path, or a name looked up on PATH), then
 * `nats-server` on PATH, then the usual install locations (/usr/sbin, /usr/local/bin,
 * /opt/homebrew/bin). Undefined when none exists. An explicitly set `$TSDASK_NATS_SERVER` that names
 * no executable is an error ({@link Errors.NatsServerNotFound}), never silently replaced by another binary.
 */
export function findNatsServer(): string | undefined {
  const explicit = process.env.TSDASK_NATS_SERVER;
  if (explicit) {
    const found = executablePath(explicit);
    if (!found) throw Errors.NatsServerNotFound();
    return found;
  }
  const onPath = executablePath("nats-server");
  if (onPath) return onPath;
  for (const p of WELL_KNOWN_PATHS) {
    const found = executablePath(p);
    if (found) return found;
  }
  return undefined;
}

/** A TCP port that was free a moment ago on `host` (the OS picks it; never 4222). */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = net.createServer();
      srv.unref();
      srv.once("error", reject);
      srv.listen({ port: 0, host, exclusive: true }, () => {
        const { port } = srv.address() as net.AddressInfo;
        srv.close(() => resolve(port));
      });
    });
    if (port !== 4222) return port;
  }
}

/** The address a local client uses to reach a server bound to `host`. */
function connectHost(host: string): string {
  if (host === "" || host === "0.0.0.0") return "127.0.0.1";
  if (host === "::" || host === "[::]") return "::1";
  return host.replace(/^\[(.*)\]$/, "$1");
}

function urlFor(host: string, port: number): string {
  const h = connectHost(host);
  return `nats://${h.includes(":") ? `[${h}]` : h}:${port}`;
}

/** A JSON string is a valid quoted string in the NATS configuration language. */
const confString = (s: string) => JSON.stringify(s);

/** Raised inside this module when the chosen port was taken by someone else between pick and bind. */
class PortTaken extends Error {}

const MAX_PAYLOAD_LIMIT = 64 * 1024 * 1024;

/**
 * Start a private nats-server; resolves once it accepts connections.
 * Throws {@link Errors.NatsServerNotFound} when there is no binary, {@link Errors.NatsServerFailed}
 * when it does not start (port in use, bad option, not ready in time), {@link Errors.BadOption} for
 * invalid options.
 */
export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServer> {
  startupMark("nats-server", "start");
  const bin = findNatsServer();
  if (!bin) throw Errors.NatsServerNotFound();
  const host = opts.host ?? "127.0.0.1";
  const { port: wanted = 0, maxPayload } = opts;
  if (!Number.isInteger(wanted) || wanted < 0 || wanted > 65535) throw Errors.BadOption("port", wanted, "an integer 0–65535 (0: any free port)");
  if (maxPayload !== undefined && (!Number.isInteger(maxPayload) || maxPayload <= 0 || maxPayload > MAX_PAYLOAD_LIMIT)) {
    throw Errors.BadOption("maxPayload", maxPayload, `an integer number of bytes, 1–${MAX_PAYLOAD_LIMIT}`);
  }
  if (opts.token !== undefined && (typeof opts.token !== "string" || opts.token === "")) {
    throw Errors.BadOption("token", "(hidden)", "a non-empty string");
  }

  // One private temporary directory per server, for the config file (token, max_payload: kept off the
  // command line, where `ps` would show the token to every local user) and the default JetStream store.
  const needsConfig = opts.token !== undefined || maxPayload !== undefined || !!opts.config;
  const needsTmp = needsConfig || (opts.jetstream === true && !opts.storeDir);
  const tmpDir = needsTmp ? mkdtempSync(path.join(os.tmpdir(), "ts-dask-nats-")) : undefined;
  const removeTmp = () => {
    if (tmpDir) rmSync(tmpDir, { recursive: true, force: true, maxRetries: 3 });
  };

  const args = ["-a", host];
  if (needsConfig) {
    const lines: string[] = [];
    if (maxPayload !== undefined) lines.push(`max_payload: ${maxPayload}`);
    if (opts.token !== undefined) lines.push(`authorization { token: ${confString(opts.token)} }`);
    if (opts.config) lines.push(opts.config);
    const conf = path.join(tmpDir!, "nats-server.conf");
    writeFileSync(conf, lines.join("\n") + "\n", { mode: 0o600 });
    args.push("-c", conf);
  }
  const storeDir = opts.jetstream ? path.resolve(opts.storeDir ?? path.join(tmpDir!, "jetstream")) : undefined;
  if (storeDir) args.push("--jetstream", "--store_dir", storeDir);

  try {
    for (let attempt = 1; ; attempt++) {
      const port =
        wanted ||
        (await freePort(host).catch((e: Error) => {
          throw Errors.NatsServerFailed(`cannot listen on ${host}: ${e.message}`);
        }));
      try {
        return await launch(bin, [...args, "-p", String(port)], host, port, storeDir, opts, removeTmp);
      } catch (e) {
        // Someone took the port between our probe and the server's bind: pick another (rare).
        if (e instanceof PortTaken && !wanted && attempt < 5) continue;
        if (e instanceof PortTaken) throw Errors.NatsServerFailed(`port ${port} on ${host} is already in use`);
        throw e;
      }
    }
  } catch (e) {
    removeTmp();
    throw e;
  }
}

async function launch(
  bin: string,
  args: string[],
  host: string,
  port: number,
  storeDir: string | undefined,
  opts: NatsServerOptions,
  removeTmp: () => void,
): Promise<NatsServer> {
  const startTimeoutMs = opts.startTimeoutMs ?? 15_000;
  let child: Tethered;
  try {
    startupMark("nats-server", "spawn");
    child = await spawnTethered(bin, args, { stdout: "ignore", stderr: "pipe", killSignal: "SIGTERM", killGraceMs: 3000 });
    startupMark("nats-server", "spawned");
  } catch (e) {
    throw Errors.NatsServerFailed(`could not run ${bin}: ${(e as Error).message}`);
  }

  const recent: string[] = [];
  let fatal = "";
  let portTaken = false;
  let onReady!: () => void;
  const readyLine = new Promise<void>((r) => (onReady = r));
  // Keep reading for the server's whole life: a pipe nobody reads fills up and blocks the server.
  const lines = createInterface({ input: child.stderr!, crlfDelay: Infinity });
  const linesDone = new Promise<void>((r) => lines.once("close", r));
  lines.on("line", (line) => {
    recent.push(line);
    if (recent.length > 50) recent.shift();
    if (opts.log) process.stderr.write(`[nats-server :${port}] ${line}\n`);
    if (line.includes("Server is ready")) onReady();
    else if (/\[FTL\]/.test(line)) {
      fatal = line.replace(/^.*\[FTL\]\s*/, "");
      if (/address already in use|only one usage of each socket address/i.test(line)) portTaken = true;
    }
  });

  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    readyLine.then(() => "ready" as const),
    child.exited.then(() => "exited" as const),
    new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), startTimeoutMs))),
  ]);
  clearTimeout(timer);
  startupMark("nats-server", "ready-line");

  const fail = async (detail: string): Promise<never> => {
    await child.stop({ timeoutMs: 2000 });
    if (portTaken) throw new PortTaken(detail);
    throw Errors.NatsServerFailed(detail);
  };
  if (outcome === "exited") {
    const ex = await child.exited;
    // Read its last words (the [FTL] line) before judging; bounded, as a grandchild could hold the pipe.
    await Promise.race([linesDone, new Promise((r) => setTimeout(r, 1000).unref())]);
    const how = ex.signal ? `was killed by ${ex.signal}` : `exited with code ${ex.code}`;
    return fail(`${bin} ${how}: ${fatal || recent.slice(-5).join(" | ") || "no output"}`);
  }
  if (outcome === "timeout") return fail(`not ready within ${startTimeoutMs} ms; last output: ${recent.slice(-5).join(" | ") || "none"}`);
  try {
    await probe(connectHost(host), port, 5000);
  } catch (e) {
    return fail(`it logged "Server is ready" but ${connectHost(host)}:${port} refuses connections: ${(e as Error).message}`);
  }

  const pid = child.pid;
  let stopping: Promise<void> | undefined;
  return {
    url: urlFor(host, port),
    port,
    host,
    pid,
    storeDir,
    exited: child.exited,
    recentLog: () => [...recent],
    stop() {
      stopping ??= (async () => {
        await child.stop({ signal: "SIGTERM", timeoutMs: 5000 });
        // The keeper has reaped it; make sure by PID (covers a keeper that died on its own).
        if (!(await waitForPidExit(pid, 5000))) {
          killTree(pid, "SIGKILL");
          await waitForPidExit(pid, 5000);
        }
        removeTmp();
      })();
      return stopping;
    },
  };
}

/** Resolve once a TCP connection to host:port succeeds (a single attempt, bounded by `timeoutMs`). */
function probe(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    sock.setTimeout(timeoutMs, () => sock.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    sock.once("connect", () => {
      sock.destroy();
      resolve();
    });
    sock.once("error", reject);
  });
}
