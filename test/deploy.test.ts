/**
 * deploy/: every service definition (systemd, launchd, NSSM, Docker) runs a `ts-dask` command line
 * the CLI accepts, stops within its service manager's grace period, and restarts only on failure.
 *
 * The flags come from the CLI's own definition (cli/args.ts), and each command line is also read
 * by the CLI's own parser (parseCommandLine), which must accept it.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { cliFlags, parseCommandLine } from "../cli/args.ts";
import { AUTH_ENV, AUTH_FLAG_NAMES } from "../runtime/nats-auth.ts";
import { parseMemoryLimit } from "../runtime/memory.ts";
import { executablePath } from "../runtime/platform.ts";
import { cli, EventWatcher, stopAllCli } from "./helpers/cli.ts";
import { cleanup, onCleanup, startTestNats, withTimeout } from "./helpers/cluster.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const deploy = path.join(root, "deploy");
const read = (rel: string) => readFileSync(path.join(root, rel), "utf8");

// ------------------------------------------------------------------------------------------------
// What the CLI accepts
// ------------------------------------------------------------------------------------------------

type FlagType = "string" | "boolean";

/** Every flag of the CLI's commands, with its type. */
const OPTIONS: Map<string, FlagType> = cliFlags();

/** The worker's own stop deadline (cli/run.ts: onShutdown(…, { timeoutMs })), in seconds. */
function workerStopDeadlineS(): number {
  const m = /onShutdown\([^\n]*timeoutMs:\s*([\d_]+)/.exec(read("cli/run.ts"));
  assert.ok(m, "cli/run.ts: the onShutdown timeoutMs not found");
  return Number(m[1]!.replace(/_/g, "")) / 1000;
}

const STOP_DEADLINE_S = workerStopDeadlineS();

let helpText: string | undefined;
function help(): string {
  if (helpText === undefined) {
    helpText = "";
    for (const command of ["worker", "scheduler"]) {
      const r = spawnSync(process.execPath, [path.join(root, "bin/ts-dask.mjs"), command, "--help"], { encoding: "utf8", timeout: 60_000 });
      assert.is(r.status, 0, `ts-dask ${command} --help failed: ${r.stderr}`);
      helpText += r.stdout;
    }
  }
  return helpText;
}

/** A ts-dask command line as a service runs it: the arguments after bin/ts-dask.mjs. */
interface Command {
  source: string;
  args: string[];
}

/**
 * Checks one command line as the CLI will see it: every flag is one of the CLI's, the CLI's own
 * parser accepts it, the command is `worker` or `scheduler`, the worker has a NATS address, and
 * the values are ones the worker can use. Returns the values (kebab-case, read with node's
 * parseArgs and the CLI's flag types) and positionals.
 */
function checkCommand(c: Command): { command: string; values: Record<string, string | boolean | undefined>; positionals: string[] } {
  const where = `${c.source}: ts-dask ${c.args.join(" ")}`;
  for (const a of c.args) {
    if (!a.startsWith("--")) continue;
    const flag = a.slice(2).split("=")[0]!;
    assert.ok(OPTIONS.has(flag), `${where}: --${flag} is not a flag of the CLI (knows ${[...OPTIONS.keys()].join(", ")})`);
    assert.ok(help().includes(`--${flag}`), `${where}: --${flag} is not in \`ts-dask worker --help\` or \`ts-dask scheduler --help\``);
  }
  const options = Object.fromEntries([...OPTIONS].map(([k, type]) => [k, { type }]));
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: c.args, options, allowPositionals: true, strict: true });
  } catch (e) {
    assert.unreachable(`${where}: not a valid command line: ${(e as Error).message}`);
    throw e;
  }
  try {
    parseCommandLine(c.args);
  } catch (e) {
    assert.unreachable(`${where}: the CLI refuses it: ${(e as Error).message}`);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const [command, address, ...rest] = parsed.positionals;
  assert.ok(command === "worker" || command === "scheduler", `${where}: command is ${command}`);
  assert.equal(rest, [], `${where}: stray positional arguments`);
  const nats = (address ?? values.nats) as string | undefined;
  assert.ok(nats && /^(nats|tls):\/\/[^\s]+$/.test(nats), `${where}: no usable NATS address (${nats})`);
  if (command === "worker") {
    for (const k of ["nprocs", "nthreads"]) {
      if (values[k] !== undefined) assert.ok(/^[1-9]\d*$/.test(String(values[k])), `${where}: --${k} ${values[k]} is not a positive integer`);
    }
    if (values["death-timeout"] !== undefined) assert.ok(Number(values["death-timeout"]) > 0, `${where}: --death-timeout ${values["death-timeout"]}`);
    if (values["memory-limit"] !== undefined) parseMemoryLimit(String(values["memory-limit"]), Number(values.nprocs ?? 1));
    if (values.name !== undefined) assert.ok(/^[A-Za-z0-9_-]+$/.test(String(values.name)), `${where}: --name ${values.name}`);
  }
  return { command, values, positionals: parsed.positionals };
}

/** The arguments after the ts-dask entry script in a full argv (`node …/bin/ts-dask.mjs …`). */
function afterEntry(argv: string[], source: string): string[] {
  const i = argv.findIndex((a) => /[\\/]bin[\\/]ts-dask\.mjs$/.test(a));
  assert.ok(i >= 1, `${source}: no …/bin/ts-dask.mjs in ${JSON.stringify(argv)}`);
  assert.ok(/(^|[\\/])node(\.exe)?$/.test(argv[0]!) || argv[0] === "$NodePath", `${source}: runs ${argv[0]}, not node`);
  return argv.slice(i + 1);
}

// ------------------------------------------------------------------------------------------------
// systemd
// ------------------------------------------------------------------------------------------------

/** An EnvironmentFile: KEY=value lines, # comments, optional surrounding quotes. */
function parseEnvFile(text: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    assert.ok(m, `env file line is not KEY=value: ${line}`);
    env.set(m[1]!, m[2]!.replace(/^"(.*)"$|^'(.*)'$/, "$1$2"));
  }
  return env;
}

/** A unit file's [Section] Key=value settings (continuation lines joined); repeated keys keep all values. */
function parseUnit(text: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  let section = "";
  const lines = text.replace(/\\\n/g, " ").split("\n");
  for (const raw of lines) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) {
      section = s[1]!;
      continue;
    }
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    assert.ok(m, `unit line is not Key=value: ${line}`);
    const key = `${section}.${m[1]}`;
    settings.set(key, [...(settings.get(key) ?? []), m[2]!]);
  }
  return settings;
}

/** Split a command line into words as systemd does (whitespace; "…" and '…' quoting). */
function systemdWords(line: string): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (const m of line.matchAll(re)) words.push(m[1] ?? m[2] ?? m[3]!);
  return words;
}

/** systemd's variable expansion: a word `$VAR` splits the value at whitespace; `${VAR}` stays one word. */
function systemdExpand(words: string[], env: Map<string, string>, source: string): string[] {
  const out: string[] = [];
  for (const w of words) {
    const whole = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(w);
    if (whole) {
      out.push(...(env.get(whole[1]!) ?? "").split(/\s+/).filter(Boolean));
      continue;
    }
    out.push(
      w.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
        const v = env.get(name);
        assert.ok(v, `${source}: \${${name}} is not set (or empty) in the example env file: it would be an empty argument`);
        return v;
      }),
    );
  }
  return out;
}

const UNITS = [
  { unit: "ts-dask-worker.service", env: "worker.env", command: "worker" },
  { unit: "ts-dask-scheduler.service", env: "scheduler.env", command: "scheduler" },
] as const;

/** The argv systemd would run for a unit, with the example env file (and `overrides`). */
function systemdArgv(unit: string, envFile: string, overrides: Record<string, string> = {}): string[] {
  const settings = parseUnit(read(`deploy/systemd/${unit}`));
  const exec = settings.get("Service.ExecStart");
  assert.is(exec?.length, 1, `${unit}: exactly one ExecStart=`);
  const env = parseEnvFile(read(`deploy/systemd/${envFile}`));
  for (const [k, v] of Object.entries(overrides)) env.set(k, v);
  return systemdExpand(systemdWords(exec![0]!), env, unit);
}

test("systemd units: ExecStart, with the example env file substituted, is a command line the CLI accepts", () => {
  for (const { unit, env, command } of UNITS) {
    const argv = systemdArgv(unit, env);
    const parsed = checkCommand({ source: `deploy/systemd/${unit}`, args: afterEntry(argv, unit) });
    assert.is(parsed.command, command);
  }
  // The worker unit passes every worker setting of the story.
  const worker = checkCommand({ source: "worker unit", args: afterEntry(systemdArgv(UNITS[0].unit, UNITS[0].env), "worker unit") });
  for (const k of ["nprocs", "nthreads", "memory-limit", "death-timeout", "name", "local-directory", "cluster"]) {
    assert.ok(worker.values[k] !== undefined, `worker unit: no --${k}`);
  }
  // Extra arguments are split into words.
  const dir = mkdtempSync(path.join(tmpdir(), "ts-dask-deploy-ca-"));
  try {
    const ca = path.join(dir, "ca.pem");
    writeFileSync(ca, "a CA file (the CLI reads it at start)\n");
    const withTls = systemdArgv(UNITS[0].unit, UNITS[0].env, { TSDASK_EXTRA_ARGS: `--tls-ca  ${ca}` });
    assert.equal(withTls.slice(-2), ["--tls-ca", ca]);
    checkCommand({ source: "worker unit + extra args", args: afterEntry(withTls, "worker unit") });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("systemd units: dedicated user, env file, restart on failure only, bounded SIGTERM stop", () => {
  for (const { unit, env } of UNITS) {
    const s = parseUnit(read(`deploy/systemd/${unit}`));
    const one = (k: string) => {
      const v = s.get(k);
      assert.is(v?.length, 1, `${unit}: ${k} set once`);
      return v![0]!;
    };
    assert.is(one("Service.EnvironmentFile"), `/etc/ts-dask/${env}`);
    assert.is(one("Service.Restart"), "on-failure");
    assert.is(one("Service.KillSignal"), "SIGTERM");
    assert.is(one("Service.KillMode"), "mixed", `${unit}: SIGTERM to the main process only; it stops its executors itself`);
    const stop = Number(one("Service.TimeoutStopSec"));
    assert.ok(stop > STOP_DEADLINE_S && stop <= 120, `${unit}: TimeoutStopSec=${stop} must exceed the worker's ${STOP_DEADLINE_S} s and stay bounded`);
    assert.ok(one("Service.User") && one("Service.User") !== "root", `${unit}: a dedicated user`);
    assert.ok(one("Service.WorkingDirectory").startsWith("/"), `${unit}: WorkingDirectory`);
    assert.is(one("Install.WantedBy"), "multi-user.target");
  }
});

test("systemd units: systemd-analyze verify (when systemd-analyze is installed)", () => {
  const analyze = executablePath("systemd-analyze");
  if (!analyze) {
    console.log("  (systemd-analyze not installed: units checked by the parser above only)");
    return;
  }
  const files = UNITS.map(({ unit }) => path.join(deploy, "systemd", unit));
  const r = spawnSync(analyze, ["verify", ...files], { encoding: "utf8", timeout: 60_000 });
  const out = `${r.stdout}${r.stderr}`;
  // verify exits 0 on settings it ignores (a typo'd KillMode= only prints a line): fail on any line about our units.
  const ours = out.split("\n").filter((l) => /ts-dask-(worker|scheduler)\.service/.test(l));
  assert.is(r.status, 0, `systemd-analyze verify failed:\n${out}`);
  assert.equal(ours, [], `systemd-analyze verify complains:\n${out}`);
});

// ------------------------------------------------------------------------------------------------
// launchd
// ------------------------------------------------------------------------------------------------

type PlistValue = string | number | boolean | PlistValue[] | { [k: string]: PlistValue };
interface XmlElement {
  name: string;
  children: (XmlElement | string)[];
}

const decodeEntities = (s: string) =>
  s.replace(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-f]+);/gi, (_, e: string) =>
    e[0] === "#" ? String.fromCodePoint(e[1] === "x" || e[1] === "X" ? parseInt(e.slice(2), 16) : Number(e.slice(1))) : { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" }[e.toLowerCase()]!,
  );

/** A tiny well-formedness-checking XML parser (elements and text; enough for a plist). */
function parseXml(text: string, source: string): XmlElement {
  const top: XmlElement = { name: "#document", children: [] };
  const stack: XmlElement[] = [top];
  const re = /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<!DOCTYPE[^>]*>|<(\/?)([A-Za-z_][\w.-]*)((?:\s+[\w.-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|([^<]+)|(<)/g;
  for (const m of text.matchAll(re)) {
    const [all, close, name, , selfClose, chars, stray] = m;
    if (stray) assert.unreachable(`${source}: malformed markup at offset ${m.index}: ${text.slice(m.index, m.index! + 40)}`);
    if (all.startsWith("<!--") || all.startsWith("<?") || all.startsWith("<!DOCTYPE")) {
      if (all.startsWith("<!--")) assert.not.ok(all.slice(4, -3).includes("--"), `${source}: "--" inside a comment`);
      continue;
    }
    const current = stack[stack.length - 1]!;
    if (chars !== undefined) {
      if (current === top) assert.ok(!chars.trim(), `${source}: text outside the root element`);
      else current.children.push(decodeEntities(chars));
      continue;
    }
    if (close) {
      assert.is(current.name, name, `${source}: </${name}> closes <${current.name}>`);
      stack.pop();
      continue;
    }
    const el: XmlElement = { name: name!, children: [] };
    current.children.push(el);
    if (!selfClose) stack.push(el);
  }
  assert.is(stack.length, 1, `${source}: unclosed <${stack[stack.length - 1]!.name}>`);
  const roots = top.children.filter((c): c is XmlElement => typeof c !== "string");
  assert.is(roots.length, 1, `${source}: one root element`);
  return roots[0]!;
}

function plistValue(el: XmlElement, source: string): PlistValue {
  const elements = el.children.filter((c): c is XmlElement => typeof c !== "string");
  const text = el.children.filter((c): c is string => typeof c === "string").join("");
  switch (el.name) {
    case "string":
      return text;
    case "integer":
      assert.ok(/^\s*-?\d+\s*$/.test(text), `${source}: <integer>${text}</integer>`);
      return Number(text);
    case "true":
      return true;
    case "false":
      return false;
    case "array":
      assert.ok(!text.trim(), `${source}: text in <array>`);
      return elements.map((e) => plistValue(e, source));
    case "dict": {
      assert.ok(!text.trim(), `${source}: text in <dict>`);
      assert.ok(elements.length % 2 === 0, `${source}: a <dict> key without a value`);
      const out: { [k: string]: PlistValue } = {};
      for (let i = 0; i < elements.length; i += 2) {
        const key = elements[i]!;
        assert.is(key.name, "key", `${source}: <${key.name}> where a <key> belongs`);
        const k = key.children.join("");
        assert.not.ok(k in out, `${source}: duplicate key ${k}`);
        out[k] = plistValue(elements[i + 1]!, source);
      }
      return out;
    }
    default:
      assert.unreachable(`${source}: unexpected <${el.name}>`);
      return "";
  }
}

function readPlist(file: string): { [k: string]: PlistValue } {
  const source = `deploy/launchd/${file}`;
  const rootEl = parseXml(read(source), source);
  assert.is(rootEl.name, "plist", `${source}: root element`);
  const inner = rootEl.children.filter((c): c is XmlElement => typeof c !== "string");
  assert.is(inner.length, 1, `${source}: one value in <plist>`);
  const v = plistValue(inner[0]!, source);
  assert.type(v, "object");
  return v as { [k: string]: PlistValue };
}

const PLISTS = [
  { file: "io.tsdask.worker.plist", command: "worker" },
  { file: "io.tsdask.scheduler.plist", command: "scheduler" },
] as const;

test("launchd plists: well-formed, Label, ProgramArguments the CLI accepts, KeepAlive only after a failure", () => {
  for (const { file, command } of PLISTS) {
    const p = readPlist(file);
    assert.is(p.Label, file.replace(/\.plist$/, ""), `${file}: Label matches the file name`);
    const argv = p.ProgramArguments;
    assert.ok(Array.isArray(argv) && argv.every((a) => typeof a === "string"), `${file}: ProgramArguments is an array of strings`);
    const parsed = checkCommand({ source: `deploy/launchd/${file}`, args: afterEntry(argv as string[], file) });
    assert.is(parsed.command, command);
    assert.equal(p.KeepAlive, { SuccessfulExit: false }, `${file}: restart on a non-zero exit only`);
    assert.is(p.RunAtLoad, true);
    assert.ok(typeof p.ExitTimeOut === "number" && p.ExitTimeOut > STOP_DEADLINE_S, `${file}: ExitTimeOut must exceed the worker's ${STOP_DEADLINE_S} s`);
    assert.type(p.UserName, "string");
    assert.type(p.WorkingDirectory, "string");
  }
});

test("launchd plists: plutil -lint (when plutil is installed)", () => {
  const plutil = executablePath("plutil");
  if (!plutil) {
    console.log("  (plutil not installed: plists checked by the XML parser above only)");
    return;
  }
  const r = spawnSync(plutil, ["-lint", ...PLISTS.map(({ file }) => path.join(deploy, "launchd", file))], { encoding: "utf8" });
  assert.is(r.status, 0, `plutil -lint:\n${r.stdout}${r.stderr}`);
});

// ------------------------------------------------------------------------------------------------
// Windows (NSSM)
// ------------------------------------------------------------------------------------------------

const PS1 = "deploy/windows/install-worker-service.ps1";

/** The install script's param() block: name → default literal (undefined when none or an expression). */
function ps1Params(text: string): Map<string, string | undefined> {
  const start = text.indexOf("param(");
  assert.ok(start >= 0, `${PS1}: no param( block`);
  const end = text.indexOf("\n)", start);
  const params = new Map<string, string | undefined>();
  for (const m of text.slice(start, end).matchAll(/\]\s*\$([A-Za-z]+)(?:\s*=\s*([^\n]+?))?,?\s*$/gm)) {
    const dflt = m[2]?.trim().replace(/,$/, "");
    const literal = dflt && /^'[^']*'$/.test(dflt) ? dflt.slice(1, -1) : dflt && /^\d+$/.test(dflt) ? dflt : undefined;
    params.set(m[1]!, literal);
  }
  return params;
}

/**
 * The node.exe arguments the install script gives NSSM (AppParameters): the `$workerArgs = @(…)`
 * list plus `$workerArgs += @(…)` additions, with each `$Param` replaced by `values[Param]`.
 */
function ps1WorkerArgs(text: string, values: Record<string, string>): string[] {
  const block = /^\$workerArgs = @\(\n([\s\S]*?)\n\)$/m.exec(text);
  assert.ok(block, `${PS1}: no \`$workerArgs = @(\` … \`)\` block`);
  const additions = [...text.matchAll(/^if \(\$(\w+)\) \{ \$workerArgs \+= @\(([^)]*)\) \}$/gm)];
  const tokens = (s: string) =>
    [...s.matchAll(/'([^']*)'|\$([A-Za-z]+)|([^,\s]+)/g)].map((m) => {
      if (m[1] !== undefined) return m[1];
      if (m[2] !== undefined) {
        assert.ok(m[2] in values, `${PS1}: $${m[2]} has no sample value`);
        return values[m[2]]!;
      }
      assert.unreachable(`${PS1}: unexpected token ${m[3]} in $workerArgs`);
      return "";
    });
  const args = tokens(block[1]!);
  for (const a of additions) if (values[a[1]!]) args.push(...tokens(a[2]!));
  return args;
}

test("Windows: the NSSM AppParameters the install script builds are a command line the CLI accepts", () => {
  const text = read(PS1);
  const params = ps1Params(text);
  for (const p of ["NatsUrl", "Name", "Nprocs", "Nthreads", "MemoryLimit", "DeathTimeout", "LocalDirectory", "Cluster"]) {
    assert.ok(params.has(p), `${PS1}: no -${p} parameter`);
    assert.match(text, new RegExp(`^\\$workerArgs = @\\([\\s\\S]*?\\$${p}\\b[\\s\\S]*?^\\)$`, "m"), `${PS1}: -${p} is not passed to the worker`);
  }
  const samples: Record<string, string> = {
    TsDaskBin: "C:\\ts-dask\\bin\\ts-dask.mjs",
    NatsUrl: "nats://scheduler-host:4222",
    Name: "MyWorker",
    Nprocs: "4",
    LocalDirectory: "C:\\ProgramData\\ts-dask\\worker",
  };
  for (const [k, v] of params) if (v !== undefined && !(k in samples)) samples[k] = v;
  const args = ps1WorkerArgs(text, samples);
  const parsed = checkCommand({ source: PS1, args: afterEntry(["$NodePath", ...args], PS1) });
  assert.is(parsed.command, "worker");
  // No other '--flag' string anywhere in the script that the CLI does not know.
  for (const m of text.matchAll(/'--([a-z-]+)'/g)) assert.ok(OPTIONS.has(m[1]!), `${PS1}: '--${m[1]}' is not a CLI flag`);
});

test("Windows: credentials are files named in the service's environment (AppEnvironmentExtra), never arguments", () => {
  const text = read(PS1);
  const params = ps1Params(text);
  assert.not.ok(params.has("Token") || params.has("Password"), `${PS1}: a parameter that takes a secret itself`);
  // Each credential parameter maps to the variable the CLI reads (runtime/nats-auth.ts AUTH_ENV).
  const table = /^\$credentialEnv = \[ordered\]@\{\n([\s\S]*?)\n\}$/m.exec(text);
  assert.ok(table, `${PS1}: no $credentialEnv table`);
  const mapped = new Map([...table[1]!.matchAll(/(TSDASK_\w+) = \$(\w+)/g)].map((m) => [m[1]!, m[2]!]));
  for (const v of CREDENTIAL_FILE_VARS) {
    assert.ok(mapped.has(v), `${PS1}: ${v} is not set from a parameter`);
    assert.ok(params.has(mapped.get(v)!), `${PS1}: $${mapped.get(v)} is not a parameter`);
  }
  // They reach NSSM as the service's environment, and nothing is ever added to the arguments.
  assert.match(text, /-Name AppEnvironmentExtra -PropertyType MultiString -Value \$serviceEnv/);
  assert.not.match(text, /\$workerArgs \+=/, `${PS1}: arguments added to $workerArgs after the list`);
  const args = ps1WorkerArgs(text, Object.fromEntries([...ps1Params(text).keys(), "TsDaskBin"].map((k) => [k, `sample-${k}`])));
  for (const v of mapped.values()) assert.not.ok(args.includes(`sample-${v}`), `${PS1}: $${v} is an argument`);
  // A URL carrying a credential is refused, not put on the command line.
  assert.match(text, /if \(\$NatsUrl -match '[^']*@'\) \{ throw /);
});

test("Windows: NSSM settings for a graceful Ctrl+C stop and restart on failure", () => {
  const text = read(PS1);
  const nssmSet = (setting: string) => new RegExp(`^Invoke-Nssm set \\$ServiceName ${setting}$`, "m");
  for (const s of [
    "AppDirectory \\$AppDirectory",
    "AppStdout \\$log",
    "AppStderr \\$log",
    "AppRotateFiles 1",
    "AppExit Default Restart",
    "AppExit 0 Exit",
    "AppStopMethodConsole \\$StopTimeoutMs",
    "Start SERVICE_AUTO_START",
  ]) {
    assert.match(text, nssmSet(s), `${PS1}: no \`nssm set <service> ${s.replace(/\\/g, "")}\``);
  }
  assert.match(text, /^Invoke-Nssm install \$ServiceName \$NodePath$/m);
  const stopMs = Number(ps1Params(text).get("StopTimeoutMs"));
  assert.ok(stopMs > STOP_DEADLINE_S * 1000 && stopMs <= 120_000, `${PS1}: StopTimeoutMs ${stopMs} must exceed the worker's ${STOP_DEADLINE_S} s`);
  const uninstall = read("deploy/windows/uninstall-worker-service.ps1");
  assert.match(uninstall, /& \$Nssm remove \$ServiceName confirm/);
  // Windows PowerShell 5.1 reads a BOM-less script as ANSI: keep both scripts ASCII.
  for (const [name, t] of [[PS1, text], ["uninstall-worker-service.ps1", uninstall]] as const) {
    const bad = t.split("\n").findIndex((l) => /[^\x00-\x7f]/.test(l));
    assert.is(bad, -1, `${name}: non-ASCII character on line ${bad + 1}`);
  }
});

// ------------------------------------------------------------------------------------------------
// Docker
// ------------------------------------------------------------------------------------------------

interface Dockerfile {
  from: string[];
  entrypoint: string[];
  cmd: string[];
  copies: string[];
  runs: string[];
}

function parseDockerfile(text: string): Dockerfile {
  const d: Dockerfile = { from: [], entrypoint: [], cmd: [], copies: [], runs: [] };
  const lines = text.replace(/\\\n/g, " ").split("\n");
  for (const raw of lines) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const m = /^([A-Z]+)\s+(.*)$/.exec(line);
    assert.ok(m, `Dockerfile line: ${line}`);
    const [, instr, rest] = m;
    const json = () => {
      assert.ok(rest!.startsWith("["), `Dockerfile: ${instr} must use the exec (JSON) form so signals reach node: ${line}`);
      return JSON.parse(rest!) as string[];
    };
    if (instr === "FROM") d.from.push(rest!);
    else if (instr === "ENTRYPOINT") d.entrypoint = json();
    else if (instr === "CMD") d.cmd = json();
    else if (instr === "COPY") d.copies.push(...rest!.split(/\s+/).slice(0, -1));
    else if (instr === "RUN") d.runs.push(rest!);
  }
  return d;
}

/** compose.yaml services: the `entrypoint:`/`command:` flow lists and a few scalar keys, by indentation. */
function parseCompose(text: string): Map<string, Record<string, string | string[]>> {
  const services = new Map<string, Record<string, string | string[]>>();
  let inServices = false;
  let current: Record<string, string | string[]> | undefined;
  let key = "";
  for (const line of text.split("\n")) {
    if (/^\S/.test(line)) {
      inServices = line.startsWith("services:");
      current = undefined;
      continue;
    }
    if (!inServices) continue;
    const svc = /^ {2}([\w-]+):\s*$/.exec(line);
    if (svc) {
      current = {};
      services.set(svc[1]!, current);
      continue;
    }
    const kv = /^ {4}([\w<-]+):\s*(.*)$/.exec(line);
    if (kv && current) {
      key = kv[1]!;
      current[key] = kv[2]!.startsWith("[") ? (JSON.parse(kv[2]!) as string[]) : kv[2] ? kv[2] : [];
      continue;
    }
    const item = /^ {6}- (.*)$/.exec(line);
    if (item && current && Array.isArray(current[key])) (current[key] as string[]).push(item[1]!.replace(/^"(.*)"$/, "$1"));
  }
  return services;
}

const DOCKERFILE = "deploy/docker/Dockerfile.worker";
const COMPOSE = "deploy/docker/compose.yaml";

test("Docker: the image builds native modules, keeps its runtime dependencies, and runs `ts-dask worker`", () => {
  const d = parseDockerfile(read(DOCKERFILE));
  assert.equal(d.from, ["node:20-bookworm"], "the full image (python3, make, g++), not -slim");
  assert.ok(d.runs.some((r) => /python3/.test(r) && /make/.test(r) && /g\+\+/.test(r)), "the build checks the native-module toolchain");
  // `--omit=dev` (npm ci or npm prune) is right only while everything the CLI needs at run time is a dependency.
  const pkg = JSON.parse(read("package.json")) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
  if (d.runs.some((r) => /npm (?:ci\b.*--omit=dev|prune\b.*--omit=dev)/.test(r))) {
    for (const dep of ["tsx", "esbuild", "nats", "xstate", "@msgpack/msgpack"]) assert.ok(pkg.dependencies[dep], `${dep} must be a runtime dependency for --omit=dev`);
  }
  const parsed = checkCommand({ source: `${DOCKERFILE} ENTRYPOINT+CMD`, args: afterEntry([...d.entrypoint, ...d.cmd], DOCKERFILE) });
  assert.is(parsed.command, "worker");
  assert.is(parsed.values["local-directory"], "/data");
});

test("Docker: the image copies every source file the CLI, the worker and its executors load", async () => {
  const { build } = await import("esbuild");
  const entries = ["bin/ts-dask.mjs", "index.ts", "actors/executor/main.ts", "runtime/tether.mjs", "runtime/shipping/resolve-hook.mjs"];
  for (const e of entries) assert.ok(existsSync(path.join(root, e)), `entry ${e} is gone: update this test`);
  const r = await build({
    absWorkingDir: root,
    entryPoints: entries,
    bundle: true,
    write: false,
    metafile: true,
    packages: "external",
    platform: "node",
    format: "esm",
    outdir: path.join(tmpdir(), "ts-dask-deploy-test-unused"),
    logLevel: "silent",
  });
  const needed = new Set(["package.json", ...Object.keys(r.metafile!.inputs).map((p) => p.split("/")[0]!)]);
  const copied = new Set(parseDockerfile(read(DOCKERFILE)).copies.map((c) => c.replace(/\/$/, "")));
  for (const n of needed) assert.ok(copied.has(n), `${DOCKERFILE}: does not COPY ${n}, which the worker loads`);
});

test("Docker: compose runs nats:2.10, a scheduler and two workers with command lines the CLI accepts", () => {
  const text = read(COMPOSE);
  const services = parseCompose(text);
  // Every entrypoint/command line is a JSON flow list under services (what the parser above reads).
  for (const m of text.matchAll(/^(\s*)(entrypoint|command):(.*)$/gm)) {
    assert.is(m[1], "    ", `${COMPOSE}: ${m[2]} outside a service: ${m[0]}`);
    assert.ok(m[3]!.trim().startsWith("["), `${COMPOSE}: ${m[2]} must be a ["…"] list: ${m[0]}`);
  }
  assert.is(services.get("nats")?.image, "nats:2.10");
  const d = parseDockerfile(read(DOCKERFILE));
  const clusters = new Map<string, string>();
  const names = new Set<string>();
  for (const [name, s] of services) {
    if (name === "nats") continue;
    assert.is(s["<<"], "*ts-dask", `${COMPOSE}: ${name} uses the ts-dask image settings`);
    const argv = [...((s.entrypoint as string[]) ?? d.entrypoint), ...((s.command as string[]) ?? d.cmd)];
    const parsed = checkCommand({ source: `${COMPOSE} ${name}`, args: afterEntry(argv, `${COMPOSE} ${name}`) });
    const nats = String(parsed.positionals[1] ?? parsed.values.nats);
    assert.is(nats, "nats://nats:4222", `${COMPOSE}: ${name} talks to the nats service`);
    clusters.set(name, String(parsed.values.cluster ?? "default"));
    if (parsed.command === "worker") {
      names.add(String(parsed.values.name));
      assert.ok(Array.isArray(s.volumes) && s.volumes.some((v) => v.endsWith(":/data")), `${COMPOSE}: ${name} keeps /data in a volume`);
    }
  }
  assert.equal([...clusters.keys()].sort(), ["scheduler", "worker-1", "worker-2"]);
  assert.is(new Set(clusters.values()).size, 1, "one cluster for all");
  assert.is(names.size, 2, "two workers, two names");
  const anchor = /^x-ts-dask: &ts-dask\n((?: {2}.*\n)+)/m.exec(text);
  assert.ok(anchor, `${COMPOSE}: no x-ts-dask anchor`);
  assert.match(anchor[1]!, /^ {2}init: true$/m);
  const grace = /^ {2}stop_grace_period: (\d+)s$/m.exec(anchor[1]!);
  assert.ok(grace && Number(grace[1]) > STOP_DEADLINE_S, `${COMPOSE}: stop_grace_period must exceed the worker's ${STOP_DEADLINE_S} s`);
});

test("Docker: compose.yaml is YAML that means what the parser above read (when python3 has PyYAML)", () => {
  const py = executablePath("python3");
  const probe = py ? spawnSync(py, ["-c", "import yaml"], { encoding: "utf8" }) : undefined;
  if (!py || probe?.status !== 0) {
    console.log("  (python3 with PyYAML not installed: compose.yaml checked by the line parser only)");
    return;
  }
  const r = spawnSync(py, ["-c", "import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))", path.join(root, COMPOSE)], { encoding: "utf8" });
  assert.is(r.status, 0, `compose.yaml does not load as YAML:\n${r.stderr}`);
  const doc = JSON.parse(r.stdout) as { services: Record<string, { entrypoint?: string[]; command?: string[]; image?: string; build?: unknown }> };
  const mine = parseCompose(read(COMPOSE));
  assert.equal(Object.keys(doc.services).sort(), [...mine.keys()].sort());
  for (const [name, s] of Object.entries(doc.services)) {
    assert.equal(s.entrypoint, mine.get(name)!.entrypoint, `${name}: entrypoint`);
    assert.equal(s.command, mine.get(name)!.command, `${name}: command`);
    if (name !== "nats") {
      assert.is(s.image, "ts-dask-worker");
      assert.equal(s.build, { context: "../..", dockerfile: "deploy/docker/Dockerfile.worker" });
    }
  }
});

// ------------------------------------------------------------------------------------------------
// The README's command lines
// ------------------------------------------------------------------------------------------------

test("README: every ts-dask command line it shows uses flags the CLI knows", () => {
  const text = read("deploy/README.md");
  let count = 0;
  for (const line of text.split("\n")) {
    if (!/ts-dask(\.mjs)? (worker|scheduler)\b/.test(line)) continue;
    for (const m of line.matchAll(/(?<![\w-])--([a-z][a-z-]*)/g)) {
      // npm's and docker's own flags share lines with ts-dask commands.
      if (["omit", "init", "restart", "stop-timeout", "global"].includes(m[1]!)) continue;
      assert.ok(OPTIONS.has(m[1]!), `deploy/README.md: --${m[1]} is not a CLI flag, in: ${line.trim()}`);
      count++;
    }
  }
  assert.ok(count > 5, "the README shows worker command lines");
});

// ------------------------------------------------------------------------------------------------
// The systemd command lines, run for real
// ------------------------------------------------------------------------------------------------

test("the units' command lines run: the worker joins, SIGTERM exits 0 (no restart), a death-timeout exits non-zero (restart)", async () => {
  const nats = await startTestNats();
  const cluster = "deploy";
  const watch = await EventWatcher.start(nats.url, cluster);
  onCleanup(() => watch.close());
  const dir = mkdtempSync(path.join(tmpdir(), "ts-dask-deploy-"));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  // The example env files, pointed at the test server and a temporary directory; one executor.
  const overrides = { TSDASK_HOME: root, TSDASK_NATS_URL: nats.url, TSDASK_CLUSTER: cluster, TSDASK_LOCAL_DIRECTORY: dir, TSDASK_NPROCS: "1" };
  const argsOf = (i: 0 | 1, extra: Record<string, string> = {}) => {
    const argv = systemdArgv(UNITS[i].unit, UNITS[i].env, { ...overrides, ...extra });
    assert.is(argv[1], path.join(root, "bin/ts-dask.mjs"));
    return afterEntry(argv, UNITS[i].unit);
  };

  // A scheduler that serves a dashboard (versions with --dashboard-address) must not take a fixed port in a test.
  const dashboard: Record<string, string> = OPTIONS.has("dashboard-address") ? { TSDASK_EXTRA_ARGS: "--dashboard-address 127.0.0.1:0" } : {};
  const scheduler = cli(argsOf(1, dashboard));
  await scheduler.waitFor(new RegExp(`scheduler for cluster '${cluster}'`), 60_000);
  const worker = cli(argsOf(0));
  const name = parseEnvFile(read("deploy/systemd/worker.env")).get("TSDASK_NAME")!;
  await watch.until((e: { type: string; name?: string }) => e.type === "executor-joined" && e.name === `${name}-0`, 1, 60_000);
  assert.is(await withTimeout(worker.stop("SIGTERM"), STOP_DEADLINE_S * 1000 + 15_000, "worker to stop"), 0, worker.output());
  assert.is(await withTimeout(scheduler.stop("SIGTERM"), STOP_DEADLINE_S * 1000 + 15_000, "scheduler to stop"), 0, scheduler.output());

  // No scheduler any more: a worker with a short death-timeout gives up with a non-zero exit.
  const orphan = cli(argsOf(0, { TSDASK_DEATH_TIMEOUT: "2", TSDASK_NAME: "Orphan" }));
  const code = await withTimeout(orphan.exited, 60_000, "the orphaned worker to exit");
  assert.ok(code !== 0 && code !== null, `death-timeout exit code ${code}: ${orphan.output()}`);
  assert.match(orphan.output(), /death-timeout/);
});

// ------------------------------------------------------------------------------------------------
// Secrets
// ------------------------------------------------------------------------------------------------

/** The credential settings that name a file (or the user): what a service file offers to set. */
const CREDENTIAL_FILE_VARS = Object.entries(AUTH_ENV)
  .filter(([k]) => k !== "token" && k !== "password")
  .map(([, v]) => v);

/** Flags whose value is a secret itself (the CLI warns about them). */
const SECRET_FLAGS = AUTH_FLAG_NAMES.filter((f) => f === "token");

/** Every command line a deploy file runs (argv after …/bin/ts-dask.mjs), by where it comes from. */
function deployCommandLines(): { source: string; args: string[] }[] {
  const out: { source: string; args: string[] }[] = [];
  for (const { unit, env } of UNITS) out.push({ source: `deploy/systemd/${unit}`, args: afterEntry(systemdArgv(unit, env), unit) });
  for (const { file } of PLISTS) out.push({ source: `deploy/launchd/${file}`, args: afterEntry(readPlist(file).ProgramArguments as string[], file) });
  const text = read(PS1);
  const samples = Object.fromEntries([...ps1Params(text)].map(([k, v]) => [k, v ?? `C:\\sample\\${k}`]));
  out.push({ source: PS1, args: afterEntry(["$NodePath", ...ps1WorkerArgs(text, { ...samples, TsDaskBin: "C:\\ts-dask\\bin\\ts-dask.mjs", NatsUrl: "nats://scheduler-host:4222" })], PS1) });
  const services = parseCompose(read(COMPOSE));
  const d = parseDockerfile(read(DOCKERFILE));
  for (const [name, s] of services) {
    if (name === "nats") continue;
    out.push({ source: `${COMPOSE} ${name}`, args: afterEntry([...((s.entrypoint as string[]) ?? d.entrypoint), ...((s.command as string[]) ?? d.cmd)], name) });
  }
  return out;
}

test("no deploy file puts a secret on a command line (`ps` shows it): no --token, no credentials in a URL", () => {
  const lines = deployCommandLines();
  assert.ok(lines.length >= 6, "every service file was read");
  for (const { source, args } of lines) {
    for (const f of SECRET_FLAGS) assert.not.ok(args.some((a) => a === `--${f}` || a.startsWith(`--${f}=`)), `${source}: --${f} on the command line`);
    for (const a of args) assert.not.match(a, /^[a-z]+:\/\/[^/]*@/i, `${source}: a credential in the URL ${a}`);
  }
  // Nor in the variables that become arguments, nor in the documentation of the service files.
  for (const env of ["deploy/systemd/worker.env", "deploy/systemd/scheduler.env"]) assert.not.match(read(env), /^TSDASK_EXTRA_ARGS=.*--token/m, env);
  assert.not.match(read("deploy/README.md"), /-Token\b|EXTRA_ARGS[^\n]*--token\b/, "deploy/README.md shows a secret on a service's command line");
});

test("every service file offers each credential as an environment variable naming a file (systemd, launchd)", () => {
  for (const env of ["deploy/systemd/worker.env", "deploy/systemd/scheduler.env"]) {
    const text = read(env);
    for (const v of CREDENTIAL_FILE_VARS) assert.match(text, new RegExp(`^#?${v}=\\S+`, "m"), `${env}: no ${v}= line`);
  }
  for (const { file } of PLISTS) {
    const text = read(`deploy/launchd/${file}`);
    const env = readPlist(file).EnvironmentVariables as Record<string, string>;
    assert.type(env, "object");
    for (const v of CREDENTIAL_FILE_VARS) assert.match(text, new RegExp(`<key>${v}</key>\\s*<string>[^<]+</string>`), `${file}: no ${v} entry (commented or not)`);
    // Uncommented, they are plain EnvironmentVariables entries: check that form parses.
    const uncommented = text.replace(/<!-- NATS credentials[\s\S]*?(<key>TSDASK_[\s\S]*?)-->/, (_, body: string) => body);
    assert.is.not(uncommented, text, `${file}: no "NATS credentials" comment`);
    const el = parseXml(uncommented, `${file} (credentials uncommented)`);
    const inner = el.children.filter((c): c is XmlElement => typeof c !== "string")[0]!;
    const dict = plistValue(inner, file) as { EnvironmentVariables: Record<string, string> };
    for (const v of CREDENTIAL_FILE_VARS) assert.type(dict.EnvironmentVariables[v], "string", `${file}: ${v} uncommented`);
  }
});

test("deploy/ holds exactly the files these tests check (a new service file needs its test)", () => {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) walk(full);
      else files.push(path.relative(deploy, full).split(path.sep).join("/"));
    }
  };
  walk(deploy);
  assert.equal(files.sort(), [
    "README.md",
    "docker/Dockerfile.worker",
    "docker/compose.yaml",
    "launchd/io.tsdask.scheduler.plist",
    "launchd/io.tsdask.worker.plist",
    "nats/least-privilege.conf", // tested by test/least-privilege.test.ts
    "systemd/scheduler.env",
    "systemd/ts-dask-scheduler.service",
    "systemd/ts-dask-worker.service",
    "systemd/worker.env",
    "windows/install-worker-service.ps1",
    "windows/uninstall-worker-service.ps1",
  ]);
});

test.after(async () => {
  await stopAllCli();
  await cleanup();
});

test.run();
