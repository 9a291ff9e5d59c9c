/**
 * Machines describe what runs (issue 16): every event a lifecycle machine (`*.machine.ts`) declares
 * in its event union is sent by production code somewhere outside the machine files, so no region
 * of a machine lives only in its test.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";

const root = new URL("../../", import.meta.url);
const files = execFileSync("git", ["ls-files", "runtime/*.ts", "actors/*.ts", "client/*.ts", "cluster/*.ts", "cli/*.ts", "workloads/*.ts"], { cwd: root, encoding: "utf8" })
  .split("\n")
  .filter(Boolean);
const read = (f: string) => readFileSync(new URL(f, root), "utf8");
const machines = files.filter((f) => f.endsWith(".machine.ts"));
// Machine tests sit beside their machines and send every event: not production.
const production = files.filter((f) => !f.endsWith(".machine.ts") && !f.endsWith(".test.ts")).map(read).join("\n");

/** The `type`s of a machine's event union: its `export type …Event =` line and the `| { … }` lines after it. */
function eventsOf(text: string): string[] {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => /^export type \w*Event\b.*=/.test(l));
  if (start < 0) return [];
  let end = start + 1;
  while (end < lines.length && /^\s*\|/.test(lines[end]!)) end++;
  return [...lines.slice(start, end).join("\n").matchAll(/type: "([A-Z_]+)"/g)].map((m) => m[1]!);
}

test("every event of every machine's event union is sent by production code", () => {
  assert.ok(machines.length >= 5, "machine files found");
  const unsent: string[] = [];
  for (const f of machines) {
    const events = eventsOf(read(f));
    assert.ok(events.length > 0, `${f} declares its events`);
    for (const e of new Set(events)) if (!production.includes(`"${e}"`)) unsent.push(`${f}: ${e}`);
  }
  assert.equal(unsent, []);
});

test.run();
