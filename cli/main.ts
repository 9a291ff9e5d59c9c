/**
 * The `ts-dask` command line: scheduler, worker, up, info. Thin: parses flags and starts actors.
 */
import { availableParallelism } from "node:os";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { TsDaskError } from "../runtime/errors.ts";
import { TSDASK_VERSION } from "../runtime/version.ts";
import { parseMemoryLimit } from "../runtime/memory.ts";
import { AUTH_FLAG_NAMES, authFromSources, type AuthFlags } from "../runtime/nats-auth.ts";
import { runInfo } from "./info.ts";
import { runScheduler, runUp, runWorker } from "./run.ts";

const HELP = `ts-dask ${TSDASK_VERSION} — a compute cluster for TypeScript

Usage:
  ts-dask up [--nprocs N] [--nthreads N] [--memory-limit X] [--name NAME] [--port P] [--lan]
      [--dashboard-address ADDR] [--max-value-bytes X] [--cluster NAME] [--local-directory DIR]
      A private cluster on this machine: nats-server, a scheduler and a worker. Ctrl-C stops all.
  ts-dask scheduler [--nats nats://host:4222] [--cluster NAME] [CREDENTIALS] [--dashboard-address ADDR]
      [--max-value-bytes X]
  ts-dask worker nats://host:4222 [--nprocs N] [--nthreads N] [--memory-limit 1GB]
      [--death-timeout SECONDS] [--name NAME] [--local-directory DIR] [--cluster NAME] [CREDENTIALS]
  ts-dask info [nats://host:4222] [--cluster NAME] [CREDENTIALS] [--json]

Worker flags (as dask-worker):
  --nprocs, --nworkers   executor processes (default: one per core)
  --nthreads             tasks at once per process, async tasks included (default 1)
  --memory-limit         per process: "1GB", "512MiB", "0.5" (of this machine), "auto", 0 = none
  --death-timeout        seconds to keep trying to reach a missing scheduler before exiting
  --name                 worker name; its processes are NAME-0 … NAME-(n-1)
  --local-directory      where the worker keeps uploaded code and installed packages

Credentials and TLS for NATS (scheduler, worker, info; secrets from files or the environment):
  --token-file FILE      a token ($TSDASK_TOKEN_FILE, or the token itself in $TSDASK_TOKEN)
  --user NAME --password-file FILE    ($TSDASK_USER, $TSDASK_PASSWORD_FILE or $TSDASK_PASSWORD)
  --nkey FILE            an nkey seed file ($TSDASK_NKEY_FILE)
  --creds FILE           a .creds file: user JWT and seed ($TSDASK_CREDS)
  --tls-ca FILE          CA of the server's certificate; the address must name the certificate's host
                         (a tls://host:port address requires TLS too) ($TSDASK_TLS_CA)
  --tls-cert FILE --tls-key FILE      a client certificate ($TSDASK_TLS_CERT, $TSDASK_TLS_KEY)
  --token T              still accepted, but \`ps\` shows it to every user of the machine

Scheduler flags:
  --dashboard-address    dashboard, /metrics and /health: ":8787" (default; every interface),
                         "127.0.0.1:8787", "host:0" (a free port) or "none" (off).
                         \`ts-dask up\` serves it on 127.0.0.1:8787 (":8787" with --lan).
  --max-value-bytes      cap on one value the scheduler stores ("1GiB" default, "200MB"…):
                         scattered values, and task arguments/results above NATS' max_payload,
                         which the scheduler holds in memory until they are used or gathered.
`;

const { values, positionals } = parseArgsOrExit({
  allowPositionals: true,
  options: {
    nats: { type: "string" },
    cluster: { type: "string" },
    token: { type: "string" },
    "token-file": { type: "string" },
    user: { type: "string" },
    "password-file": { type: "string" },
    nkey: { type: "string" },
    creds: { type: "string" },
    "tls-ca": { type: "string" },
    "tls-cert": { type: "string" },
    "tls-key": { type: "string" },
    nprocs: { type: "string" },
    nworkers: { type: "string" },
    nthreads: { type: "string" },
    "memory-limit": { type: "string" },
    "death-timeout": { type: "string" },
    name: { type: "string" },
    "local-directory": { type: "string" },
    port: { type: "string" },
    lan: { type: "boolean" },
    "dashboard-address": { type: "string" },
    "max-value-bytes": { type: "string" },
    json: { type: "boolean" },
    quiet: { type: "boolean" },
    help: { type: "boolean", short: "h" },
    version: { type: "boolean", short: "v" },
  },
});

const [command, address] = positionals;
// Flags each command reads: any other is a mistake (a flag silently ignored is worse than an error).
const FLAGS: Record<string, readonly string[]> = {
  up: ["nprocs", "nworkers", "nthreads", "memory-limit", "name", "port", "lan", "dashboard-address", "max-value-bytes", "cluster", "local-directory"],
  scheduler: ["nats", "cluster", ...AUTH_FLAG_NAMES, "dashboard-address", "max-value-bytes"],
  worker: ["nats", "cluster", ...AUTH_FLAG_NAMES, "nprocs", "nworkers", "nthreads", "memory-limit", "death-timeout", "name", "local-directory"],
  info: ["nats", "cluster", ...AUTH_FLAG_NAMES, "json"],
};
const always = new Set(["help", "version", "quiet"]);
if (command && FLAGS[command]) {
  const misplaced = Object.keys(values).filter((k) => !always.has(k) && !FLAGS[command]!.includes(k));
  if (misplaced.length) usageError(`ts-dask ${command} does not take ${misplaced.map((k) => `--${k}`).join(", ")}`);
}
const nprocs = count("--nprocs", values.nprocs ?? values.nworkers, availableParallelism());
const nthreads = count("--nthreads", values.nthreads, 1);
const maxValueBytes = bytesFlag("--max-value-bytes", values["max-value-bytes"]);
if (values["death-timeout"] !== undefined && !(Number(values["death-timeout"]) > 0)) usageError(`--death-timeout takes a number of seconds > 0, not '${values["death-timeout"]}'`);

try {
  if (values.version) console.log(TSDASK_VERSION);
  else if (values.help || !command) console.log(HELP);
  else if (command === "scheduler") await runScheduler({ servers: values.nats ?? address ?? "nats://127.0.0.1:4222", cluster: values.cluster ?? "default", auth: auth(), dashboardAddress: values["dashboard-address"], maxValueBytes });
  else if (command === "worker") {
    if (!address && !values.nats) usageError("ts-dask worker needs the NATS address, e.g. `ts-dask worker nats://host:4222`");
    await runWorker({
      servers: address ?? values.nats!,
      cluster: values.cluster ?? "default",
      auth: auth(),
      nprocs,
      nthreads,
      memoryLimit: values["memory-limit"] ?? "0",
      deathTimeoutS: values["death-timeout"] === undefined ? Infinity : Number(values["death-timeout"]),
      name: values.name,
      localDirectory: values["local-directory"],
    });
  } else if (command === "up") {
    await runUp({ nprocs, nthreads, memoryLimit: values["memory-limit"] ?? "0", name: values.name, port: values.port ? Number(values.port) : undefined, lan: !!values.lan, dashboardAddress: values["dashboard-address"], maxValueBytes, cluster: values.cluster, localDirectory: values["local-directory"] });
  } else if (command === "info") {
    await runInfo({ servers: address ?? values.nats ?? "nats://127.0.0.1:4222", cluster: values.cluster ?? "default", auth: auth(), json: !!values.json });
  } else {
    console.error(`unknown command '${command}'\n\n${HELP}`);
    process.exitCode = 2;
  }
} catch (e) {
  console.error(e instanceof TsDaskError ? e.message : ((e as Error).stack ?? String(e)));
  process.exit(1);
}
// Open connections or timers of a stopped actor must not keep the command alive.
process.exit(process.exitCode ?? 0);

/** NATS credentials from the flags and $TSDASK_* (files read now: a missing one fails at start). */
function auth() {
  return authFromSources(values as AuthFlags, process.env, (m) => console.error(`ts-dask: warning: ${m}`));
}

/** A usage mistake: one line saying what is wrong, then the usage, exit code 2 (no stack trace). */
function usageError(message: string): never {
  console.error(`ts-dask: ${message}\n\n${HELP}`);
  process.exit(2);
}

function parseArgsOrExit<T extends ParseArgsConfig>(config: T) {
  try {
    return parseArgs(config);
  } catch (e) {
    return usageError((e as Error).message);
  }
}

/** A byte count with an optional unit ("1GiB", "200MB") from a flag, or a usage error. */
function bytesFlag(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const s = text.trim();
  let n = NaN;
  try {
    n = /^\d+$/.test(s) ? Number(s) : /[a-z]$/i.test(s) ? parseMemoryLimit(s) : NaN;
  } catch {
    /* a bad unit: the usage error below */
  }
  if (!Number.isInteger(n) || n < 1) usageError(`${flag} takes a byte count ≥ 1 with an optional unit ("1GiB", "200MB"), not '${text}'`);
  return n;
}

/** A whole number ≥ 1 from a flag, or a usage error. */
function count(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) usageError(`${flag} takes a whole number ≥ 1, not '${text}'`);
  return n;
}
