/**
 * Where ts-dask's own files are and how to start Node on one of them, whether it runs from its
 * TypeScript sources (a checkout, under tsx) or compiled (`dist/`, as installed from a tarball, a
 * git URL or the registry). The layout is the same in both: `dist/` mirrors the source tree.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** True when ts-dask runs from its `.ts` sources (under tsx), false when compiled to `dist/`. */
export const FROM_SOURCE: boolean = import.meta.url.endsWith(".ts");

/** The package root (the directory of ts-dask's package.json). */
export const PACKAGE_ROOT: string = fileURLToPath(new URL(FROM_SOURCE ? "../" : "../../", import.meta.url));

/** Where the running code is: the package root from source, `<root>/dist/` compiled. */
export const CODE_ROOT: string = fileURLToPath(new URL("../", import.meta.url));

/**
 * The export condition under which `ts-dask` (and `ts-dask/worker`) resolve to the `.ts` sources
 * rather than `dist/`: a process running from source passes it to its children, so a task's
 * `import("ts-dask/worker")` gets the very module the executor runs.
 */
export const SOURCE_CONDITION = "ts-dask-source";

/**
 * The path of ts-dask's own module `rel` (written with `.ts`, relative to `from`, an
 * `import.meta.url`): the `.ts` file from source, the compiled `.js` from `dist/`.
 */
export function ownModule(from: string, rel: string): string {
  return fileURLToPath(new URL(FROM_SOURCE ? rel : rel.replace(/\.ts$/, ".js"), from));
}

/**
 * Node flags a child process needs to run ts-dask's own modules: none compiled; from source the
 * tsx loader and {@link SOURCE_CONDITION}.
 */
export function ownCodeExecArgv(): string[] {
  return FROM_SOURCE ? ["--import", import.meta.resolve("tsx"), `--conditions=${SOURCE_CONDITION}`] : [];
}

/**
 * Directories holding ts-dask's own code, source and compiled (stack frames in either count as
 * ts-dask's, not the user's: compiled frames are often printed at their source-mapped `.ts` place).
 */
export function ownDirs(names: readonly string[]): string[] {
  return names.flatMap((d) => [join(PACKAGE_ROOT, d), join(PACKAGE_ROOT, "dist", d)]);
}
