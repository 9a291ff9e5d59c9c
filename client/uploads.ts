/**
 * Client side of client.uploadFile() and client.install(): read and check what is sent, store its
 * bytes in the scheduler's data store (chunked, `data.put`), then ask the scheduler to hand it to
 * every executor (`sched.upload`) or worker (`sched.install`) and report per executor / worker.
 */
import { readFile, stat } from "node:fs/promises";
import { basename, extname } from "node:path";
import { bytesHash, putBytes } from "../runtime/data-transfer.ts";
import { Errors, type TsDaskError } from "../runtime/errors.ts";
import type { InstallOutcome, InstallReply, InstallSpec, Subjects, UploadDef, UploadOutcome, UploadReply } from "../runtime/protocol.ts";
import { isPackageName, packageName, readArchive, zipFolder } from "../runtime/shipping/archive.ts";
import type { Transport } from "../runtime/transport.ts";

/** What {@link Client.uploadFile} resolves with. */
export interface UploadReport {
  /** The name tasks import it by: the file's base name, or the package.json name. */
  name: string;
  /** SHA-256 of the bytes sent: the version's directory name on the workers. */
  hash: string;
  /** Per executor name: `{ ok: true }`, or `{ ok: false, error }`. */
  executors: Record<string, UploadOutcome>;
}

/** Per worker name: `{ ok, npm, version?, versions, left? }` (npm: this worker ran it; left: it stopped before answering and installs when it rejoins), or `{ ok: false, error }`. */
export type InstallReport = Record<string, InstallOutcome>;

/** Options of {@link Client.install}. */
export interface InstallOptions {
  /** npm `--offline`: no network, only npm's cache and package files (default false). */
  offline?: boolean;
  /** More npm arguments, e.g. `["--registry", "http://…"]`. */
  npmArgs?: string[];
  /** How long to wait for every worker (default 15 min). */
  timeoutMs?: number;
}

interface Ctx {
  /** The client's token: the scheduler acts only on requests that carry it. */
  auth: string;
  tx: Transport;
  subjects: Subjects;
  client: string;
}

const MODULE_FILE = /\.(?:ts|mts|js|mjs)$/;

/** Reads `path` (absolute) into an upload: a module file, a package folder, a .zip or a .tgz. */
async function prepare(path: string): Promise<{ def: Omit<UploadDef, "hash" | "size">; bytes: Uint8Array }> {
  let st;
  try {
    st = await stat(path);
  } catch {
    throw Errors.BadUpload(path, "it does not exist");
  }
  const file = basename(path);
  if (st.isDirectory()) {
    const bytes = await zipFolder(path);
    const entries = await readArchive("zip", bytes, path);
    return { def: { name: packageName(entries, path), kind: "zip", file: `${file}.zip` }, bytes };
  }
  const bytes = new Uint8Array(await readFile(path));
  if (/\.zip$/i.test(file) || /\.(?:tgz|tar\.gz)$/i.test(file)) {
    const kind = /\.zip$/i.test(file) ? "zip" : "tgz";
    return { def: { name: packageName(await readArchive(kind, bytes, file), file), kind, file }, bytes };
  }
  if (MODULE_FILE.test(file)) {
    const name = file.slice(0, -extname(file).length);
    if (!isPackageName(name)) throw Errors.BadUpload(path, `its name '${name}' cannot be imported by bare name (use letters, digits, '-', '_', '.')`);
    return { def: { name, kind: "file", file }, bytes };
  }
  throw Errors.BadUpload(path, "unsupported kind of file");
}

/** client.uploadFile(): resolves when every current executor has it; rejects with UploadFailed naming those that failed. */
export async function uploadFile(ctx: Ctx, path: string, timeoutMs: number): Promise<UploadReport> {
  const { def, bytes } = await prepare(path);
  const hash = bytesHash(bytes);
  await putBytes(ctx.tx, ctx.subjects, ctx.client, bytes, hash, { fail: (m) => Errors.BadUpload(path, m), auth: ctx.auth });
  const r = await ctx.tx.request<UploadReply>(ctx.subjects.upload, { client: ctx.client, auth: ctx.auth, upload: { ...def, hash, size: bytes.byteLength } }, timeoutMs).finally(() => letGo(ctx, [hash]));
  if (!r.ok) throw Errors.BadUpload(path, r.message);
  const failures = failed(r.executors);
  if (Object.keys(failures).length) throw withReport(Errors.UploadFailed(def.name, failures, Object.keys(r.executors).length), r.executors);
  return { name: def.name, hash, executors: r.executors };
}

/**
 * client.install(): a spec that names an existing package file here (`./pkg-1.0.0.tgz`) travels to
 * the workers through the data store; any other spec goes to npm on each worker as it is.
 */
export async function install(ctx: Ctx, specs: readonly string[], opts: InstallOptions, resolvePath: (p: string) => string): Promise<InstallReport> {
  if (!specs.length) throw Errors.BadOption("install(specs)", specs, "at least one package spec");
  const out: InstallSpec[] = [];
  for (const spec of specs) out.push(await shipIfFile(ctx, spec, resolvePath));
  const req = { client: ctx.client, auth: ctx.auth, specs: out, ...(opts.offline ? { offline: true } : {}), ...(opts.npmArgs?.length ? { npmArgs: opts.npmArgs } : {}) };
  const shipped = out.flatMap((s) => (s.tgz ? [s.tgz.hash] : []));
  const r = await ctx.tx.request<InstallReply>(ctx.subjects.install, req, opts.timeoutMs ?? 15 * 60_000).finally(() => letGo(ctx, shipped));
  if (!r.ok) throw Errors.InstallFailed(specs, { scheduler: r.message }, 0);
  const failures = failed(r.workers);
  if (Object.keys(failures).length) throw withReport(Errors.InstallFailed(specs, failures, Object.keys(r.workers).length), r.workers);
  return r.workers;
}

async function shipIfFile(ctx: Ctx, spec: string, resolvePath: (p: string) => string): Promise<InstallSpec> {
  if (!/\.(?:tgz|tar\.gz)$/i.test(spec)) return { spec };
  const path = resolvePath(spec.replace(/^file:/, ""));
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch {
    return { spec }; // not here: maybe on the workers (a shared folder); npm says if not
  }
  const name = packageName(await readArchive("tgz", bytes, basename(path)), basename(path));
  const hash = bytesHash(bytes);
  await putBytes(ctx.tx, ctx.subjects, ctx.client, bytes, hash, { fail: (m) => Errors.InstallFailed([spec], { client: m }, 0), auth: ctx.auth });
  return { spec, tgz: { hash, size: bytes.byteLength, file: basename(path), name } };
}

/**
 * The client's own hold on bytes it stored for an upload or install: the scheduler's registry holds
 * them from its answer on (as long as they are current), so a re-upload does not pile up versions.
 */
function letGo(ctx: Ctx, hashes: string[]): void {
  if (hashes.length) ctx.tx.send(ctx.subjects.dataRelease, { client: ctx.client, hashes, auth: ctx.auth });
}

function failed(outcomes: Record<string, { ok: boolean; error?: string }>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [who, o] of Object.entries(outcomes)) if (!o.ok) out[who] = o.error ?? "failed";
  return out;
}

/** The error, with the whole per-executor / per-worker report as `report`. */
function withReport(e: TsDaskError, report: Record<string, unknown>): TsDaskError & { report: Record<string, unknown> } {
  return Object.assign(e, { report });
}
