/** Runs the `ts-dask` command as a child process and waits on what it prints or publishes. */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { connect, type NatsConnection } from "nats";
import { decode } from "../../runtime/codec.ts";
import { tether } from "../../runtime/platform.ts";
import { subjects, type ClusterEvent } from "../../runtime/protocol.ts";

export const BIN = fileURLToPath(new URL("../../bin/ts-dask.mjs", import.meta.url));

export interface CliProcess extends OutputWatch {
  proc: ChildProcess;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const running = new Set<CliProcess>();
// Whatever is still running when this process exits (a benchmark that threw, a test that forgot)
// goes with it; a SIGKILLed parent cannot do this, so each one is also tethered (runtime/platform.ts
// `tether`: a keeper sends it SIGTERM, then SIGKILL after 5 s, when this process dies in any way).
process.on("exit", () => {
  for (const c of running) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill("SIGKILL");
});

/**
 * Starts `ts-dask <args>`: this checkout's bin/ts-dask.mjs, or `opts.command` (e.g. an installed
 * `ts-dask`). `env` is merged over this process's environment (an `undefined` value removes a variable).
 */
export function cli(args: string[], env: NodeJS.ProcessEnv = {}, opts: { command?: string; cwd?: string } = {}): CliProcess {
  const [file, argv] = opts.command ? [opts.command, args] : [process.execPath, [BIN, ...args]];
  const proc = spawn(file, argv, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env }, cwd: opts.cwd });
  tether(proc, { cwd: opts.cwd });
  const exited = once(proc, "exit").then(([code]) => code as number | null);
  const c: CliProcess = {
    proc,
    ...watchOutput(proc, `ts-dask ${args.join(" ")}`),
    exited,
    async stop(signal = "SIGTERM") {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const code = await exited;
      running.delete(c);
      return code;
    },
  };
  running.add(c);
  void exited.then(() => running.delete(c));
  return c;
}

/** What a child process printed, and a wait for a line of it. */
export interface OutputWatch {
  /** Everything printed so far (stdout and stderr). */
  output(): string;
  /**
   * Resolves with the first match of `re` in the output (what was printed already, then each new
   * chunk); rejects after `timeoutMs`, or when the process exits without printing it, with the
   * end of its output in the message.
   */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
}

/**
 * Collects `proc`'s stdout and stderr (both must be pipes) and answers {@link OutputWatch.waitFor};
 * `label` names the process in timeout messages. The one output watcher of the tests: CLI
 * processes here, processes inside LAN hosts (test/lan/bed.ts).
 */
export function watchOutput(proc: ChildProcess, label: string): OutputWatch {
  let out = "";
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const l of listeners) l();
  };
  proc.stdout!.on("data", onData);
  proc.stderr!.on("data", onData);
  const tail = () => (out.length > 3000 ? `…${out.slice(-3000)}` : out);
  return {
    output: () => out,
    waitFor(re, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = re.exec(out);
          if (m) {
            done();
            resolve(m);
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${re} from ${label}; it printed:\n${tail()}`));
        }, timeoutMs);
        const onExit = () => {
          // Output may still be in the pipes when 'exit' fires: look again after it is read.
          setImmediate(() => {
            if (re.exec(out)) return check();
            done();
            reject(new Error(`${label} exited (${proc.exitCode ?? proc.signalCode}) before printing ${re}; it printed:\n${tail()}`));
          });
        };
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
          proc.off("exit", onExit);
        };
        listeners.add(check);
        proc.once("exit", onExit);
        check();
      });
    },
  };
}

/** Stops every CLI process still running (call from an `after` hook). */
export async function stopAllCli(): Promise<void> {
  await Promise.all([...running].map((c) => c.stop("SIGKILL")));
}

/**
 * A `ts-dask scheduler` and a `ts-dask worker` of one executor (named W) for `cluster` on `url`,
 * resolved once the executor joined. `restartScheduler()` kills the scheduler (SIGKILL) and
 * resolves when a new one is up; `watch` keeps hearing the cluster's events (close it).
 */
export async function cliCluster(url: string, cluster: string): Promise<{ watch: EventWatcher; restartScheduler(): Promise<void> }> {
  const startScheduler = async () => {
    const p = cli(["scheduler", "--nats", url, "--cluster", cluster, "--dashboard-address", "none"]);
    await p.waitFor(new RegExp(`scheduler for cluster '${cluster}'`));
    return p;
  };
  let sched = await startScheduler();
  const watch = await EventWatcher.start(url, cluster);
  cli(["worker", url, "--cluster", cluster, "--nprocs", "1", "--name", "W", "--death-timeout", "60"]);
  await watch.until((e) => e.type === "executor-joined", 1);
  return {
    watch,
    async restartScheduler() {
      sched.proc.kill("SIGKILL");
      await sched.exited;
      sched = await startScheduler();
    },
  };
}

/** Collects a cluster's `events` messages, to await e.g. executors joining. */
export class EventWatcher {
  readonly events: ClusterEvent[] = [];
  private waiters: (() => void)[] = [];
  private constructor(private readonly nc: NatsConnection) {}

  static async start(url: string, cluster: string): Promise<EventWatcher> {
    const nc = await connect({ servers: url });
    const w = new EventWatcher(nc);
    nc.subscribe(subjects(cluster).events, {
      callback: (_e, msg) => {
        w.events.push(decode<ClusterEvent>(msg.data));
        for (const f of w.waiters.splice(0)) f();
      },
    });
    await nc.flush();
    return w;
  }

  /** Resolves once `count` events match `pred` (counting those seen already). */
  async until(pred: (e: ClusterEvent) => boolean, count = 1, timeoutMs = 30_000): Promise<ClusterEvent[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hits = this.events.filter(pred);
      if (hits.length >= count) return hits;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${count} event(s); saw: ${JSON.stringify(this.events)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => (clearTimeout(t), r()));
      });
    }
  }

  close(): Promise<void> {
    return this.nc.close();
  }
}
