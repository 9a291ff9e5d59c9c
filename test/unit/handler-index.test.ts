/**
 * "Who handles subject X?" stays one search: every route the scheduler's files (actors/scheduler/)
 * or the client's files (client/) subscribe to with `serve(routes.x…)` is named in the handler
 * index at the top of scheduler.ts / client.ts, and every subject an index names is a route that
 * is served. An index that drifts from the code fails here.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { routes } from "../../runtime/routes.ts";

const root = new URL("../../", import.meta.url);
const names = new Map(Object.entries(routes).map(([key, r]) => [key, r.name]));

/** The route keys served (`serve(routes.<key>`) by the tracked .ts files under `dir`. */
function served(dir: string): Set<string> {
  const files = execFileSync("git", ["ls-files", `${dir}/*.ts`], { cwd: root, encoding: "utf8" }).split("\n").filter(Boolean);
  const keys = new Set<string>();
  for (const f of files) for (const m of readFileSync(new URL(f, root), "utf8").matchAll(/serve\(routes\.(\w+)/g)) keys.add(m[1]!);
  return keys;
}

/** The subject names in the "Handler index" block of a file's opening comment. */
function indexed(file: string): Set<string> {
  const head = readFileSync(new URL(file, root), "utf8").split("*/")[0]!;
  const block = head.slice(head.indexOf("Handler index"));
  assert.ok(block.length > 0 && head.includes("Handler index"), `${file} has a handler index`);
  const known = new Set(names.values());
  const out = new Set<string>();
  for (const token of block.match(/[\w.<>]+/g) ?? []) if (known.has(token)) out.add(token);
  return out;
}

for (const [dir, file] of [
  ["actors/scheduler", "actors/scheduler/scheduler.ts"],
  ["client", "client/client.ts"],
] as const) {
  test(`${file}: its handler index names exactly the routes ${dir}/ serves`, () => {
    const keys = served(dir);
    assert.ok(keys.size > 0);
    const want = [...keys].map((k) => names.get(k) ?? `unknown route key ${k}`).sort();
    assert.equal([...indexed(file)].sort(), want);
  });
}

test.run();
