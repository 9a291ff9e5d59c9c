/** Versions every actor announces in its {@link Hello}. */
import { createRequire } from "node:module";
import { join } from "node:path";
import { PACKAGE_ROOT } from "./self.ts";
import { PROTOCOL_VERSION, type Hello } from "./protocol.ts";
import { Errors } from "./errors.ts";

const pkg = createRequire(join(PACKAGE_ROOT, "package.json"))("./package.json") as { version: string };

/** The ts-dask package version (package.json). */
export const TSDASK_VERSION: string = pkg.version;

/** This process's versions. */
export function hello(): Hello {
  return { proto: PROTOCOL_VERSION, version: TSDASK_VERSION, node: process.versions.node };
}

/**
 * The warning for a peer of another ts-dask version speaking the same protocol (it is accepted,
 * as Dask does; a protocol mismatch is refused), or undefined when the versions are the same.
 */
export function versionWarning(who: string, theirs: Hello, scheduler: Hello): string | undefined {
  return theirs.version === scheduler.version ? undefined : Errors.VersionMismatch(who, theirs.version, scheduler.version).message;
}

/** Node's major version from a `process.versions.node` string. */
export const nodeMajor = (v: string) => Number(v.split(".")[0]);
