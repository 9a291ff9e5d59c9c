// The tether keeper: a tiny plain-JS process that ties a long-lived child's life to its parent's.
//
// Node has no PR_SET_PDEATHSIG (and Windows has none at all), so runtime/platform.ts#spawnTethered
// starts this file with `process.execPath` and an IPC channel. The keeper spawns the real command and
// kills it as soon as the IPC channel to the parent disconnects — which the OS does for us when the
// parent dies in any way, SIGKILL included — or when the parent asks.
//
// argv[2]: base64url(JSON {cmd, args, nodeOptions, killSignal, killGraceMs}). The keeper's cwd and
// environment are the child's (the parent set them when spawning the keeper), except NODE_OPTIONS,
// which the parent removes so it cannot slow or break the keeper and passes back as `nodeOptions`.
//
// The child inherits the keeper's stdout/stderr (pipes or files chosen by the parent): output goes
// straight to the parent with no copying here. The keeper itself only talks over IPC:
//   keeper → parent: {t:"spawned", pid} | {t:"error", code, errno, syscall, path, message}
//                    | {t:"exit", code, signal}
//   parent → keeper: {t:"kill", signal}
// The keeper exits right after its child, with the child's status (128 + signal number if signalled).
//
// Process groups (POSIX): the parent starts the keeper detached (its own group, so a Ctrl+C or a
// group SIGKILL aimed at the parent's group does not take the keeper down before it could act), and
// the keeper starts the child detached too, so killing "the child" means its whole group (-pid).
// Windows: no groups; `taskkill /T /F` kills the child's tree.
import { spawn, spawnSync } from "node:child_process";
import { constants } from "node:os";

const isWindows = process.platform === "win32";
const spec = JSON.parse(Buffer.from(process.argv[2] ?? "", "base64url").toString("utf8"));
const killSignal = spec.killSignal || "SIGTERM";
const killGraceMs = Number.isFinite(spec.killGraceMs) ? spec.killGraceMs : 5000;

const env = { ...process.env };
if (typeof spec.nodeOptions === "string") env.NODE_OPTIONS = spec.nodeOptions;
else delete env.NODE_OPTIONS;

let child;
let exited = false;
let escalation;

function send(msg, then) {
  if (process.connected) {
    try {
      process.send(msg, then ? () => then() : undefined);
      return;
    } catch {
      // channel closed between the check and the send: fall through
    }
  }
  if (then) then();
}

/** Signal the child's whole tree: its process group on POSIX, taskkill /T on Windows. */
function signalChild(signal) {
  if (!child || exited || child.pid === undefined) return;
  const pid = child.pid;
  if (isWindows) {
    if (signal === "SIGKILL" || signal === "SIGTERM") {
      const r = spawnSync("taskkill", ["/pid", String(pid), "/T", "/F"], { stdio: "ignore", windowsHide: true });
      if (r.status === 0) return;
    }
    try {
      child.kill(signal);
    } catch {}
    return;
  }
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {}
  }
}

/** Stop the child: `signal`, then SIGKILL after the grace period. The keeper exits once it is gone. */
function stopChild(signal) {
  signalChild(signal);
  if (signal !== "SIGKILL" && !escalation && killGraceMs >= 0) {
    escalation = setTimeout(() => signalChild("SIGKILL"), killGraceMs);
  }
}

// The parent's fate decides; ignore the terminal's signals (a Ctrl+C goes to the parent's group and
// the parent runs its own shutdown). SIGTERM aimed at the keeper stops the child, then the keeper.
for (const s of isWindows ? ["SIGINT", "SIGBREAK", "SIGHUP"] : ["SIGINT", "SIGHUP"]) process.on(s, () => {});
process.on("SIGTERM", () => {
  if (child && !exited) stopChild("SIGTERM");
  else process.exit(143);
});

process.on("disconnect", () => {
  if (child && !exited) stopChild(killSignal);
  else if (!child) process.exit(1);
});

process.on("message", (msg) => {
  if (msg && msg.t === "kill") {
    if (msg.signal === "SIGKILL") signalChild("SIGKILL");
    else signalChild(msg.signal || killSignal);
  }
});

child = spawn(spec.cmd, spec.args, {
  stdio: ["ignore", "inherit", "inherit"],
  env,
  detached: !isWindows,
  windowsHide: true,
});

child.once("spawn", () => {
  send({ t: "spawned", pid: child.pid });
  // The parent may have died while we were spawning: the disconnect event fired before `child` existed.
  if (!process.connected) stopChild(killSignal);
});

child.once("error", (err) => {
  // Only spawn failures reach here before 'spawn'; later errors (a failed kill) are harmless.
  if (child.pid !== undefined) return;
  exited = true;
  send(
    { t: "error", code: err.code, errno: err.errno, syscall: err.syscall, path: err.path, message: err.message },
    () => process.exit(127),
  );
});

child.once("exit", (code, signal) => {
  exited = true;
  if (escalation) clearTimeout(escalation);
  const status = code ?? 128 + (constants.signals[signal] ?? 0);
  send({ t: "exit", code, signal }, () => process.exit(status));
});
