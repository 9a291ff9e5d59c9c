// One-file bundles of the processes ts-dask starts itself (part of `npm run build`, tools/build.mjs).
//
// A process booting on the compiled dist/ files loads ~75–160 of our modules plus nats.js (66
// CommonJS files), msgpack, xstate, tweetnacl and nkeys, file by file: measured on 2 busy cores,
// an executor's imports cost ~0.3 CPU-s and 250–350 ms (an empty Node: ~0.15 CPU-s), `ts-dask up`'s
// ~0.4. esbuild bundles each graph from the compiled dist/ files (so it runs exactly what tsc
// emitted; esbuild follows their source maps, so a bundle's map points at the .ts sources):
//
//   dist/actors/executor/main.bundle.js   the executor (actors/supervisor/standby.ts starts it)
//   dist/cli/bundle/main.js (+ chunks)     the `ts-dask` command (bin/ts-dask.mjs runs it); each
//                                          command's modules, and what a start loads while its
//                                          processes boot, stay separate chunks loaded on demand
//   dist/bundle/index.js (+ chunks)        the package entry: dist/index.js re-exports it, so a
//                                          user's `import "ts-dask"` (and the embedded cluster in
//                                          that process) loads it: ~0.16 CPU-s instead of ~0.3–0.4
//
// Only compiled runs use them; from source everything runs under tsx as before. Not bundled:
//  - Shared identity modules (SHARED below): user code in the same process (a task, a function run
//    on the scheduler) that imports "ts-dask" loads the entry's bundle, a separate module graph. Classes
//    whose `instanceof` must agree across the two (TsDaskError and its family, DataRef) and the
//    worker context stay separate files that both graphs import.
//  - The executor's dynamic `import()`s: loaded on first use as before (the worker's client is
//    the package entry's, the very module a task's `import("ts-dask")` gets: `instanceof Future`).
//  - Packages imported dynamically (tsx, esbuild: TypeScript uploads) or through lazyRequire.
//  - `import.meta.url` in a bundled module is rewritten to that module's own dist/ URL, so the
//    files it locates beside itself (package.json, the resolve hook, the tether keeper) are found.
import { readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";

/** dist/-relative modules that stay separate files (see above). */
const SHARED = ["runtime/errors.js", "runtime/data-ref.js", "runtime/worker-context.js"];

/** `./x` style path of `file` relative to `dir`. */
function relativeSpec(dir, file) {
  const rel = path.relative(dir, file).split(path.sep).join("/");
  return rel.startsWith(".") ? rel : `./${rel}`;
}

/**
 * Builds both bundles.
 * @param {string} dist absolute path of dist/
 */
export async function bundleAll(dist) {
  const executor = await bundle(dist, {
    entry: path.join(dist, "actors", "executor", "main.js"),
    outfile: path.join(dist, "actors", "executor", "main.bundle.js"),
    dynamicImports: "external",
  });
  const cli = await bundle(dist, { entry: path.join(dist, "cli", "main.js"), outdir: path.join(dist, "cli", "bundle"), dynamicImports: "chunks" });
  // The package's entry (what `import "ts-dask"` loads): dist/index.js becomes a re-export of it.
  const index = await bundle(dist, { entry: path.join(dist, "index.js"), outdir: path.join(dist, "bundle"), dynamicImports: "chunks" });
  await writeFile(path.join(dist, "index.js"), '// The bundle of the package entry (tools/bundle.mjs); dist/index.d.ts has its types.\nexport * from "./bundle/index.js";\n');
  await rm(path.join(dist, "index.js.map"), { force: true }); // tsc's map of the file just replaced
  return { executor, cli, index };
}

/**
 * Bundles `entry` (a dist/ module) into `outfile` (one file) or `outdir` (split: dynamic imports
 * of our modules become chunks there, loaded when first imported).
 * @param {string} dist
 * @param {{ entry: string, outfile?: string, outdir?: string, dynamicImports: "external" | "chunks" }} o
 * @returns {Promise<{ modules: number, kib: number }>}
 */
async function bundle(dist, o) {
  const { build } = await import("esbuild");
  const outDir = o.outdir ?? path.dirname(o.outfile);
  const ours = dist + path.sep;
  const shared = new Set(SHARED.map((f) => path.join(dist, f)));
  const plugin = {
    name: "ts-dask-bundle",
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        if (!args.importer.startsWith(ours)) return undefined;
        const relative = args.path.startsWith(".");
        if (args.kind === "dynamic-import" && (!relative || o.dynamicImports === "external")) {
          return { path: relative ? relativeSpec(outDir, path.resolve(path.dirname(args.importer), args.path)) : args.path, external: true };
        }
        if (relative && (args.kind === "import-statement" || args.kind === "dynamic-import")) {
          const abs = path.resolve(path.dirname(args.importer), args.path);
          if (shared.has(abs)) return { path: relativeSpec(outDir, abs), external: true };
        }
        return undefined;
      });
      b.onLoad({ filter: /\.js$/ }, async (args) => {
        if (!args.path.startsWith(ours)) return undefined;
        const src = await readFile(args.path, "utf8");
        if (!src.includes("import.meta.url")) return undefined;
        // Every output file of a bundle is in outDir: relative to it, the module's own URL.
        const own = `new URL(${JSON.stringify(relativeSpec(outDir, args.path))}, import.meta.url).href`;
        return { contents: src.replaceAll("import.meta.url", own), loader: "js", resolveDir: path.dirname(args.path) };
      });
    },
  };
  const r = await build({
    entryPoints: [o.entry],
    ...(o.outdir ? { outdir: o.outdir, splitting: true, chunkNames: "[name]-[hash]" } : { outfile: o.outfile }),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    sourcemap: true,
    sourcesContent: false, // the .ts sources ship beside dist/
    metafile: true,
    logLevel: "warning",
    plugins: [plugin],
    // nats.js is CommonJS: its require() of Node's modules needs a real `require` in an ES module.
    banner: { js: 'import { createRequire as __tsdaskCreateRequire } from "node:module";\nconst require = __tsdaskCreateRequire(import.meta.url);' },
  });
  const outs = Object.entries(r.metafile.outputs).filter(([k]) => k.endsWith(".js"));
  const modules = new Set(outs.flatMap(([, v]) => Object.keys(v.inputs)));
  return { modules: modules.size, kib: Math.round(outs.reduce((a, [, v]) => a + v.bytes, 0) / 1024) };
}
