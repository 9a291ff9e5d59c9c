/**
 * Dependencies loaded on first use instead of at start-up: every process (client, scheduler,
 * worker, each executor) imports ts-dask's modules at start, and packages only some paths need
 * (tar/fflate for archives, esbuild for bundles, cli-progress for bars, pidusage, proper-lockfile)
 * cost 20–45 ms each to load (bench/startup); prom-client, for the scheduler's /metrics, 100–300 ms.
 */
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/** A getter that `require`s CommonJS package `name` on its first call (then cached by Node). */
export function lazyRequire<T>(name: string): () => T {
  let mod: T | undefined;
  return () => (mod ??= require(name) as T);
}
