/**
 * Archives of uploaded packages (client.uploadFile): read a .zip (fflate) or a .tgz (node-tar)
 * into memory, refuse any entry that would land outside the package folder ("zip-slip"), and
 * write the entries into a directory. A folder upload is zipped here on the client, deterministically
 * (sorted entries, fixed times), so the same content always has the same hash.
 *
 * Used on both sides: the client checks an archive (and learns its package name) before sending
 * it; the executor checks it again before writing anything.
 */
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { isAbsolute, join, relative, resolve } from "node:path";
import type { Zippable } from "fflate";
import type { ReadEntry } from "tar";
import { lazyRequire } from "../lazy.ts";
import { Errors } from "../errors.ts";

/** One file of an archive, its path relative to the package root ("/"-separated). */
const fflate = lazyRequire<typeof import("fflate")>("fflate");
const tar = lazyRequire<typeof import("tar")>("tar");

export interface ArchiveEntry {
  path: string;
  data: Uint8Array;
}

/** Folders never uploaded from a folder. */
const SKIP_DIRS = new Set(["node_modules", ".git"]);
/** 1980-01-01, the earliest time a zip can hold: the same bytes for the same files, always. */
const FIXED_MTIME = new Date(1980, 0, 1, 12);

/**
 * `p` as a safe relative path ("a/b.ts"), or undefined when it could escape the folder it is
 * unpacked into: absolute (`/x`, `\x`, `C:x`), a `..` segment, or a NUL byte. `.` segments and
 * backslashes are normalised.
 */
export function safeRelativePath(p: string): string | undefined {
  if (p.includes("\0") || /^[/\\]/.test(p) || /^[A-Za-z]:/.test(p)) return undefined;
  const parts = p.split(/[/\\]+/).filter((s) => s !== "" && s !== ".");
  if (parts.some((s) => s === "..")) return undefined;
  return parts.join("/");
}

/** The entries of a zip archive; throws UnsafeArchivePath for an entry that could escape. */
export function readZip(bytes: Uint8Array, label: string): ArchiveEntry[] {
  let files: Record<string, Uint8Array>;
  try {
    files = fflate().unzipSync(bytes);
  } catch (e) {
    throw Errors.BadUpload(label, `not a readable zip archive (${(e as Error).message})`);
  }
  const out: ArchiveEntry[] = [];
  for (const [name, data] of Object.entries(files)) {
    const path = safeRelativePath(name);
    if (path === undefined) throw Errors.UnsafeArchivePath(label, name);
    if (name.endsWith("/") || path === "") continue; // a directory entry
    out.push({ path, data });
  }
  return out;
}

/** The entries of a gzipped (or plain) tar archive; links and unsafe paths are refused. */
export async function readTgz(bytes: Uint8Array, label: string): Promise<ArchiveEntry[]> {
  const out: ArchiveEntry[] = [];
  let refused: Error | undefined;
  const parser = new (tar().Parser)({
    onReadEntry: (entry: ReadEntry) => {
      const path = safeRelativePath(entry.path);
      if (path === undefined || entry.type === "SymbolicLink" || entry.type === "Link") {
        refused ??= Errors.UnsafeArchivePath(label, entry.type === "SymbolicLink" || entry.type === "Link" ? `${entry.path} (a link)` : entry.path);
        return void entry.resume();
      }
      if (entry.type !== "File" && entry.type !== "OldFile" && entry.type !== "ContiguousFile") return void entry.resume();
      const chunks: Buffer[] = [];
      entry.on("data", (c: Buffer) => chunks.push(c));
      entry.on("end", () => out.push({ path, data: new Uint8Array(Buffer.concat(chunks)) }));
    },
  });
  await new Promise<void>((res, rej) => {
    parser.on("error", (e: Error) => rej(Errors.BadUpload(label, `not a readable .tgz archive (${e.message})`)));
    parser.on("end", () => res());
    parser.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  });
  if (refused) throw refused;
  if (out.length === 0) throw Errors.BadUpload(label, "the .tgz archive holds no files");
  return out;
}

/**
 * Makes package.json the root: when the archive has none at its root but every entry sits in one
 * top folder (`my_module/…`, npm pack's `package/…`), that folder is stripped.
 */
export function packageRoot(entries: ArchiveEntry[]): ArchiveEntry[] {
  if (entries.some((e) => e.path === "package.json")) return entries;
  const tops = new Set(entries.map((e) => e.path.split("/")[0]));
  if (tops.size !== 1) return entries;
  const top = `${[...tops][0]}/`;
  if (!entries.every((e) => e.path.startsWith(top))) return entries;
  return entries.map((e) => ({ path: e.path.slice(top.length), data: e.data }));
}

/** The `name` of the package.json at the root of `entries`. */
export function packageName(entries: readonly ArchiveEntry[], label: string): string {
  const pj = entries.find((e) => e.path === "package.json");
  if (!pj) throw Errors.BadUpload(label, "it has no package.json (at its root, or in its one top folder)");
  let name: unknown;
  try {
    name = (JSON.parse(new TextDecoder().decode(pj.data)) as { name?: unknown }).name;
  } catch (e) {
    throw Errors.BadUpload(label, `its package.json is not valid JSON (${(e as Error).message})`);
  }
  if (typeof name !== "string" || !isPackageName(name)) throw Errors.BadUpload(label, `its package.json has no valid "name" (got ${JSON.stringify(name)})`);
  return name;
}

/** An npm package name (lower-case, optionally scoped): what a task imports. */
export function isPackageName(name: string): boolean {
  return /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9_][a-z0-9._~-]*$/i.test(name) && name.length <= 214;
}

/** Reads an archive of the given kind, with the package root made the root. */
export async function readArchive(kind: "zip" | "tgz", bytes: Uint8Array, label: string): Promise<ArchiveEntry[]> {
  return packageRoot(kind === "zip" ? readZip(bytes, label) : await readTgz(bytes, label));
}

/** Writes `entries` under `dir`, checking once more that none lands outside it. */
export async function writeEntries(entries: readonly ArchiveEntry[], dir: string, label: string): Promise<void> {
  const root = resolve(dir);
  for (const e of entries) {
    const target = resolve(root, e.path);
    const rel = relative(root, target);
    if (!rel || rel.startsWith("..") || isAbsolute(rel)) throw Errors.UnsafeArchivePath(label, e.path);
    await mkdir(resolve(target, ".."), { recursive: true });
    await writeFile(target, e.data);
  }
}

/** Zips a package folder (node_modules and .git skipped) deterministically. */
export async function zipFolder(dir: string): Promise<Uint8Array> {
  const files: Zippable = {};
  const walk = async (abs: string, rel: string) => {
    const items = (await readdir(abs, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const it of items) {
      const r = rel ? `${rel}/${it.name}` : it.name;
      if (it.isDirectory()) {
        if (!SKIP_DIRS.has(it.name)) await walk(join(abs, it.name), r);
      } else if (it.isFile()) files[r] = [new Uint8Array(await readFile(join(abs, it.name))), { mtime: FIXED_MTIME }];
    }
  };
  await walk(dir, "");
  return fflate().zipSync(files, { level: 6, mtime: FIXED_MTIME });
}
