// The tether keeper: a tiny plain-JS process that ties a long-lived process's life to its parent's.
// Windows only since POSIX keepers are a shell reading a pipe (SH_KEEPER, runtime/platform/tether.ts:
// ~1 ms of CPU instead of a Node boot's ~0.1 s); its POSIX paths below are kept, and still work.
//
// Node has no PR_SET_PDEATHSIG (and Windows has none at all), so runtime/platform.ts#spawnTethered
// starts the command itself (its own child, in a process group of its own) and starts this file
// beside it with `process.execPath` and an IPC channel. The keeper stops the command as soon as that
// channel disconnects — which the OS does for us when the parent dies in any way, SIGKILL included:
// killSignal to the command's process group (Windows: `taskkill /T /F`), SIGKILL after killGraceMs
// if it is still there, then the keeper exits. While the parent lives the keeper does nothing; the
// parent SIGKILLs it once the command has exited. The command never waits for the keeper to boot.
//
// argv[2]: base64url(JSON {pid, killSignal, killGraceMs}). The keeper's cwd and environment are the
// command's, except NODE_OPTIONS, which the parent removes so it cannot slow or break the keeper.
//
// Process groups (POSIX): the parent starts the keeper detached (its own group, so a Ctrl+C or a
// group SIGKILL aimed at the parent's group does not take the keeper down before it could act).
import { spawnSync } from "node:child_process";

const isWindows = process.platform === "win32";
const spec = JSON.parse(Buffer.from(process.argv[2] ?? "", "base64url").toString("utf8"));
const pid = Number(spec.pid);
const killSignal = spec.killSignal || "SIGTERM";
const killGraceMs = Number.isFinite(spec.killGraceMs) ? spec.killGraceMs : 5000;
/** After SIGKILL, how long to wait for the command to be gone before leaving anyway (an unreaped zombie, say). */
const GONE_WAIT_MS = 5000;

/** Whether the command still exists (a zombie counts: whoever reaps it decides). */
function alive() {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === "EPERM";
  }
}

/** Signal the command's whole tree: its process group on POSIX, taskkill /T on Windows. */
function signalCommand(signal) {
  if (isWindows) {
    if (signal === "SIGKILL" || signal === "SIGTERM") {
      const r = spawnSync("taskkill", ["/pid", String(pid), "/T", "/F"], { stdio: "ignore", windowsHide: true });
      if (r.status === 0) return;
    }
    try {
      process.kill(pid, signal);
    } catch {}
    return;
  }
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {}
  }
}

let stopping = false;
/** The parent is gone: stop the command (killSignal, then SIGKILL after the grace period) and exit. */
function stopCommand() {
  if (stopping) return;
  stopping = true;
  if (!Number.isInteger(pid) || pid <= 0 || !alive()) process.exit(0);
  signalCommand(killSignal);
  const t0 = Date.now();
  let killed = killSignal === "SIGKILL";
  setInterval(() => {
    if (!alive()) process.exit(0);
    const waited = Date.now() - t0;
    if (!killed && waited >= killGraceMs) ((killed = true), signalCommand("SIGKILL"));
    if (waited >= killGraceMs + GONE_WAIT_MS) process.exit(0);
  }, 50);
}

// The parent's fate decides; ignore the terminal's signals (a Ctrl+C goes to the parent's group and
// the parent runs its own shutdown). SIGTERM aimed at the keeper stops the command, then the keeper.
for (const s of isWindows ? ["SIGINT", "SIGBREAK", "SIGHUP"] : ["SIGINT", "SIGHUP"]) process.on(s, () => {});
process.on("SIGTERM", stopCommand);
process.on("disconnect", stopCommand);
process.on("message", () => {}); // keeps the channel, and so this process, alive while the parent lives
// The parent may have died while we booted: the channel is closed already.
if (!process.connected) stopCommand();
