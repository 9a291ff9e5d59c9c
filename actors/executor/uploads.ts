/**
 * Uploads on an executor (client.uploadFile): fetch an upload's bytes from the scheduler's data
 * store, unpack them into a content-hashed directory under the local directory, and point the
 * resolve hook at the newest version of each name.
 *
 * Layout: `<localDir>/uploads/<name>/<sha256>/node_modules/<name>/…`, so `import("<name>")`
 * resolves with Node's own package resolution from `<localDir>/uploads/<name>/<sha256>`, and the
 * package's npm imports find `<localDir>/node_modules` (client.install) further up. A single file
 * gets a generated package.json (`"exports": "./<file>"`, ES module). Directories are written
 * once (unpacked to a temporary name, then renamed), so executors sharing a local directory never
 * see half an upload, and a version never changes once there.
 */
import { access, mkdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { Errors } from "../../runtime/errors.ts";
import { bytesHash } from "../../runtime/data-transfer.ts";
import type { UploadDef } from "../../runtime/protocol.ts";
import { isPackageName, readArchive, writeEntries, type ArchiveEntry } from "../../runtime/shipping/archive.ts";
import { isSha256Hex } from "../../runtime/shipping/hash.ts";
import { ensureResolveHook, setUploadMap } from "../../runtime/shipping/load-module.ts";
import { ensureTypeScriptLoader, isTypeScriptFile } from "../../runtime/shipping/ts-loader.ts";
import { Transport } from "../../runtime/transport.ts";

export class Uploads {
  /** Name → the def of its current version on this executor. */
  private readonly current = new Map<string, UploadDef>();
  /** Serialises apply(): a registration replay and an upload order may overlap. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly localDirectory: string,
    /** Fetches the bytes stored under a hash (data.get). */
    private readonly fetchBytes: (hash: string) => Promise<Uint8Array>,
  ) {}

  /**
   * Makes `defs` the current versions of their names (unpacking what is not on disk yet).
   * Resolves `replaced: true` when a name pointed at another version before (the process may
   * hold the old one in memory: recycle it).
   */
  apply(defs: readonly UploadDef[]): Promise<{ replaced: boolean }> {
    const run = this.chain.then(() => this.applyNow(defs));
    this.chain = run.catch(() => {});
    return run;
  }

  private async applyNow(defs: readonly UploadDef[]): Promise<{ replaced: boolean }> {
    let replaced = false;
    let changed = false;
    const failures: { name: string; e: unknown }[] = [];
    for (const def of defs) {
      try {
        await this.unpack(def);
      } catch (e) {
        failures.push({ name: def.name, e });
        continue;
      }
      const before = this.current.get(def.name);
      if (before?.hash === def.hash) continue;
      if (before) replaced = true;
      this.current.set(def.name, def);
      changed = true;
    }
    if (changed) {
      // Our resolve hook before tsx's, as when it was installed at start (hooks chain newest first).
      ensureResolveHook();
      // A folder or archive may hold .ts files; a single file only if it is one.
      if ([...this.current.values()].some((d) => d.kind !== "file" || isTypeScriptFile(d.file))) await ensureTypeScriptLoader();
      const map: Record<string, string> = {};
      for (const [name, d] of this.current) map[name] = this.versionDir(d);
      await setUploadMap(map);
    }
    // Every failure because this process is closing its connection (its fetches were cut): that
    // error itself, so the executor knows not to answer (executor.ts onUpload, `closing`).
    if (failures.length && failures.every((f) => Transport.isRequestClosed(f.e))) throw failures[0]!.e;
    if (failures.length) throw new Error(failures.map((f) => (defs.length > 1 ? `${f.name}: ${(f.e as Error).message}` : (f.e as Error).message)).join("; "));
    return { replaced };
  }

  private versionDir(def: UploadDef): string {
    return join(this.localDirectory, "uploads", def.name.replace("/", "__"), def.hash);
  }

  private async unpack(def: UploadDef): Promise<void> {
    if (!isPackageName(def.name)) throw Errors.BadUpload(def.file, `'${def.name}' is not a valid package name`);
    if (!isSha256Hex(def.hash)) throw Errors.BadUpload(def.file, `malformed hash '${String(def.hash).slice(0, 80)}'`);
    const dir = this.versionDir(def);
    if (await exists(dir)) return;
    const bytes = await this.fetchBytes(def.hash);
    if (bytesHash(bytes) !== def.hash) throw Errors.BadUpload(def.file, "its bytes arrived corrupted (hash mismatch); upload it again");
    const entries = await this.entries(def, bytes);
    const tmp = `${dir}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    try {
      await writeEntries(entries, join(tmp, "node_modules", def.name), def.file);
      await mkdir(join(dir, ".."), { recursive: true });
      await rename(tmp, dir);
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      // Another executor sharing the directory got there first: the same bytes, fine.
      if (!(await exists(dir))) throw e;
    }
  }

  private async entries(def: UploadDef, bytes: Uint8Array): Promise<ArchiveEntry[]> {
    if (def.kind !== "file") return readArchive(def.kind, bytes, def.file);
    const file = def.file;
    if (!/^[^/\\]+\.(?:[cm]?[jt]s)$/.test(file)) throw Errors.BadUpload(file, "a single-file upload must be one .ts/.js/.mjs file");
    const pkg = { name: def.name, version: "0.0.0", type: "module", exports: `./${file}` };
    return [
      { path: file, data: bytes },
      { path: "package.json", data: new TextEncoder().encode(JSON.stringify(pkg, null, 2)) },
    ];
  }
}

const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);
