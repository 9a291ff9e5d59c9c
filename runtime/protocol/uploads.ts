/** Uploaded code and installed packages; part of runtime/protocol.ts, which re-exports it. */
import type { Bound, Refusal } from "./subjects.ts";

// ---------------------------------------------------------------------------------------------
// Uploaded code and installed packages (client.uploadFile / client.install)

/**
 * One uploaded module or package. Its bytes sit in the scheduler's data store under `hash`
 * (SHA-256 of the bytes), so they survive every worker. `kind`: a single `.ts/.js/.mjs` file
 * (`file` is its name), or a zip / gzipped tar of a folder with a package.json (a folder upload
 * travels as a zip). Importable on executors by bare `name`.
 */
export interface UploadDef {
  name: string;
  hash: string;
  size: number;
  kind: "file" | "zip" | "tgz";
  file: string;
}

/** The bytes were put with `data.put` first; the scheduler keeps them and the newest def per name. */
export interface UploadRequest {
  client: string;
  /** The client's token ({@link RegisterClient.auth}). */
  auth?: string;
  upload: UploadDef;
}
/** `left`: the executor exited before answering (why); whatever replaces it gets the upload when it registers. */
export type UploadOutcome = { ok: true; left?: string } | { ok: false; error: string };
/** Per executor name. */
export type UploadReply = { ok: true; executors: Record<string, UploadOutcome> } | Refusal;

/** Unpack these (if not yet) and make them the current versions of their names. */
export interface ExecUpload extends Bound {
  uploads: UploadDef[];
}
/** `replaced`: a name now points at a different version than before (the executor should be recycled). */
export type ExecUploadReply = { ok: true; replaced: boolean } | { ok: false; error: string };

/** One npm install argument; a package file from the client travels through the data store (`tgz`). */
export interface InstallSpec {
  spec: string;
  tgz?: { hash: string; size: number; file: string; name: string };
}

/** One client.install() call, as replayed to every worker. */
export interface InstallJob extends Bound {
  specs: InstallSpec[];
  /** npm `--offline` (no network: only the cache and local files). */
  offline?: boolean;
  /** Extra npm arguments. */
  npmArgs?: string[];
}
export interface InstallRequest extends InstallJob {
  client: string;
}
/** `npm`: this worker ran npm (false: its local directory had it already, e.g. shared with another worker). */
/** `left`: the worker left before answering (it was stopping); it installs when it joins again. */
export type InstallOutcome = { ok: true; npm: boolean; version?: string; versions: Record<string, string>; left?: string } | { ok: false; error: string };
/** Per worker name. */
export type InstallReply = { ok: true; workers: Record<string, InstallOutcome> } | Refusal;
