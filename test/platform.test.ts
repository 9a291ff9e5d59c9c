import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, realpathSync } from "node:fs";
import path from "node:path";
import { finished } from "node:stream/promises";
import { fileURLToPath, pathToFileURL } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { TsDaskError } from "../runtime/errors.ts";
import {
  defaultLocalDirectory,
  executablePath,
  isAlive,
  isWindows,
  killTree,
  signalExitCode,
  spawnTethered,
} from "../runtime/platform.ts";
import { childExit, cleanup, onCleanup, waitFor, waitForLine, withTimeout } from "./helpers/cluster.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const PLATFORM_URL = pathToFileURL(path.join(here, "..", "runtime", "platform.ts")).href;

/** `node --import tsx` running `code` as an ES module with PLATFORM_URL in its environment. */
function nodeModule(code: string, stderr: "inherit" | "ignore" = "inherit"): ChildProcess {
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
    stdio: ["ignore", "pipe", stderr],
    env: { ...process.env, PLATFORM_URL },
  });
  onCleanup(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  return child;
}

/** Kill these PIDs at cleanup if a failed test left them running. */
function reap(...pids: number[]) {
  onCleanup(() => {
    for (const p of pids) if (isAlive(p)) killTree(p, "SIGKILL");
  });
}

test.after(cleanup);

test("executablePath finds node on PATH, honours paths, rejects missing and non-executable files", () => {
  const node = executablePath(path.basename(process.execPath, path.extname(process.execPath)));
  assert.ok(node, "node found on PATH");
  assert.ok(path.isAbsolute(node!));
  assert.ok(existsSync(node!));
  assert.is(executablePath(process.execPath), process.execPath);
  assert.is(executablePath("definitely-not-a-real-binary-7f3a"), undefined);
  assert.is(executablePath("/nonexistent/dir/nats-server"), undefined);
  if (!isWindows) assert.is(executablePath(path.join(here, "platform.test.ts")), undefined, "not executable");
  // An explicit PATH is searched in order.
  const dir = path.dirname(realpathSync(process.execPath));
  assert.is(realpathSync(executablePath("node", { PATH: dir })!), realpathSync(process.execPath));
  assert.is(executablePath("node", { PATH: "" }), undefined);
});

test("isAlive: this process yes, bad PIDs no, an exited child no", async () => {
  assert.ok(isAlive(process.pid));
  assert.not.ok(isAlive(0));
  assert.not.ok(isAlive(-1));
  assert.not.ok(isAlive(1.5));
  const child = spawn(process.execPath, ["-e", "0"], { stdio: "ignore" });
  await withTimeout(childExit(child), 10_000, "short child to exit");
  assert.not.ok(isAlive(child.pid!));
});

test("defaultLocalDirectory is absolute, named for ts-dask, and follows $TSDASK_LOCAL_DIRECTORY", () => {
  const saved = process.env.TSDASK_LOCAL_DIRECTORY;
  try {
    delete process.env.TSDASK_LOCAL_DIRECTORY;
    const d = defaultLocalDirectory();
    assert.ok(path.isAbsolute(d));
    assert.match(path.basename(d), /^ts-dask/);
    process.env.TSDASK_LOCAL_DIRECTORY = "relative/scratch";
    assert.is(defaultLocalDirectory(), path.resolve("relative/scratch"));
  } finally {
    if (saved === undefined) delete process.env.TSDASK_LOCAL_DIRECTORY;
    else process.env.TSDASK_LOCAL_DIRECTORY = saved;
  }
});

test("signalExitCode follows the 128 + n convention", () => {
  assert.is(signalExitCode("SIGINT"), 130);
  assert.is(signalExitCode("SIGTERM"), 143);
});

test("killTree kills a process, its children and grandchildren", async () => {
  // A chain root → child → grandchild; each prints its PID and idles.
  const chain =
    'const d = Number(process.argv[1]); console.log(process.pid); if (d > 0) require("node:child_process")' +
    '.spawn(process.execPath, ["-e", process.env.CHAIN_SRC, String(d - 1)], { stdio: ["ignore", "inherit", "inherit"] });' +
    "setInterval(() => {}, 1 << 30);";
  const root = spawn(process.execPath, ["-e", chain, "2"], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, CHAIN_SRC: chain } });
  const pids: number[] = [];
  await withTimeout(
    new Promise<void>((resolve) => {
      let buf = "";
      root.stdout!.on("data", (d) => {
        buf += d;
        const lines = buf.split("\n").filter(Boolean);
        if (lines.length >= 3) {
          pids.push(...lines.slice(0, 3).map(Number));
          resolve();
        }
      });
    }),
    15_000,
    "three PIDs from the process chain",
  );
  reap(...pids);
  assert.is(pids[0], root.pid);
  for (const p of pids) assert.ok(isAlive(p), `pid ${p} alive before`);

  const signalled = killTree(root.pid!);
  for (const p of pids) assert.ok(signalled.includes(p), `pid ${p} signalled`);
  const ex = await withTimeout(childExit(root), 10_000, "root of the chain to exit");
  assert.is(ex.signal, "SIGTERM");
  // The grandchildren are not our children: no exit event reaches us, so poll their PIDs (bounded).
  await waitFor(() => pids.every((p) => !isAlive(p)), { timeoutMs: 10_000, label: "all of the chain gone" });
});

test("spawnTethered runs a command, streams its output and reports its exit code", async () => {
  const t = await withTimeout(
    spawnTethered(process.execPath, ["-e", "console.log('out'); console.error('err'); process.exit(3)"]),
    15_000,
    "tethered child to spawn",
  );
  assert.ok(t.pid > 0 && t.keeperPid > 0 && t.pid !== t.keeperPid);
  let out = "";
  let err = "";
  t.stdout!.on("data", (d) => (out += d));
  t.stderr!.on("data", (d) => (err += d));
  const ex = await withTimeout(t.exited, 10_000, "tethered child to exit");
  assert.equal(ex, { code: 3, signal: null });
  assert.ok(t.hasExited);
  await withTimeout(
    Promise.all([finished(t.stdout!), finished(t.stderr!)]),
    5000,
    "tethered output streams to close",
  );
  assert.is(out, "out\n");
  assert.is(err, "err\n");
  assert.not.ok(isAlive(t.keeperPid), "keeper gone with its child");
});

test("spawnTethered rejects with SpawnFailed for a missing command", async () => {
  const err = await withTimeout(
    spawnTethered(path.join(here, "no-such-command"), []).then(
      () => undefined,
      (e: unknown) => e,
    ),
    15_000,
    "spawn failure",
  );
  assert.instance(err, TsDaskError);
  assert.is((err as TsDaskError).code, "SpawnFailed");
  assert.is(((err as TsDaskError).cause as NodeJS.ErrnoException).code, "ENOENT");
});

test("Tethered.stop() ends the child and its keeper", async () => {
  const t = await withTimeout(spawnTethered(process.execPath, ["-e", "setInterval(() => {}, 1 << 30)"], { stdout: "ignore" }), 15_000, "spawn");
  reap(t.pid, t.keeperPid);
  assert.ok(isAlive(t.pid));
  const ex = await withTimeout(t.stop(), 15_000, "tethered stop");
  assert.is(ex.signal, "SIGTERM");
  assert.not.ok(isAlive(t.pid));
  assert.not.ok(isAlive(t.keeperPid));
  assert.equal(await t.stop(), ex, "stop is idempotent");
});

test("a tethered child dies when its keeper is SIGKILLed (we kill it by PID)", async () => {
  const t = await withTimeout(spawnTethered(process.execPath, ["-e", "setInterval(() => {}, 1 << 30)"], { stdout: "ignore" }), 15_000, "spawn");
  reap(t.pid, t.keeperPid);
  process.kill(t.keeperPid, "SIGKILL");
  const ex = await withTimeout(t.exited, 15_000, "orphaned child to be killed");
  assert.is(ex.signal, "SIGKILL");
  assert.not.ok(isAlive(t.pid));
});

test("a tethered child dies when its parent is SIGKILLed", async () => {
  const parent = nodeModule(`
    const { spawnTethered } = await import(process.env.PLATFORM_URL);
    const t = await spawnTethered(process.execPath, ["-e", "setInterval(() => {}, 1 << 30)"], { stdout: "ignore", stderr: "ignore" });
    console.log(JSON.stringify({ child: t.pid, keeper: t.keeperPid }));
  `);
  const line = await waitForLine(parent.stdout!, /^\{/, { timeoutMs: 20_000, label: "tethered PIDs from the parent" });
  const { child, keeper } = JSON.parse(line) as { child: number; keeper: number };
  reap(child, keeper);
  assert.ok(isAlive(child), "tethered child running");
  assert.ok(isAlive(keeper), "keeper running");

  parent.kill("SIGKILL");
  const ex = await withTimeout(childExit(parent), 10_000, "parent to die");
  assert.is(ex.signal, "SIGKILL");
  // Neither is our child: poll their PIDs (bounded) — the keeper saw its IPC channel close.
  await waitFor(() => !isAlive(child) && !isAlive(keeper), { timeoutMs: 10_000, label: "tethered child and keeper gone" });
});

test("Linux: a tethered child and its keeper keep the autogroup nice of the process that started them", async () => {
  if (process.platform !== "linux") return; // autogroups are Linux's; CI runs Linux
  assert.ok(existsSync("/proc/self/autogroup"), "this kernel has autogroups");
  // A parent in a session (autogroup) of its own, made nicer (raising nice needs no privilege):
  // setsid gives the keeper and its child fresh autogroups at nice 0 unless spawnTethered passes ours on.
  const parent = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", `
    import { readFileSync, writeFileSync } from "node:fs";
    writeFileSync("/proc/self/autogroup", "7");
    const { spawnTethered } = await import(process.env.PLATFORM_URL);
    const t = await spawnTethered(process.execPath, ["-e", "setInterval(() => {}, 1 << 30)"], { stdout: "ignore", stderr: "ignore" });
    const nice = (pid) => readFileSync("/proc/" + pid + "/autogroup", "utf8").trim();
    console.log(JSON.stringify({ own: nice("self"), keeper: nice(t.keeperPid), child: nice(t.pid), pids: [t.keeperPid, t.pid] }));
    await t.stop();
  `], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, PLATFORM_URL }, detached: true });
  onCleanup(() => {
    if (parent.exitCode === null && parent.signalCode === null) parent.kill("SIGKILL");
  });
  const line = await waitForLine(parent.stdout!, /^\{/, { timeoutMs: 20_000, label: "autogroups from the parent" });
  const r = JSON.parse(line) as { own: string; keeper: string; child: string; pids: number[] };
  reap(...r.pids);
  assert.match(r.own, /nice 7$/);
  assert.match(r.keeper, /nice 7$/, "the keeper's autogroup");
  assert.match(r.child, /nice 7$/, "the child's autogroup");
  assert.is.not(r.keeper.split(" ")[0], r.own.split(" ")[0], "the keeper is in a session of its own");
  const ex = await withTimeout(childExit(parent), 10_000, "parent to exit");
  assert.is(ex.code, 0);
});

test("onShutdown runs async handlers on SIGTERM, then exits with 143", async () => {
  if (isWindows) return; // no way to deliver a catchable SIGTERM to a Windows process
  const child = nodeModule(`
    const { onShutdown } = await import(process.env.PLATFORM_URL);
    onShutdown(async (sig) => { await new Promise((r) => setTimeout(r, 20)); console.log("handled " + sig); });
    const off = onShutdown(() => console.log("never: unregistered"));
    off();
    console.log("ready");
    setInterval(() => {}, 1 << 30);
  `);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  await withTimeout(
    new Promise<void>((r) => {
      const check = () => out.includes("ready\n") && (child.stdout!.off("data", check), r());
      child.stdout!.on("data", check);
    }),
    20_000,
    "child to register its handler",
  );
  child.kill("SIGTERM");
  const ex = await withTimeout(childExit(child), 15_000, "child to shut down");
  assert.is(ex.code, 143);
  assert.ok(out.includes("handled SIGTERM"), out);
  assert.not.ok(out.includes("never"), out);
});

test("onShutdown with exitCode: 0 exits 0 after a graceful SIGINT, 1 if a handler fails", async () => {
  if (isWindows) return;
  const run = async (failing: boolean) => {
    const child = nodeModule(`
      const { onShutdown } = await import(process.env.PLATFORM_URL);
      onShutdown(async () => { ${failing ? 'throw new Error("boom");' : ""} }, { exitCode: 0 });
      console.log("ready");
      setInterval(() => {}, 1 << 30);
    `, failing ? "ignore" : "inherit"); // the failing handler's error report is expected noise
    await waitForLine(child.stdout!, /^ready$/, { timeoutMs: 20_000, label: "child to register its handler" });
    child.kill("SIGINT");
    return (await withTimeout(childExit(child), 15_000, "child to shut down")).code;
  };
  const [ok, bad] = await Promise.all([run(false), run(true)]);
  assert.is(ok, 0);
  assert.is(bad, 1);
});

test.run();
