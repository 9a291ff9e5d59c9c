/**
 * runtime/startup-trace.ts: silent unless $TSDASK_STARTUP_TRACE is set; then one stderr line per
 * mark, the first preceded by the process's node-start, in the format bench/startup parses.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";

const MODULE = fileURLToPath(new URL("../../runtime/startup-trace.ts", import.meta.url));

/** stderr of a process that marks two phases, with `env` added. */
function marks(env: Record<string, string>): { stderr: string; pid: number; before: number; after: number } {
  const code = `const { startupMark } = await import(${JSON.stringify(MODULE)});
const before = Date.now(); startupMark("tester", "one"); startupMark("tester", "two"); const after = Date.now();
console.log(JSON.stringify({ pid: process.pid, before, after }));`;
  const { TSDASK_STARTUP_TRACE: _, ...rest } = process.env;
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], { env: { ...rest, ...env }, encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  return { stderr: r.stderr, ...(JSON.parse(r.stdout) as { pid: number; before: number; after: number }) };
}

test("no trace variable: no output", () => {
  assert.is(marks({}).stderr, "");
});

test("with $TSDASK_STARTUP_TRACE: node-start, then each mark, as epoch milliseconds in order", () => {
  const { stderr, pid, before, after } = marks({ TSDASK_STARTUP_TRACE: "1" });
  const lines = stderr.trim().split("\n").map((l) => l.split(" "));
  assert.equal(lines.map((l) => l.slice(0, 4)), [
    ["ts-dask-startup", "tester", String(pid), "node-start"],
    ["ts-dask-startup", "tester", String(pid), "one"],
    ["ts-dask-startup", "tester", String(pid), "two"],
  ]);
  const at = lines.map((l) => Number(l[4]));
  assert.ok(at[0]! < before, "Node started before the marks");
  assert.ok(at[1]! >= before - 1 && at[2]! <= after + 1 && at[1]! <= at[2]!, `marks within [${before}, ${after}]: ${at}`);
});

test.run();
