/** Files and binaries: memory of a process, the local directory, executables, npm (part of runtime/platform.ts, the one OS module). */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { accessSync, constants as fsConstants, readFileSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { lazyRequire } from "../lazy.ts";
import { isMac, isWindows } from "./os.ts";

const pidusage = lazyRequire<typeof import("pidusage")>("pidusage");
// ------------------------------------------------------------------------------------------------
// Files and binaries
// ------------------------------------------------------------------------------------------------

/**
 * Resident memory of another process in bytes, or undefined when it cannot be read (gone, not
 * ours). Read from outside, so it works while the process's own event loop is blocked. Linux:
 * /proc/<pid>/statm (one read, no child process); elsewhere pidusage (`ps` on macOS, the
 * performance counters on Windows), which is slower: poll no faster than every 500 ms.
 */
export async function processRss(pid: number): Promise<number | undefined> {
  if (process.platform === "linux") {
    try {
      const pages = Number(readFileSync(`/proc/${pid}/statm`, "utf8").split(" ")[1]);
      return Number.isFinite(pages) ? pages * pageSize() : undefined;
    } catch {
      return undefined;
    }
  }
  try {
    return (await pidusage()(pid)).memory;
  } catch {
    return undefined;
  }
}

let linuxPageSize = 0;
/** Linux page size, asked once: 4 KiB almost everywhere, 16 or 64 KiB on some arm64 kernels. */
function pageSize(): number {
  if (!linuxPageSize) {
    const n = Number(spawnSync("getconf", ["PAGESIZE"], { encoding: "utf8" }).stdout?.trim());
    linuxPageSize = Number.isInteger(n) && n > 0 ? n : 4096;
  }
  return linuxPageSize;
}

/**
 * Where a worker keeps scratch files (spilled data, unpacked modules) unless told otherwise:
 * `$TSDASK_LOCAL_DIRECTORY` if set; else `os.tmpdir()/ts-dask` on macOS and Windows (their temp
 * directories are per user already: `$TMPDIR` under /var/folders, `%LOCALAPPDATA%\Temp`); else
 * `os.tmpdir()/ts-dask-<uid>` on Linux and other POSIX systems, where /tmp is shared between users.
 * Only computes the path: callers create it (mode 0o700) when they need it.
 */
export function defaultLocalDirectory(): string {
  const fromEnv = process.env.TSDASK_LOCAL_DIRECTORY;
  if (fromEnv) return path.resolve(fromEnv);
  if (isWindows || isMac) return path.join(os.tmpdir(), "ts-dask");
  const uid = typeof process.getuid === "function" ? process.getuid() : undefined;
  return path.join(os.tmpdir(), uid === undefined ? "ts-dask" : `ts-dask-${uid}`);
}

function isExecutableFile(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    if (!isWindows) accessSync(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Absolute path of the executable `name`, or undefined. A name containing a path separator is checked
 * as given (resolved against the cwd). Otherwise each directory of PATH is searched, in order.
 * POSIX: the file must be executable by us. Windows: tries `name` with each extension of PATHEXT
 * (default `.COM;.EXE;.BAT;.CMD`), and `name` as given if it already ends with one of them; PATH
 * entries may be quoted. (cmd.exe also searches the current directory first; we do not, like
 * `where`/spawn without a shell.)
 */
export function executablePath(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (!name) return undefined;
  const exts = isWindows
    ? (env.PATHEXT ?? env.Pathext ?? ".COM;.EXE;.BAT;.CMD").split(";").filter(Boolean).map((e) => e.toLowerCase())
    : [];
  const candidates = (base: string): string[] => {
    if (!isWindows) return [base];
    const hasExt = exts.includes(path.extname(base).toLowerCase());
    return hasExt ? [base, ...exts.map((e) => base + e)] : exts.map((e) => base + e);
  };
  const hasSep = name.includes("/") || (isWindows && name.includes("\\"));
  if (hasSep || path.isAbsolute(name)) {
    for (const c of candidates(path.resolve(name))) if (isExecutableFile(c)) return c;
    return undefined;
  }
  // Windows environments spell it Path; Node's process.env lookup is case-insensitive there.
  const pathVar = env.PATH ?? env.Path ?? "";
  for (let dir of pathVar.split(path.delimiter)) {
    if (isWindows) dir = dir.replace(/^"(.*)"$/, "$1");
    if (!dir) continue;
    for (const c of candidates(path.resolve(dir, name))) if (isExecutableFile(c)) return c;
  }
  return undefined;
}

/** How to run npm: `command` with `args` first, through a shell or not. */
export interface NpmCommand {
  command: string;
  args: string[];
  /** Windows' npm.cmd can only be spawned through a shell (Node refuses .cmd files without one). */
  shell: boolean;
}

/**
 * How to run npm on this machine, or undefined when there is none. Prefers the npm that ships with
 * the running Node (its `npm-cli.js`, run by `process.execPath`: no shell, no PATH, the same on every
 * OS): `<prefix>/lib/node_modules/npm` on POSIX, `<node dir>\node_modules\npm` on Windows. Else
 * `npm` on PATH; on Windows that is `npm.cmd`, which must go through the shell.
 */
export function npmCommand(env: NodeJS.ProcessEnv = process.env): NpmCommand | undefined {
  const nodeDir = path.dirname(process.execPath);
  const beside = isWindows
    ? [path.join(nodeDir, "node_modules", "npm", "bin", "npm-cli.js")]
    : [path.join(nodeDir, "..", "lib", "node_modules", "npm", "bin", "npm-cli.js"), path.join(nodeDir, "node_modules", "npm", "bin", "npm-cli.js")];
  for (const cli of beside) {
    try {
      if (statSync(cli).isFile()) return { command: process.execPath, args: [cli], shell: false };
    } catch {
      /* not there */
    }
  }
  const onPath = executablePath("npm", env);
  if (!onPath) return undefined;
  return isWindows && /\.(cmd|bat)$/i.test(onPath) ? { command: `"${onPath}"`, args: [], shell: true } : { command: onPath, args: [], shell: false };
}

/**
 * Starts `npm <args>` ({@link npmCommand}) with piped stdout/stderr, or returns undefined when npm
 * is not found. Through the Windows shell, arguments with spaces or shell characters are quoted.
 */
export function spawnNpm(args: readonly string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): ChildProcess | undefined {
  const cmd = npmCommand(opts.env);
  if (!cmd) return undefined;
  const quote = (a: string) => (/[\s"&|<>^]/.test(a) ? `"${a.replace(/"/g, '""')}"` : a);
  const all = [...cmd.args, ...args];
  return spawn(cmd.command, cmd.shell ? all.map(quote) : all, { cwd: opts.cwd, env: opts.env, shell: cmd.shell, stdio: ["ignore", "pipe", "pipe"], windowsHide: true });
}
