/** Processes: alive? descendants? kill the tree (part of runtime/platform.ts, the one OS module). */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { isLinux, isWindows } from "./os.ts";
// ------------------------------------------------------------------------------------------------
// Processes: alive? descendants? kill the tree.
// ------------------------------------------------------------------------------------------------

/**
 * Whether a process with this PID exists and has not exited. A zombie (exited, not yet reaped by its
 * parent — orphans wait for PID 1, which in some containers never reaps) counts as dead. A process
 * owned by another user counts as alive (EPERM).
 */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
  if (isWindows) return true; // Windows has no zombies visible to OpenProcess callers that matter here
  return processState(pid) !== "Z";
}

/** First letter of the process state (`R`, `S`, `Z`, …); `"X"` when it is gone; undefined if unknown. */
function processState(pid: number): string | undefined {
  if (isLinux) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      // "pid (comm) S ppid …": comm may contain spaces and parentheses, so look after the last ')'.
      return stat.charAt(stat.lastIndexOf(")") + 2) || undefined;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT" || (e as NodeJS.ErrnoException).code === "ESRCH") return "X";
      // /proc unusable (hidepid, not mounted): fall through to ps.
    }
  }
  // macOS, BSDs, and Linux without /proc. `ps` exits 1 with no output for an unknown PID.
  const r = spawnSync("ps", ["-o", "stat=", "-p", String(pid)], { encoding: "utf8", windowsHide: true });
  if (r.error) return undefined;
  const s = (r.stdout ?? "").trim();
  if (r.status !== 0 && !s) return "X";
  return s.charAt(0) || undefined;
}

/** parent PID → child PIDs, for every process we can see. Empty on Windows (not needed there). */
function childrenByParent(): Map<number, number[]> {
  const map = new Map<number, number[]>();
  const add = (pid: number, ppid: number) => {
    if (!Number.isInteger(pid) || !Number.isInteger(ppid)) return;
    let list = map.get(ppid);
    if (!list) map.set(ppid, (list = []));
    list.push(pid);
  };
  if (isLinux) {
    try {
      for (const name of readdirSync("/proc")) {
        if (!/^\d+$/.test(name)) continue;
        let stat: string;
        try {
          stat = readFileSync(`/proc/${name}/stat`, "utf8");
        } catch {
          continue; // exited while we were scanning
        }
        const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // [state, ppid, pgrp, …]
        add(Number(name), Number(rest[1]));
      }
      return map;
    } catch {
      map.clear(); // no /proc: use ps
    }
  }
  if (isWindows) return map;
  // POSIX ps (Linux procps, macOS, BSD all accept -A -o pid=,ppid=; `--ppid` is GNU-only).
  const r = spawnSync("ps", ["-A", "-o", "pid=,ppid="], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  for (const line of (r.stdout ?? "").split("\n")) {
    const m = /^\s*(\d+)\s+(\d+)\s*$/.exec(line);
    if (m) add(Number(m[1]), Number(m[2]));
  }
  return map;
}

/** PIDs of all descendants of `roots` (not the roots themselves), from one snapshot of the process table. */
export function descendants(roots: number | Iterable<number>): number[] {
  const table = childrenByParent();
  const out: number[] = [];
  const seen = new Set<number>(typeof roots === "number" ? [roots] : roots);
  const queue = [...seen];
  while (queue.length) {
    for (const c of table.get(queue.shift()!) ?? []) {
      if (seen.has(c)) continue;
      seen.add(c);
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/** `process.kill(pid, signal)`; false instead of a throw when it is gone or not ours. */
export function trySignal(pid: number, signal: NodeJS.Signals | number): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Send `signal` (default SIGTERM) to process `pid` and all its descendants; returns the PIDs signalled.
 *
 * POSIX: walks the parent→children table (/proc on Linux, `ps -A -o pid=,ppid=` elsewhere). So that no
 * member can fork a child that escapes between the walk and the kill, the tree is first frozen with
 * SIGSTOP (re-walking until no new member appears), then signalled, then — for signals other than
 * SIGKILL — continued with SIGCONT so each process can handle the signal. With `group: true` (the
 * process was spawned `detached`, so it leads its own process group) the group is signalled too,
 * which also reaches members already re-parented away from the tree. Descendants that were orphaned
 * *before* the call are not found (their parent link is gone): use a group for those.
 *
 * Windows: `taskkill /pid N /T /F` (always forceful — Windows has no catchable SIGTERM for console
 * programs); falls back to `process.kill(pid)` if taskkill is unavailable. Returns `[pid]`.
 */
export function killTree(pid: number, signal: NodeJS.Signals = "SIGTERM", opts: { group?: boolean } = {}): number[] {
  if (!Number.isInteger(pid) || pid <= 0) return [];
  if (isWindows) {
    const r = spawnSync("taskkill", ["/pid", String(pid), "/T", "/F"], { stdio: "ignore", windowsHide: true });
    if (r.error || r.status !== 0) trySignal(pid, signal);
    return [pid];
  }
  const self = process.pid;
  const freeze = signal !== "SIGSTOP";
  const members: number[] = [];
  const known = new Set<number>();
  // Freeze and collect: repeat the walk until a pass finds nobody new (bounded).
  for (let pass = 0; pass < 20; pass++) {
    const fresh = [pid, ...descendants([pid, ...known])].filter((p) => !known.has(p));
    if (fresh.length === 0) break;
    for (const p of fresh) {
      known.add(p);
      members.push(p);
      if (freeze && p !== self) trySignal(p, "SIGSTOP");
    }
    if (!freeze) break;
  }
  const signalled: number[] = [];
  // Signal parents first (members is in walk order), ourselves last if we are part of the tree.
  for (const p of members) if (p !== self && trySignal(p, signal)) signalled.push(p);
  if (opts.group) trySignal(-pid, signal);
  if (freeze && signal !== "SIGKILL") {
    for (const p of members) if (p !== self) trySignal(p, "SIGCONT");
    if (opts.group) trySignal(-pid, "SIGCONT");
  }
  if (known.has(self) && trySignal(self, signal)) signalled.push(self);
  return signalled;
}

/**
 * Resolve true once `pid` is gone (see {@link isAlive}), false after `timeoutMs`. For processes that
 * are not our children there is no exit event to await, so this polls with a growing interval
 * (2 ms → 50 ms). For our own children, await their 'exit' event instead.
 */
export async function waitForPidExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let delay = 2;
  for (;;) {
    if (!isAlive(pid)) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(1, deadline - Date.now()))));
    delay = Math.min(delay * 2, 50);
  }
}
