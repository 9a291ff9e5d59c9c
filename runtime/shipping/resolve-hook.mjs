// Module resolve hook for executors (see load-module.ts). Plain JavaScript: it runs on Node's
// loader thread, registered with module.register().
//
// 1. Uploads (client.uploadFile): a bare specifier whose package name is a current upload
//    (`my_module`, `my_module/sub`, `@scope/pkg`) resolves inside that upload's content-hashed
//    directory, `<localDir>/uploads/<name>/<sha256>/node_modules/<name>`, with Node's own package
//    resolution (package.json "exports"/"main"). The executor sends the whole map name → directory
//    over the MessagePort given at registration, `{ seq, uploads }`, and waits for `{ ack: seq }`:
//    once it has the ack, every later import sees the new map. A new version is a new directory,
//    so its whole import graph (siblings included) is loaded fresh.
// 2. npm packages: a bundle at <dir>/modules/<hash>/index.mjs (or a shipped function) imports npm
//    packages by bare name, but no node_modules sits above it. When the default resolution of a
//    bare specifier fails with ERR_MODULE_NOT_FOUND, retry as if it were imported from each search
//    directory in turn (the local directory first: `client.install` puts packages there).
import { join } from "node:path";
import { pathToFileURL } from "node:url";

/** Parent URLs to retry from, one per search directory, in order. */
let parents = [];
/** Upload name → parent URL inside its current directory. */
let uploads = new Map();

/** @param {{ searchDirs?: string[], port?: import("node:worker_threads").MessagePort } | undefined} data */
export function initialize(data) {
  parents = (data?.searchDirs ?? []).map((dir) => pathToFileURL(join(dir, "noop.js")).href);
  data?.port?.on("message", (m) => {
    uploads = new Map(Object.entries(m?.uploads ?? {}).map(([name, dir]) => [name, pathToFileURL(join(dir, "noop.js")).href]));
    data.port.postMessage({ ack: m?.seq });
  });
  data?.port?.unref();
}

// Bare: not relative, absolute, a URL, or a package-internal `#import`.
function isBare(specifier) {
  return !/^(?:\.|\/|\\|#|[A-Za-z][A-Za-z0-9+.-]*:)/.test(specifier);
}

function packageOf(specifier) {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

export async function resolve(specifier, context, nextResolve) {
  if (uploads.size && isBare(specifier)) {
    const parentURL = uploads.get(packageOf(specifier));
    if (parentURL) return nextResolve(specifier, { ...context, parentURL });
  }
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
