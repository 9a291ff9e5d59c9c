/** The public types promise what travels: test/fixtures/types/ compiles, each @ts-expect-error included (tsc fails on an unused one). */
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { childExit, withTimeout } from "./helpers/cluster.ts";

const TSC = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const PROJECT = fileURLToPath(new URL("./fixtures/types/tsconfig.json", import.meta.url));

test("submit/map types: results as they arrive, arguments as the function takes them", async () => {
  const child = spawn(process.execPath, [TSC, "--noEmit", "-p", PROJECT], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d));
  child.stderr!.on("data", (d: Buffer) => (out += d));
  const { code } = await withTimeout(childExit(child), 150_000, "tsc");
  assert.is(code, 0, out);
});

test.run();
