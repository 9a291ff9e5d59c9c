/** Shared by the benchmarks: a `ts-dask up` cluster in its own process, medians, JSON output. */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { once } from "node:events";
import v8 from "node:v8";
import { runInNewContext } from "node:vm";

const BIN = fileURLToPath(new URL("../bin/ts-dask.mjs", import.meta.url));

export interface UpCluster {
  url: string;
  cluster: string;
  proc: ChildProcess;
  /** What `ts-dask up` printed so far (e.g. its dashboard URL). */
  output(): string;
  stop(): Promise<void>;
}

/** Starts `ts-dask up` with the given flags and waits for its connect line. */
export async function startUp(args: string[]): Promise<UpCluster> {
  const proc = spawn(process.execPath, [BIN, "up", ...args], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  const found = await new Promise<RegExpExecArray>((resolve, reject) => {
    proc.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /Client\.connect\("([^"]+)", \{ cluster: "([^"]+)" \}\)/.exec(out);
      if (m && out.includes("Ctrl-C")) resolve(m);
    });
    proc.once("exit", (code) => reject(new Error(`ts-dask up exited with ${code}:\n${out}`)));
  });
  return {
    url: found[1]!,
    cluster: found[2]!,
    proc,
    output: () => out,
    async stop() {
      if (proc.exitCode !== null) return;
      proc.kill("SIGINT");
      await once(proc, "exit");
    },
  };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** Prints one JSON document (the benchmark's result) on stdout. */
export function report(result: Record<string, unknown>): void {
  console.log(JSON.stringify(result, null, 2));
}

export const runs = () => Number(process.env.BENCH_RUNS ?? 5);

/**
 * A full garbage collection in this process, so one configuration does not pay for the garbage
 * the previous one left (the 10^6-result runs leave hundreds of MB). Enables `gc` on first use.
 */
export function collectGarbage(): void {
  const g = globalThis as { gc?: () => void };
  if (!g.gc) {
    v8.setFlagsFromString("--expose-gc");
    g.gc = runInNewContext("gc") as () => void;
  }
  g.gc!();
}
