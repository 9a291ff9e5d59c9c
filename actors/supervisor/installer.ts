/**
 * client.install() on one worker: `npm install` into the worker's --local-directory, where the
 * executors' resolve hook finds packages (`<localDir>/node_modules`).
 *
 * Once per directory: several workers on one machine may share a local directory, so an install
 * takes a lock on it (proper-lockfile, `<localDir>/.ts-dask/install.lock`; never two npm runs in
 * one directory at once, also across processes), then reads `<localDir>/.ts-dask/installs.json`;
 * an install recorded there is not run again (`npm: false` in the outcome). The file also counts
 * npm runs (`npmRuns`). Package files sent by the client are fetched from the scheduler's data
 * store into `<localDir>/.ts-dask/packages/` first.
 */
import { mkdir, readFile, writeFile, rename } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { lazyRequire } from "../../runtime/lazy.ts";

const lockfile = lazyRequire<typeof import("proper-lockfile")>("proper-lockfile");
import type { Logger } from "../../runtime/actor.ts";
import { bytesHash } from "../../runtime/data-transfer.ts";
import { Errors } from "../../runtime/errors.ts";
import { spawnNpm } from "../../runtime/platform.ts";
import type { InstallJob, InstallOutcome } from "../../runtime/protocol.ts";
import { isPackageName } from "../../runtime/shipping/archive.ts";

interface State {
  /** Install key → versions installed by it. */
  done: Record<string, Record<string, string>>;
  npmRuns: number;
}

/** Lines of npm's output kept for an error message. */
const TAIL_LINES = 15;

export class Installer {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly o: {
      localDirectory: string;
      fetchBytes: (hash: string) => Promise<Uint8Array>;
      log: Logger;
    },
  ) {}

  /** Runs one install job (queued behind any running one); never rejects. */
  run(job: InstallJob): Promise<InstallOutcome> {
    const p = this.chain.then(() => this.runNow(job)).catch((e: unknown): InstallOutcome => ({ ok: false, error: (e as Error).message ?? String(e) }));
    this.chain = p;
    return p;
  }

  private get meta(): string {
    return join(this.o.localDirectory, ".ts-dask");
  }

  private async runNow(job: InstallJob): Promise<InstallOutcome> {
    const dir = this.o.localDirectory;
    await mkdir(this.meta, { recursive: true });
    const release = await lockfile().lock(dir, {
      lockfilePath: join(this.meta, "install.lock"),
      realpath: false,
      stale: 30_000,
      update: 5_000,
      retries: { retries: 1_000_000, minTimeout: 100, maxTimeout: 1000, factor: 1.5 },
      onCompromised: (e) => this.o.log.warn(`install lock on ${dir} compromised: ${e.message}`),
    });
    try {
      const key = JSON.stringify([job.specs.map((s) => s.tgz?.hash ?? s.spec), job.offline ?? false, job.npmArgs ?? []]);
      const state = await this.readState();
      const had = state.done[key];
      if (had) return outcome(false, had);
      const args: string[] = [];
      for (const s of job.specs) args.push(s.tgz ? await this.packageFile(s.tgz) : s.spec);
      await this.ensurePackageJson();
      const specText = job.specs.map((s) => s.spec).join(" ");
      this.o.log.info(`npm install ${specText} in ${dir}`);
      const failure = await this.npm([...(job.offline ? ["--offline"] : []), ...(job.npmArgs ?? []), ...args], specText);
      state.npmRuns++;
      if (failure) {
        await this.writeState(state);
        return { ok: false, error: failure };
      }
      const versions: Record<string, string> = {};
      for (const s of job.specs) {
        const name = s.tgz?.name ?? specName(s.spec);
        const v = name && (await this.versionOf(name));
        if (name && v) versions[name] = v;
      }
      state.done[key] = versions;
      await this.writeState(state);
      return outcome(true, versions);
    } finally {
      await release().catch(() => {});
    }
  }

  /** Runs npm install in the local directory; resolves with an error text, or undefined on success. */
  private npm(extra: string[], specText: string): Promise<string | undefined> {
    const dir = this.o.localDirectory;
    const args = ["install", "--prefix", dir, "--no-audit", "--no-fund", "--no-progress", "--no-update-notifier", ...extra];
    // An npm started by `npm start`/`npm test` inherits prefixes pointing elsewhere: drop them.
    const env = { ...process.env };
    for (const k of ["npm_config_prefix", "npm_config_local_prefix", "npm_config_global_prefix"]) delete env[k];
    const child = spawnNpm(args, { cwd: dir, env });
    if (!child) return Promise.resolve(Errors.NpmNotFound(hostname()).message);
    return new Promise((resolve) => {
      let out = "";
      child.stdout!.on("data", (d: Buffer) => (out = (out + d).slice(-20_000)));
      child.stderr!.on("data", (d: Buffer) => (out = (out + d).slice(-20_000)));
      child.on("error", (e) => resolve(`could not run npm (${e.message})`));
      child.on("close", (code, signal) => {
        if (code === 0) return resolve(undefined);
        const tail = out.trim().split(/\r?\n/).slice(-TAIL_LINES).join("\n");
        // Name what was installed: npm's own tail may be about something else (e.g. its cache).
        resolve(`npm exited with ${signal ?? `code ${code}`} (npm install ${specText}):\n${tail}`);
      });
    });
  }

  /** A package file from the client, written under .ts-dask/packages (its hash checked). */
  private async packageFile(tgz: { hash: string; file: string }): Promise<string> {
    const bytes = await this.o.fetchBytes(tgz.hash);
    if (bytesHash(bytes) !== tgz.hash) throw Errors.PackageCorrupted(tgz.file);
    const dir = join(this.meta, "packages", tgz.hash.slice(0, 16));
    await mkdir(dir, { recursive: true });
    const path = join(dir, tgz.file.replace(/[^A-Za-z0-9._-]/g, "_"));
    await writeFile(path, bytes);
    return path;
  }

  /** npm walks up to the nearest package.json: give the local directory its own. */
  private async ensurePackageJson() {
    const p = join(this.o.localDirectory, "package.json");
    try {
      await readFile(p);
    } catch {
      await writeFile(p, JSON.stringify({ name: "ts-dask-local-directory", private: true, description: "packages installed by client.install()" }, null, 2));
    }
  }

  private async versionOf(name: string): Promise<string | undefined> {
    try {
      return (JSON.parse(await readFile(join(this.o.localDirectory, "node_modules", name, "package.json"), "utf8")) as { version?: string }).version;
    } catch {
      return undefined;
    }
  }

  private async readState(): Promise<State> {
    try {
      const s = JSON.parse(await readFile(join(this.meta, "installs.json"), "utf8")) as Partial<State>;
      return { done: s.done ?? {}, npmRuns: s.npmRuns ?? 0 };
    } catch {
      return { done: {}, npmRuns: 0 };
    }
  }

  private async writeState(s: State) {
    const file = join(this.meta, "installs.json");
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(s, null, 2));
    await rename(tmp, file);
  }
}

function outcome(npm: boolean, versions: Record<string, string>): InstallOutcome {
  const first = Object.values(versions)[0];
  return { ok: true, npm, versions, ...(first ? { version: first } : {}) };
}

/** The package name of a registry spec (`mathjs@13`, `@scope/pkg@^1`), else undefined (URLs, paths). */
export function specName(spec: string): string | undefined {
  const m = /^(@[^/@\s]+\/[^/@\s]+|[^/@\s:]+)(?:@[^/\s]*)?$/.exec(spec);
  return m && isPackageName(m[1]!) ? m[1] : undefined;
}
