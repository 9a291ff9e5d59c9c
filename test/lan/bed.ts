/**
 * A LAN test bed on one Linux box: each "host" is a network namespace with its own veth link to a
 * bridge, its own address (10.77.0.0/24, private to this run), hostname, local directory and
 * firewall. Processes are started inside a host with `ip netns exec` (`unshare --uts` for the
 * hostname). A partition is the host's link going down on the bridge; a firewall is an nftables
 * table in the host's namespace. Nothing touches the machine's own network namespace: the bridge
 * lives in a namespace of its own (the "switch"), and veth ends are created directly inside the
 * namespaces, so no address or link of this bed is visible to (or reachable from) the rest of the
 * machine, and two runs at once never clash.
 *
 * Every namespace is named `tdl-<pid>-<n>-<host>` (the test process's PID, the bed's number in it): {@link LanBed.create}
 * first removes the namespaces (and the processes inside them) of runs whose process is gone, and
 * {@link LanBed.destroy} — also run on process exit — removes this run's. Needs root and Linux:
 * {@link lanUnavailable} says why not otherwise. See test/lan/README.md.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { executablePath, isAlive } from "../../runtime/platform.ts";
import { watchOutput, type OutputWatch } from "../helpers/cli.ts";

/** The repository root (processes in hosts run with it as their working directory). */
export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** The `ts-dask` command. */
export const BIN = join(ROOT, "bin", "ts-dask.mjs");
/** Namespace names of every run start with this. */
const BASE = "tdl-";
/** The subnet of a bed (inside its own namespaces only). */
const SUBNET = "10.77.0";

/**
 * Why the LAN tests cannot run on this machine, or undefined when they can: they need Linux, root,
 * and the `ip`, `nft` and `unshare` commands.
 */
export function lanUnavailable(): string | undefined {
  if (process.platform !== "linux") return `the LAN test bed needs Linux network namespaces (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return "the LAN test bed needs root (network namespaces, veth links, nftables); CI runs as root";
  for (const tool of ["ip", "nft", "unshare"]) {
    if (!executablePath(tool) && !executablePath(`/usr/sbin/${tool}`) && !executablePath(`/sbin/${tool}`)) {
      return `the LAN test bed needs '${tool}' (apt-get install iproute2 nftables util-linux; .ci/run installs nftables)`;
    }
  }
  const probe = spawnSync("ip", ["netns", "list"], { encoding: "utf8" });
  if (probe.status !== 0) return `'ip netns list' failed here: ${probe.stderr.trim()}`;
  return undefined;
}

/** A firewall profile for inbound connections to a host (outbound is always allowed). */
export type Firewall =
  /** no rules */
  | "open"
  /** drop every inbound new connection (replies to the host's own connections still pass) */
  | "closed"
  /** drop every inbound new connection except TCP to these ports */
  | { allowTcp: number[] };

export interface LanHost {
  /** Short name, e.g. `desk`; also the host's hostname inside its processes. */
  readonly name: string;
  /** Its network namespace. */
  readonly ns: string;
  /** Its address on the bed's LAN. */
  readonly ip: string;
  /** A private directory of its own (a fresh one per run, removed by destroy). */
  readonly dir: string;
}

/** A process running inside a host. */
export interface LanProcess extends OutputWatch {
  readonly host: LanHost;
  readonly proc: ChildProcess;
  readonly pid: number;
  /** Resolves on exit. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM (or `signal`), SIGKILL after `graceMs`; resolves with the exit. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const run = (args: string[]) => {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${args.join(" ")} failed (${r.status ?? r.signal}): ${(r.stderr || r.stdout || r.error?.message || "").trim()}`);
  return r.stdout;
};
const tryRun = (args: string[]) => spawnSync(args[0]!, args.slice(1), { encoding: "utf8" });

/** Kill every process inside namespace `ns` (SIGKILL), then delete it. Best effort, synchronous. */
function removeNamespace(ns: string): void {
  const pids = tryRun(["ip", "netns", "pids", ns]).stdout?.split(/\s+/).filter(Boolean).map(Number) ?? [];
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone already */
    }
  }
  tryRun(["ip", "netns", "delete", ns]);
}

/** Namespaces of earlier runs whose test process is gone (a crash, a SIGKILL): remove them. */
export function removeLeftovers(): string[] {
  const removed: string[] = [];
  const list = tryRun(["ip", "netns", "list"]).stdout ?? "";
  for (const line of list.split("\n")) {
    const ns = line.split(/\s/)[0] ?? "";
    const m = new RegExp(`^${BASE}(\\d+)-`).exec(ns);
    if (!m || isAlive(Number(m[1]))) continue;
    removeNamespace(ns);
    removed.push(ns);
  }
  return removed;
}

const beds = new Set<LanBed>();
let created = 0;
process.once("exit", () => {
  for (const b of beds) b.destroySync();
});

export class LanBed {
  private readonly hostsByName = new Map<string, LanHost>();
  private readonly procs = new Set<LanProcess>();
  private destroyed = false;

  private constructor(
    /** Namespace prefix of this bed: `tdl-<pid>-<n>-`. */
    readonly prefix: string,
    /** The switch namespace (holds the bridge). */
    readonly switchNs: string,
    /** This run's temporary directory (hosts' directories are inside). */
    readonly dir: string,
  ) {}

  /**
   * Creates the switch and one host per name (addresses 10.77.0.2, .3, … in order), after removing
   * leftovers of crashed runs. On any failure everything created so far is removed.
   */
  static create(names: string[]): LanBed {
    const left = removeLeftovers();
    if (left.length) console.log(`lan: removed leftovers of crashed runs: ${left.join(", ")}`);
    const prefix = `${BASE}${process.pid}-${++created}-`;
    const bed = new LanBed(prefix, `${prefix}sw`, mkdtempSync(join(tmpdir(), prefix)));
    beds.add(bed);
    try {
      run(["ip", "netns", "add", bed.switchNs]);
      run(["ip", "-n", bed.switchNs, "link", "add", "br0", "type", "bridge"]);
      run(["ip", "-n", bed.switchNs, "link", "set", "br0", "up"]);
      names.forEach((name, i) => bed.addHost(name, `${SUBNET}.${i + 2}`));
    } catch (e) {
      bed.destroySync();
      throw e;
    }
    return bed;
  }

  private addHost(name: string, ip: string): void {
    if (!/^[a-z][a-z0-9]{0,9}$/.test(name)) throw new Error(`host name '${name}': 1–10 lower-case letters or digits`);
    const ns = `${this.prefix}${name}`;
    const dir = join(this.dir, name);
    mkdirSync(dir, { recursive: true });
    run(["ip", "netns", "add", ns]);
    const host: LanHost = { name, ns, ip, dir };
    this.hostsByName.set(name, host);
    // The switch end is `p-<name>` in the switch namespace; the host end is `eth0` in the host's.
    run(["ip", "link", "add", `p-${name}`, "netns", this.switchNs, "type", "veth", "peer", "name", "eth0", "netns", ns]);
    run(["ip", "-n", this.switchNs, "link", "set", `p-${name}`, "master", "br0"]);
    run(["ip", "-n", this.switchNs, "link", "set", `p-${name}`, "up"]);
    run(["ip", "-n", ns, "link", "set", "lo", "up"]);
    run(["ip", "-n", ns, "addr", "add", `${ip}/24`, "dev", "eth0"]);
    run(["ip", "-n", ns, "link", "set", "eth0", "up"]);
  }

  /** The host called `name`. */
  host(name: string): LanHost {
    const h = this.hostsByName.get(name);
    if (!h) throw new Error(`no host '${name}' in this bed (hosts: ${[...this.hostsByName.keys()].join(", ")})`);
    return h;
  }

  get hosts(): LanHost[] {
    return [...this.hostsByName.values()];
  }

  /** Cut `host` off the LAN (its link on the switch goes down; its sockets stay open, packets are lost). */
  cut(host: string): void {
    run(["ip", "-n", this.switchNs, "link", "set", `p-${this.host(host).name}`, "down"]);
  }

  /** Put `host` back on the LAN. */
  restore(host: string): void {
    run(["ip", "-n", this.switchNs, "link", "set", `p-${this.host(host).name}`, "up"]);
  }

  /** Apply a firewall profile to inbound traffic of `host` (replaces the previous one). */
  firewall(host: string, profile: Firewall): void {
    const h = this.host(host);
    tryRun(["ip", "netns", "exec", h.ns, "nft", "delete", "table", "inet", "tsdask_bed"]);
    if (profile === "open") return;
    const allow = profile === "closed" ? "" : profile.allowTcp.map((p) => `    tcp dport ${p} accept\n`).join("");
    const rules = `table inet tsdask_bed {
  chain input {
    type filter hook input priority 0; policy drop;
    iif lo accept
    ct state established,related accept
${allow}  }
}
`;
    const r = spawnSync("ip", ["netns", "exec", h.ns, "nft", "-f", "-"], { input: rules, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`nft in ${h.ns} failed: ${r.stderr.trim()}`);
  }

  /** The ruleset in force in `host` (`nft list ruleset`), for messages. */
  ruleset(host: string): string {
    return run(["ip", "netns", "exec", this.host(host).ns, "nft", "list", "ruleset"]);
  }

  /**
   * Starts `cmd args` inside `host` (its namespace and hostname), cwd the repository root. The
   * process is stopped by {@link destroy} if still running.
   */
  spawn(host: string, cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): LanProcess {
    const h = this.host(host);
    const proc = spawn("ip", ["netns", "exec", h.ns, "unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', h.name, cmd, ...args], {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = once(proc, "exit").then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
    const label = `${cmd === process.execPath ? "node" : cmd} ${args.join(" ")} on ${h.name}`;
    const p: LanProcess = {
      host: h,
      proc,
      pid: proc.pid!,
      ...watchOutput(proc, label),
      exited,
      async stop(signal = "SIGTERM", graceMs = 10_000) {
        if (proc.exitCode === null && proc.signalCode === null) {
          proc.kill(signal);
          const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
          await exited;
          clearTimeout(timer);
        }
        return exited;
      },
    };
    this.procs.add(p);
    void exited.then(() => this.procs.delete(p));
    return p;
  }

  /** `ts-dask <args>` inside `host`. */
  tsdask(host: string, args: string[], env?: NodeJS.ProcessEnv): LanProcess {
    return this.spawn(host, process.execPath, [BIN, ...args], { env });
  }

  /** A TypeScript file (`node --import tsx file args`) inside `host`. */
  script(host: string, file: string, args: string[] = [], env?: NodeJS.ProcessEnv): LanProcess {
    return this.spawn(host, process.execPath, ["--import", "tsx", file, ...args], { env });
  }

  /** nats-server inside `host` with the config text given (written to the host's directory); resolves when ready. */
  async natsServer(host: string, config: string, name = "nats"): Promise<LanProcess> {
    const h = this.host(host);
    const file = join(h.dir, `${name}.conf`);
    writeFileSync(file, config);
    const bin = process.env.TSDASK_NATS_SERVER ?? executablePath("nats-server") ?? "/usr/sbin/nats-server";
    const p = this.spawn(host, bin, ["-c", file]);
    await p.waitFor(/Server is ready/, 20_000);
    return p;
  }

  /** Stops every process (SIGTERM, then SIGKILL after 5 s), then removes the namespaces and the directory. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    await Promise.all([...this.procs].map((p) => p.stop("SIGTERM", 5_000)));
    this.destroySync();
  }

  /** Synchronous removal (process exit, failed creation): SIGKILL whatever still runs inside. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    beds.delete(this);
    for (const p of this.procs) p.proc.kill("SIGKILL");
    for (const h of this.hostsByName.values()) removeNamespace(h.ns);
    removeNamespace(this.switchNs);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Registers the file's tests only where the bed can run; elsewhere prints why and registers none
 * (uvu then reports `Total: 0`, which the runner counts as nothing passed and nothing failed).
 */
export function lanOrSkip(file: string): boolean {
  const why = lanUnavailable();
  if (why) console.log(`${file}: not run here: ${why}`);
  return !why;
}
