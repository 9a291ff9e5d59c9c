#!/usr/bin/env node
// The `ts-dask` command: runs the compiled CLI (dist/, plain JavaScript, no TypeScript loader).
// From a checkout, TSDASK_FROM_SOURCE=1 runs the TypeScript sources through tsx instead (the test
// runner sets it, so tests exercise the sources being edited); so does a checkout never built.
import { existsSync } from "node:fs";

// Compiled, the CLI's bundle (tools/bundle.mjs: one file and a few chunks load faster than ~160
// modules) when the build made it, else dist/cli/main.js.
const compiled = new URL("../dist/cli/main.js", import.meta.url);
const bundled = new URL("../dist/cli/bundle/main.js", import.meta.url);
if (process.env.TSDASK_FROM_SOURCE === "1" || !existsSync(compiled)) {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../cli/main.ts");
} else {
  await import((existsSync(bundled) ? bundled : compiled).href);
}
