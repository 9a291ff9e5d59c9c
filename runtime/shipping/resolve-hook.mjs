// Module resolve hook for bundles loaded from an executor's local directory (see load-module.ts).
// Plain JavaScript: it runs on Node's loader thread, registered with module.register().
//
// A bundle at <dir>/modules/<hash>/index.mjs imports npm packages by bare name, but no
// node_modules sits above it. When the default resolution of a bare specifier fails with
// ERR_MODULE_NOT_FOUND, retry as if it were imported from each search directory in turn.
import { join } from "node:path";
import { pathToFileURL } from "node:url";

/** Parent URLs to retry from, one per search directory, in order. */
let parents = [];

/** @param {{ searchDirs?: string[] } | undefined} data */
export function initialize(data) {
  parents = (data?.searchDirs ?? []).map((dir) => pathToFileURL(join(dir, "noop.js")).href);
}

// Bare: not relative, absolute, a URL, or a package-internal `#import`.
function isBare(specifier) {
  return !/^(?:\.|\/|\\|#|[A-Za-z][A-Za-z0-9+.-]*:)/.test(specifier);
}

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (err) {
    if (err?.code !== "ERR_MODULE_NOT_FOUND" || !isBare(specifier)) throw err;
    for (const parentURL of parents) {
      if (parentURL === context.parentURL) continue;
      try {
        return await nextResolve(specifier, { ...context, parentURL });
      } catch (retryErr) {
        if (retryErr?.code !== "ERR_MODULE_NOT_FOUND") throw retryErr;
      }
    }
    throw err;
  }
}
