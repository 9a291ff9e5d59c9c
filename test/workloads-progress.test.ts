/** The progress bar appears on a terminal only (a pseudo-terminal from util-linux `script`), and verbose lines are joblib's. */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { childExit, withTimeout } from "./helpers/cluster.ts";

const SCRIPT = fileURLToPath(new URL("./fixtures/workloads/progress-run.ts", import.meta.url));

async function run(cmd: string, args: string[]): Promise<string> {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, FORCE_COLOR: "0" } });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d));
  child.stderr!.on("data", (d: Buffer) => (out += d));
  const { code } = await withTimeout(childExit(child), 60_000, cmd);
  assert.is(code, 0, out);
  return out;
}

test("not a terminal: verbose lines, no bar", async () => {
  const out = await run(process.execPath, ["--import", "tsx", SCRIPT]);
  assert.match(out, "Using backend local with 1 concurrent workers.");
  assert.match(out, /Done \d+ out of 200 \| elapsed: \d+\.\ds remaining: \d+\.\ds/);
  assert.match(out, /Done 200 out of 200 \| elapsed: \d+\.\ds finished/);
  assert.not.match(out, /\u2588|\u2591/);
  assert.match(out, "END 200");
});

test("a terminal: a progress bar with elapsed and remaining time", async () => {
  // `script -qec CMD /dev/null` runs CMD on a pseudo-terminal (util-linux; the CI machines are Linux)
  const out = await run("script", ["-qec", `${process.execPath} --import tsx ${SCRIPT}`, "/dev/null"]);
  assert.match(out, /[\u2588\u2591]+ 100% \| 200\/200 \| elapsed: \d+s \| remaining: 0\.0s/);
  assert.match(out, "Using backend local with 1 concurrent workers.");
  assert.not.match(out, /Done \d+ out of 200 \| elapsed: \d+\.\ds remaining/, "the bar replaces the Done lines");
  assert.match(out, "END 200");
});

test.run();
