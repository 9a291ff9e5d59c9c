/** Docs that cannot drift from the repository: every notes file a comment or document cites is in it. */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { basename } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";

const root = new URL("../../", import.meta.url);
const files = execFileSync("git", ["ls-files", "*.ts", "*.mjs", "*.md"], { cwd: root, encoding: "utf8" }).split("\n").filter((f) => f && existsSync(new URL(f, root)));

test("every ALL-CAPS .md file cited in the sources and docs exists in the repository", () => {
  const have = new Set(files.map((f) => basename(f)));
  const missing: string[] = [];
  for (const f of files) {
    for (const m of readFileSync(new URL(f, root), "utf8").matchAll(/\b[A-Z][A-Z_-]*\.md\b/g)) if (!have.has(m[0])) missing.push(`${f}: ${m[0]}`);
  }
  assert.equal(missing, []);
});

test.run();
