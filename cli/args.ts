/**
 * The `ts-dask` command line as data: each subcommand's flags (commander), turned into checked
 * values or one {@link UsageError} that says what is wrong in our own words and shows that
 * subcommand's usage only. Nothing here starts anything.
 */
import { availableParallelism } from "node:os";
import { Command, CommanderError, Option } from "commander";
import { Errors, TsDaskError } from "../runtime/errors.ts";
import { parseMemoryLimit } from "../runtime/memory.ts";
import { TSDASK_VERSION } from "../runtime/version.ts";
import { authFromSources, type NatsAuth } from "../runtime/nats-auth.ts";

/** What the command line asked for. */
export type Invocation =
  | { command: "help"; text: string }
  | { command: "version" }
  | { command: "scheduler"; servers: string; cluster: string; auth: NatsAuth; dashboardAddress?: string; maxValueBytes?: number }
  | {
      command: "worker";
      servers: string;
      cluster: string;
      auth: NatsAuth;
      nprocs: number;
      nthreads: number;
      memoryLimit: string;
      deathTimeoutS: number;
      name?: string;
      localDirectory?: string;
      resources?: Record<string, number>;
    }
  | { command: "up"; nprocs: number; nthreads: number; memoryLimit: string; name?: string; port?: number; lan: boolean; jetstream: boolean; dashboardAddress?: string; maxValueBytes?: number; cluster?: string; localDirectory?: string; resources?: Record<string, number> }
  | { command: "info"; servers: string; cluster: string; auth: NatsAuth; json: boolean; defaultAddress: boolean };

/** A mistake on the command line: `error` says what, `usage` is the usage of the subcommand concerned. Exit code 2. */
export class UsageError extends Error {
  constructor(
    readonly error: TsDaskError,
    readonly usage: string,
  ) {
    super(error.message);
  }
}

const DEFAULT_NATS = "nats://127.0.0.1:4222";

const workerFlags = (c: Command) =>
  c
    .option("--nprocs <n>", 'executor processes: a number, negative counts from the cores (-1 = all), or "auto" (default: one per core)')
    .addOption(new Option("--nworkers <n>", "the same as --nprocs (Dask's newer name)"))
    .option("--nthreads <n>", "tasks at once per process, async tasks included (default 1)")
    .option("--memory-limit <x>", 'per process: "1GB", "512MiB", "0.5" (of this machine), "auto", 0 = none')
    .option("--name <name>", "worker name; its processes are NAME-0 … NAME-(n-1)")
    .option("--local-directory <dir>", "where the worker keeps uploaded code and installed packages")
    .option("--resources <list>", 'what each process offers to tasks that ask for resources, e.g. "GPU=1,MEM=8e9" (as dask-worker)');

/** NATS credentials and TLS (runtime/nats-auth.ts): secrets from files or the environment, never only the command line. */
const authFlags = (c: Command) =>
  c
    .option("--token-file <file>", "a file holding the NATS token ($TSDASK_TOKEN_FILE, or the token itself in $TSDASK_TOKEN)")
    .option("--user <name>", "NATS user ($TSDASK_USER); the password from --password-file")
    .option("--password-file <file>", "a file holding the user's password ($TSDASK_PASSWORD_FILE or $TSDASK_PASSWORD)")
    .option("--nkey <file>", "an nkey seed file ($TSDASK_NKEY_FILE)")
    .option("--creds <file>", "a .creds file: user JWT and seed ($TSDASK_CREDS)")
    .option("--tls-ca <file>", "CA of the server's certificate; the address must name the certificate's host ($TSDASK_TLS_CA)")
    .option("--tls-cert <file>", "a client certificate ($TSDASK_TLS_CERT)")
    .option("--tls-key <file>", "the client certificate's key ($TSDASK_TLS_KEY)")
    .option("--token <t>", "the NATS token (still accepted, but `ps` shows it to every user of the machine)");

/** The credentials the flags and $TSDASK_* give (files read now: a missing one is a mistake on the command line). */
function authOf(o: Record<string, string | boolean | undefined>): NatsAuth {
  const s = (k: string) => o[k] as string | undefined;
  return authFromSources(
    { token: s("token"), "token-file": s("tokenFile"), user: s("user"), "password-file": s("passwordFile"), nkey: s("nkey"), creds: s("creds"), "tls-ca": s("tlsCa"), "tls-cert": s("tlsCert"), "tls-key": s("tlsKey") },
    process.env,
    (m) => console.error(`ts-dask: warning: ${m}`),
  );
}

const schedulerFlags = (c: Command) =>
  c
    .option("--dashboard-address <addr>", 'dashboard, /metrics and /health: ":8787" (every interface), "127.0.0.1:8787", "host:0" (a free port) or "none"')
    .option("--max-value-bytes <x>", 'cap on one value the scheduler stores ("1GiB" default, "200MB"…)');

/** The program: one subcommand per actor, each with its own flags and usage. */
function program(): Command {
  const p = new Command("ts-dask")
    .description(`ts-dask ${TSDASK_VERSION} — a compute cluster for TypeScript. Each command's flags: ts-dask COMMAND --help`)
    .helpOption(false)
    .option("-h, --help", "this help")
    .option("-v, --version", "the version")
    .allowExcessArguments(false)
    .enablePositionalOptions(); // flags after a command are that command's
  schedulerFlags(
    workerFlags(p.command("up").description("a private cluster on this machine: nats-server, a scheduler and a worker. Ctrl-C stops all.")),
  )
    .option("--port <p>", "the NATS port (default: a free one)")
    .option("--lan", "listen on every interface, protected by a generated token")
    .option("--jetstream", "run nats-server with JetStream (durable outputs: { publish, durable })")
    .option("--cluster <name>", "the cluster's name on NATS (default: generated)");
  authFlags(
    schedulerFlags(p.command("scheduler").description("the scheduler (one per cluster); serves the dashboard").argument("[address]", `NATS address (default ${DEFAULT_NATS})`))
      .option("--nats <address>", "NATS address (the same as the argument)")
      .option("--cluster <name>", 'the cluster\'s name on NATS (default "default")'),
  );
  authFlags(
    workerFlags(p.command("worker").description("a worker: a supervisor and its executor processes (flags as dask-worker)").argument("[address]", "NATS address, e.g. nats://host:4222"))
      .option("--death-timeout <seconds>", "seconds to keep trying to reach a missing scheduler before exiting (default: forever)")
      .option("--nats <address>", "NATS address (the same as the argument)")
      .option("--cluster <name>", 'the cluster\'s name on NATS (default "default")'),
  );
  authFlags(
    p.command("info")
      .description("workers, executors, versions, queue lengths")
      .argument("[address]", `NATS address (default ${DEFAULT_NATS})`)
      .option("--nats <address>", "NATS address (the same as the argument)")
      .option("--cluster <name>", 'the cluster\'s name on NATS (default "default")')
      .option("--json", "print JSON"),
  );
  // Commander throws its parse errors (exitOverride) and prints nothing: parseCommandLine words them.
  for (const c of [p, ...p.commands]) {
    c.exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {}, outputError: () => {} });
    if (c !== p) c.helpOption("-h, --help", "this help").allowExcessArguments(false);
  }
  return p;
}

/** Every flag of every command, and whether it takes a value (for tests of the service definitions in deploy/). */
export function cliFlags(): Map<string, "string" | "boolean"> {
  const out = new Map<string, "string" | "boolean">();
  for (const c of program().commands) for (const o of c.options) if (o.long) out.set(o.long.slice(2), o.required || o.optional ? "string" : "boolean");
  return out;
}

/** Reads the command line (`argv` without node and the script). */
export function parseCommandLine(argv: readonly string[], cores = availableParallelism()): Invocation {
  const p = program();
  let ran: Command | undefined;
  for (const c of p.commands) c.action(() => void (ran = c));
  try {
    p.parse(argv as string[], { from: "user" });
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    const first = argv.find((a) => !a.startsWith("-"));
    const sub = p.commands.find((c) => c.name() === (first === "help" ? argv[argv.indexOf(first) + 1] : first));
    if (!sub && (argv.includes("-v") || argv.includes("--version"))) return { command: "version" };
    if (e.code === "commander.helpDisplayed" || e.code === "commander.help") return { command: "help", text: (sub ?? p).helpInformation() };
    const positionals = argv.filter((a, i) => !a.startsWith("-") && !(argv[i - 1]?.startsWith("--") && !argv[i - 1]!.includes("=")));
    throw new UsageError(translate(e, sub ? `ts-dask ${sub.name()}` : "ts-dask", positionals.slice(2)), (sub ?? p).helpInformation());
  }
  const top = p.opts<{ help?: boolean; version?: boolean }>();
  if (top.version) return { command: "version" };
  if (!ran || top.help) return { command: "help", text: (ran ?? p).helpInformation() };
  const c = ran;
  const o = c.opts<Record<string, string | boolean | undefined>>();
  const str = (k: string) => o[k] as string | undefined;
  const address = c.args[0];
  try {
    switch (c.name()) {
      case "scheduler":
        return { command: "scheduler", servers: str("nats") ?? address ?? DEFAULT_NATS, cluster: str("cluster") ?? "default", auth: authOf(o), dashboardAddress: str("dashboardAddress"), maxValueBytes: bytesFlag("--max-value-bytes", str("maxValueBytes")) };
      case "info":
        return { command: "info", servers: address ?? str("nats") ?? DEFAULT_NATS, cluster: str("cluster") ?? "default", auth: authOf(o), json: !!o.json, defaultAddress: !address && !str("nats") };
      case "worker": {
        const servers = address ?? str("nats");
        if (!servers) throw Errors.MissingAddress("ts-dask worker", "ts-dask worker nats://host:4222");
        const { nprocs, nthreads } = processes(str("nprocs"), str("nworkers"), str("nthreads"), cores);
        const death = str("deathTimeout");
        if (death !== undefined && !(Number(death) > 0)) throw Errors.BadFlag("--death-timeout", death, "a number of seconds > 0");
        return {
          command: "worker",
          servers,
          cluster: str("cluster") ?? "default",
          auth: authOf(o),
          nprocs,
          nthreads,
          memoryLimit: memoryFlag(str("memoryLimit"), nprocs),
          deathTimeoutS: death === undefined ? Infinity : Number(death),
          name: str("name"),
          localDirectory: str("localDirectory"),
          ...(str("resources") !== undefined ? { resources: resourcesFlag(str("resources")!) } : {}),
        };
      }
      default: {
        const { nprocs, nthreads } = processes(str("nprocs"), str("nworkers"), str("nthreads"), cores);
        const port = str("port");
        if (port !== undefined && !(Number.isInteger(Number(port)) && Number(port) >= 0 && Number(port) < 65536)) throw Errors.BadFlag("--port", port, "a port number (0–65535)");
        return {
          command: "up",
          nprocs,
          nthreads,
          memoryLimit: memoryFlag(str("memoryLimit"), nprocs),
          name: str("name"),
          port: port === undefined ? undefined : Number(port),
          lan: !!o.lan,
          jetstream: !!o.jetstream,
          dashboardAddress: str("dashboardAddress"),
          maxValueBytes: bytesFlag("--max-value-bytes", str("maxValueBytes")),
          cluster: str("cluster"),
          localDirectory: str("localDirectory"),
          ...(str("resources") !== undefined ? { resources: resourcesFlag(str("resources")!) } : {}),
        };
      }
    }
  } catch (e) {
    if (e instanceof TsDaskError) throw new UsageError(e, c.helpInformation());
    throw e;
  }
}

/** Commander's parse error, in our words. */
function translate(e: CommanderError, command: string, extra: readonly string[]): TsDaskError {
  const quoted = /'([^']+)'/.exec(e.message)?.[1] ?? "";
  switch (e.code) {
    case "commander.unknownOption":
      return Errors.UnknownFlag(command, quoted, /\(Did you mean (\S+)\?\)/.exec(e.message)?.[1]);
    case "commander.unknownCommand":
      return Errors.UnknownCommand(quoted);
    case "commander.optionMissingArgument":
      return Errors.FlagNeedsValue(command, quoted.split(/[ ,]/).find((f) => f.startsWith("--")) ?? quoted);
    case "commander.excessArguments":
      return Errors.ExtraArguments(command, extra);
    default:
      return Errors.BadCommandLine(command, e.message.replace(/^error: /, "").replace(/\.$/, ""));
  }
}

/**
 * Executor processes and tasks per process, with dask-worker's meanings: a positive count; a
 * negative one counted from the cores (`cores + 1 + n`: -1 = all, -2 = all but one); `auto`. Dask's
 * `auto` splits the cores into processes × threads; JavaScript runs one thread per process, so
 * here `auto` is one process per core, one task at a time each (threads would share one core).
 */
export function processes(nprocs: string | undefined, nworkers: string | undefined, nthreads: string | undefined, cores: number): { nprocs: number; nthreads: number } {
  if (nprocs !== undefined && nworkers !== undefined) throw Errors.FlagConflict("--nprocs", "--nworkers", "they are the same flag, give one");
  const flag = nworkers !== undefined ? "--nworkers" : "--nprocs";
  const text = (nprocs ?? nworkers)?.trim();
  const threads = nthreads === undefined ? 1 : Number(nthreads);
  if (!Number.isInteger(threads) || threads < 1) throw Errors.BadFlag("--nthreads", nthreads!, "a whole number ≥ 1");
  if (text === undefined || text === "auto") return { nprocs: cores, nthreads: threads };
  const n = Number(text);
  const expected = `a whole number ≥ 1, a negative number counted from this machine's ${cores} cores (-1 = all), or "auto"`;
  if (!Number.isInteger(n) || n === 0 || text === "") throw Errors.BadFlag(flag, text, expected);
  const count = n < 0 ? cores + 1 + n : n;
  if (count < 1) throw Errors.BadFlag(flag, text, `a count that leaves at least one process (this machine has ${cores} cores, so negative counts go down to ${-cores})`);
  return { nprocs: count, nthreads: threads };
}

/** `--resources GPU=1,MEM=8e9`: names of letters, digits, `_` and `-`, amounts finite and > 0. */
export function resourcesFlag(v: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of v.split(",")) {
    const m = /^\s*([A-Za-z0-9_-]{1,64})\s*=\s*(\S+)\s*$/.exec(part);
    const x = m ? Number(m[2]) : NaN;
    if (!m || !Number.isFinite(x) || x <= 0) throw Errors.BadFlag("--resources", v, "NAME=AMOUNT pairs separated by commas, amounts > 0 (e.g. GPU=1,MEM=8e9)");
    out[m[1]!] = x;
  }
  return out;
}

/** `--memory-limit`, checked now (a bad unit is a usage error, not a failure after start). */
function memoryFlag(text: string | undefined, nprocs: number): string {
  const t = text ?? "0";
  parseMemoryLimit(t, nprocs); // throws BadMemoryLimit
  return t;
}

/** A byte count with an optional unit ("1GiB", "200MB") from a flag. */
function bytesFlag(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const s = text.trim();
  let n = NaN;
  try {
    n = /^\d+$/.test(s) ? Number(s) : /[a-z]$/i.test(s) ? parseMemoryLimit(s) : NaN;
  } catch {
    /* a bad unit: the error below */
  }
  if (!Number.isInteger(n) || n < 1) throw Errors.BadFlag(flag, text, 'a byte count ≥ 1 with an optional unit ("1GiB", "200MB")');
  return n;
}
