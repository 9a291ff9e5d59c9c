/**
 * A private npm cache for installing the packed tarball offline (issue 13 item 3): CI must not
 * need the registry for the install tests.
 *
 * The packages are the ones this checkout's package-lock.json names (ts-dask's dependencies, and
 * typescript and @types/node for the consumer's type check), byte for byte as the registry served
 * them: their tarballs are read, by integrity, from the npm cache that the repository's own
 * `npm ci` filled. A registry on loopback serves them (metadata built from the lockfile) just
 * long enough for `npm cache add` to prime a private cache; then it stops, and every install of
 * the test runs with `--offline` against that cache, as a user's `npm install` would, resolving
 * the version ranges of ts-dask's package.json.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";

interface LockEntry {
  name?: string;
  version?: string;
  integrity?: string;
  dev?: boolean;
  optional?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, unknown>;
  bin?: Record<string, string>;
  engines?: Record<string, string>;
  os?: string[];
  cpu?: string[];
  license?: string;
}

export interface OfflineCache {
  /** The private cache directory (`npm --cache`). */
  dir: string;
  /** The registry URL the cache was primed under (nothing listens there any more). */
  registry: string;
  /** Flags for every offline install: `--offline --cache … --registry …`. */
  flags: string[];
}

/** Where npm keeps a tarball of this integrity in the cache at `cacheRoot` (cacache's layout). */
function contentPath(cacheRoot: string, integrity: string): string {
  const [algo, b64] = integrity.split(" ")[0]!.split("-", 2) as [string, string];
  const hex = Buffer.from(b64, "base64").toString("hex");
  return path.join(cacheRoot, "_cacache", "content-v2", algo, hex.slice(0, 2), hex.slice(2, 4), hex.slice(4));
}

/**
 * Primes a private cache in `dir` with every non-dev package of the lockfile at `root` and the
 * packages named in `extra` (as in the lockfile, e.g. `typescript`) with their dependencies, and
 * returns the flags for offline installs.
 */
export async function primeOfflineCache(root: string, dir: string, extra: string[]): Promise<OfflineCache> {
  const lock = JSON.parse(readFileSync(path.join(root, "package-lock.json"), "utf8")) as { packages: Record<string, LockEntry> };
  const npmCache = spawnSync("npm", ["config", "get", "cache"], { encoding: "utf8" }).stdout.trim();
  // name → version → entry (a name can appear in several versions, nested).
  const byName = new Map<string, Map<string, LockEntry>>();
  for (const [where, e] of Object.entries(lock.packages)) {
    if (!where || !e.version || !e.integrity) continue;
    const name = e.name ?? where.slice(where.lastIndexOf("node_modules/") + "node_modules/".length);
    if (!byName.has(name)) byName.set(name, new Map());
    byName.get(name)!.set(e.version, e);
  }
  const nameAt = (where: string) => lock.packages[where]!.name ?? where.slice(where.lastIndexOf("node_modules/") + "node_modules/".length);
  // Lockfile paths to take: every non-dev package, and each extra one with its dependencies
  // (found as Node would: in the dependent's node_modules, then in each one above it).
  // Optional ones (esbuild's binary per platform) only when npm fetched them for this machine.
  const paths = Object.keys(lock.packages).filter((w) => {
    const e = lock.packages[w]!;
    return w && !e.dev && e.integrity && (!e.optional || existsSync(contentPath(npmCache, e.integrity)));
  });
  const stack = extra.map((name) => `node_modules/${name}`);
  while (stack.length) {
    const w = stack.pop()!;
    if (!lock.packages[w] || paths.includes(w)) continue;
    paths.push(w);
    for (const dep of Object.keys(lock.packages[w]!.dependencies ?? {})) {
      for (let dir = w; ; dir = dir.slice(0, Math.max(0, dir.lastIndexOf("/node_modules/")))) {
        const at = dir ? `${dir}/node_modules/${dep}` : `node_modules/${dep}`;
        if (lock.packages[at]) {
          stack.push(at);
          break;
        }
        if (!dir) break;
      }
    }
  }
  const wanted = new Set(paths.map((w) => `${nameAt(w)}@${lock.packages[w]!.version}`));
  const missing = [...wanted].filter((spec) => {
    const at = spec.lastIndexOf("@");
    const e = byName.get(spec.slice(0, at))?.get(spec.slice(at + 1));
    return !e || !existsSync(contentPath(npmCache, e.integrity!));
  });
  if (missing.length) throw new Error(`not in npm's cache (${npmCache}; run \`npm ci\` first): ${missing.join(", ")}`);

  const server = createServer((req, res) => {
    const url = decodeURIComponent(req.url ?? "/").slice(1);
    // <name>/-/<base name>-<version>.tgz
    const tgz = /^(.+)\/-\/([^/]+)\.tgz$/.exec(url);
    if (tgz) {
      const base = tgz[1]!.slice(tgz[1]!.lastIndexOf("/") + 1);
      const e = byName.get(tgz[1]!)?.get(tgz[2]!.slice(base.length + 1));
      const file = e && contentPath(npmCache, e.integrity!);
      if (!file || !existsSync(file)) return void res.writeHead(404).end();
      return void res.writeHead(200, { "content-type": "application/octet-stream" }).end(readFileSync(file));
    }
    const versions = byName.get(url);
    if (!versions) return void res.writeHead(404, { "content-type": "application/json" }).end('{"error":"not found"}');
    const base = `http://${req.headers.host}/${url}/-/${url.slice(url.lastIndexOf("/") + 1)}`;
    const doc = {
      name: url,
      "dist-tags": { latest: [...versions.keys()].at(-1) },
      versions: Object.fromEntries(
        [...versions].map(([v, e]) => {
          const { dependencies, optionalDependencies, peerDependencies, peerDependenciesMeta, bin, engines, os, cpu, license } = e;
          return [v, { name: url, version: v, dependencies, optionalDependencies, peerDependencies, peerDependenciesMeta, bin, engines, os, cpu, license, dist: { tarball: `${base}-${v}.tgz`, integrity: e.integrity } }];
        }),
      ),
    };
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(doc));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const registry = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  try {
    const child = spawn("npm", ["cache", "add", ...wanted, "--cache", dir, "--registry", registry, "--loglevel=error"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d));
    child.stderr!.on("data", (d: Buffer) => (out += d));
    const code = await new Promise<number | null>((r) => child.on("close", r));
    if (code !== 0) throw new Error(`npm cache add exited with ${code}:\n${out}`);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
  return { dir, registry, flags: ["--offline", "--cache", dir, "--registry", registry] };
}
