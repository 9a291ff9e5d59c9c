/**
 * The same-host drop directory (part of runtime/platform.ts, the one OS module): where processes of
 * one user on one machine hand each other a large value's bytes through the file system instead of
 * NATS (runtime/same-host.ts). Per user and private: `/dev/shm/ts-dask-drop-<uid>` on Linux (memory,
 * no disk write-back), else `os.tmpdir()/ts-dask-drop-<uid>` on other POSIX systems and
 * `os.tmpdir()/ts-dask-drop` on macOS and Windows (their temp directories are per user already).
 * Created with mode 0o700; on POSIX it is used only when it is a real directory (not a link) that
 * we own and nobody else can enter. It holds an `id` file: two processes that read the same id
 * share the directory, whatever their host names say.
 *
 * Files are named by a value's SHA-256 (64 hex digits, nothing else: a name never leaves the
 * directory), written under a temporary name and renamed, and opened for reading without
 * following a link (where the OS offers it) and without blocking (a FIFO planted there cannot
 * hang the reader); only a regular file of exactly the expected size is read.
 */
import { randomBytes } from "node:crypto";
import { closeSync, constants, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { open } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { isLinux, isMac, isWindows } from "./os.ts";

/** A drop directory this process may use, and its id. */
export interface DropDir {
  dir: string;
  id: string;
}

const NAME = /^[0-9a-f]{64}$/;
const ID = /^[0-9a-f]{32}$/;

let cached: DropDir | undefined;

function candidate(): string {
  const uid = typeof process.getuid === "function" ? process.getuid() : undefined;
  if (isWindows || isMac || uid === undefined) return path.join(os.tmpdir(), "ts-dask-drop");
  const base = isLinux && isDir("/dev/shm") ? "/dev/shm" : os.tmpdir();
  return path.join(base, `ts-dask-drop-${uid}`);
}

function isDir(p: string): boolean {
  try {
    return lstatSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Whether `dir` is ours alone: a directory (not a link), and on POSIX owned by us with no access for others. */
function isPrivateDir(dir: string): boolean {
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.isSymbolicLink()) return false;
  if (isWindows || typeof process.getuid !== "function") return true;
  return st.uid === process.getuid() && (st.mode & 0o077) === 0;
}

/**
 * This process's drop directory (created on first use), or undefined when there is none we may
 * use (not creatable, not private). A failure is not remembered: the next call tries again.
 */
export function dropDir(): DropDir | undefined {
  if (cached) return cached;
  try {
    const dir = candidate();
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!isPrivateDir(dir)) return undefined;
    const idFile = path.join(dir, "id");
    try {
      writeFileSync(idFile, randomBytes(16).toString("hex"), { flag: "wx", mode: 0o600 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") return undefined;
    }
    const id = readFileSync(idFile, "utf8");
    // Another process may have created the file and not written it yet: no shortcut this time.
    if (!ID.test(id)) return undefined;
    sweep(dir);
    return (cached = { dir, id });
  } catch {
    return undefined;
  }
}

/** Files left by a process that died during a hand-over (they live for seconds at most otherwise). */
const STALE_MS = 60 * 60_000;

function sweep(dir: string): void {
  const now = Date.now();
  for (const f of readdirSync(dir)) {
    if (f === "id") continue;
    try {
      const p = path.join(dir, f);
      if (now - statSync(p).mtimeMs > STALE_MS) rmSync(p, { force: true });
    } catch {
      /* gone meanwhile */
    }
  }
}

/**
 * Writes the parts' concatenation as `name` (a SHA-256, hex) in `d`: under a temporary name, then
 * renamed, so a reader never sees a partial file. False when it could not (full, not allowed).
 */
export function writeDrop(d: DropDir, name: string, parts: readonly Uint8Array[]): boolean {
  if (!NAME.test(name)) return false;
  const tmp = path.join(d.dir, `${name}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, "wx", 0o600);
    for (const p of parts) for (let at = 0; at < p.byteLength; ) at += writeSync(fd, p, at);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path.join(d.dir, name));
    return true;
  } catch {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    return false;
  }
}

/** Removes `name` from `d` (nothing if it is not there). */
export function removeDrop(d: DropDir, name: string): void {
  if (!NAME.test(name)) return;
  try {
    rmSync(path.join(d.dir, name), { force: true });
  } catch {
    /* another process's removal, or none allowed: it is only a hand-over */
  }
}

/**
 * The bytes of `name` in `d` when it is a regular file of exactly `size` bytes, else undefined
 * (absent, another kind of file, another size, unreadable). Read off the event loop. The caller
 * checks them against their hash: the file may come from anyone who can write there.
 */
export async function readDrop(d: DropDir, name: string, size: number): Promise<Uint8Array | undefined> {
  if (!NAME.test(name) || !Number.isSafeInteger(size) || size < 0) return undefined;
  // O_NOFOLLOW and O_NONBLOCK are undefined on Windows: 0 there.
  const flags = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);
  let fh;
  try {
    fh = await open(path.join(d.dir, name), flags);
  } catch {
    return undefined;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.size !== size) return undefined;
    const bytes = new Uint8Array(size);
    for (let at = 0; at < size; ) {
      const { bytesRead } = await fh.read(bytes, at, size - at, at);
      if (bytesRead === 0) return undefined; // shrank meanwhile
      at += bytesRead;
    }
    return bytes;
  } catch {
    return undefined;
  } finally {
    await fh.close().catch(() => {});
  }
}
