/**
 * CPU time per process from /proc (Linux), for overhead accounting in benchmarks: the sum of every
 * thread's run time from `/proc/<pid>/task/<tid>/schedstat` (nanoseconds, not 10 ms ticks), so a
 * few microseconds per task over a few thousand tasks is still visible.
 */
import { readdirSync, readFileSync } from "node:fs";

/** Seconds of CPU used so far by every thread of `pid` (0 for a process that is gone). */
export function cpuSeconds(pid: number): number {
  let ns = 0;
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0;
  }
  for (const tid of tids) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      /* thread ended meanwhile */
    }
  }
  return ns / 1e9;
}

/**
 * Voluntary context switches of `pid`'s main thread so far: how often it blocked waiting (on
 * epoll, for a Node process), i.e. its wake-ups.
 */
export function mainThreadWakeups(pid: number): number {
  return Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/task/${pid}/status`, "utf8"))![1]);
}

/** The process's command name (`node`, `nats-server`). */
export function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "?";
  }
}

/** Every descendant of `root` (children, grandchildren…), from the parent ids in /proc. */
export function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      // pid (comm) state ppid …: comm may hold spaces and parentheses, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parent.set(Number(d), ppid);
    } catch {
      /* gone */
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [c, pp] of parent) if (pp === p) out.push(c), walk(c);
  };
  walk(root);
  return out;
}

/** A labelled set of processes whose CPU is read together. */
export type ProcessRoles = Record<string, number[]>;

/** CPU seconds per role now. */
export function sample(roles: ProcessRoles): Record<string, number> {
  return Object.fromEntries(Object.entries(roles).map(([role, pids]) => [role, pids.reduce((a, p) => a + cpuSeconds(p), 0)]));
}

/** The difference of two {@link sample}s, per role. */
export function delta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.keys(after).map((k) => [k, after[k]! - (before[k] ?? 0)]));
}

/**
 * What one wake-up of an idle Node process costs on this machine: a bare `node` with a 10 ms
 * `setInterval` and nothing else, its CPU (every thread) over `seconds` divided by the timer's
 * firings. Every beat, timer and message of an idle cluster pays at least this much in each
 * process it wakes; on a bare-metal Linux machine it is ~10–20 µs, on some VMs ten times that.
 */
export async function nodeWakeupUs(seconds = 3): Promise<number> {
  const { spawn } = await import("node:child_process");
  const p = spawn(process.execPath, ["-e", "setInterval(() => {}, 10); process.send?.('ready')"], { stdio: ["ignore", "ignore", "ignore", "ipc"] });
  await new Promise((res) => p.once("message", res));
  await new Promise((res) => setTimeout(res, 500));
  const a = cpuSeconds(p.pid!);
  const t = performance.now();
  await new Promise((res) => setTimeout(res, seconds * 1000));
  const cpu = cpuSeconds(p.pid!) - a;
  const wakeups = (performance.now() - t) / 10;
  p.kill();
  return Math.round((cpu / wakeups) * 1e6);
}
