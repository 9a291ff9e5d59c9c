/**
 * The layering, checked on the import statements of the sources (type-only imports too): runtime/
 * imports nothing above it, client/ imports runtime/ only (the local cluster, the composition root,
 * provides itself through runtime/local-cluster.ts), the supervisor and the executor share
 * runtime/ipc.ts rather than importing each other, and no two modules import each other in a circle.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";

const root = new URL("../../", import.meta.url);
const DIRS = ["runtime", "actors", "client", "cli", "workloads", "cluster"];
const files = execFileSync("git", ["ls-files", ...DIRS.map((d) => `${d}/*.ts`), "index.ts"], { cwd: root, encoding: "utf8" }).split("\n").filter(Boolean);
const present = new Set(files);

/** Relative .ts imports of each file (static `import … from`, `export … from`, bare `import "…"`). */
const graph = new Map<string, string[]>();
for (const f of files) {
  let text: string;
  try {
    text = readFileSync(new URL(f, root), "utf8");
  } catch {
    continue; // listed by git but deleted in the work tree
  }
  const deps: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s[^;]*?from\s+"(\.[^"]+\.ts)"|^import\s+"(\.[^"]+\.ts)"/gm)) {
    const target = normalize(join(dirname(f), m[1] ?? m[2]!));
    if (present.has(target)) deps.push(target);
  }
  graph.set(f, deps);
}
const top = (f: string) => f.split("/")[0]!;

test("runtime/ imports nothing above it; client/ imports runtime/ only", () => {
  const bad: string[] = [];
  for (const [f, deps] of graph) {
    for (const d of deps) {
      if (top(f) === "runtime" && top(d) !== "runtime") bad.push(`${f} → ${d}`);
      if (top(f) === "client" && !["runtime", "client"].includes(top(d))) bad.push(`${f} → ${d}`);
      if (f.startsWith("actors/supervisor/") && d.startsWith("actors/executor/")) bad.push(`${f} → ${d}`);
    }
  }
  assert.equal(bad, []);
});

test("no import circles", () => {
  const cycles: string[] = [];
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, 1);
    stack.push(f);
    for (const d of graph.get(f) ?? []) {
      if (state.get(d) === 1) cycles.push([...stack.slice(stack.indexOf(d)), d].join(" → "));
      else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(f, 2);
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f);
  assert.equal(cycles, []);
});

test.run();
