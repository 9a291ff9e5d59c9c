// `npm run bench [names…]`: runs each bench/<name>.ts in its own process; each prints JSON.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL(".", import.meta.url));
const wanted = process.argv.slice(2);
const all = readdirSync(dir).filter((f) => f.endsWith(".ts") && f !== "lib.ts").map((f) => f.slice(0, -3)).sort();
let failed = 0;
for (const name of wanted.length ? wanted : all) {
  console.error(`--- bench/${name}`);
  const r = spawnSync(process.execPath, ["--import", "tsx", `${dir}${name}.ts`], { stdio: "inherit" });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
