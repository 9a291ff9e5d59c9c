/** Every example under examples/ runs as a user would run it, and prints what it promises. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { runExample } from "./helpers/cluster.ts";

const run = (file: string, env: Record<string, string> = {}) => runExample(file, { env });

test("examples/quickstart.ts", async () => {
  const out = await run("examples/quickstart.ts", { N: "20000" });
  assert.match(out, /executor\(s\)/);
  assert.match(out, "map(zoo) over 20,000 numbers");
  assert.match(out, "last = 400000000");
  assert.match(out, "= 3");
  assert.match(out, /a failing task: Task parse-\d+ failed on local-\d: SyntaxError/);
});

test("examples/modules.ts", async () => {
  const out = await run("examples/modules.ts");
  assert.match(out, /first done: \d+, still running: \d+/);
  assert.match(out, /best candidate: \d+ \(score 0\.\d+\)/);
  assert.match(out, /\(local-\d\) hello from a task/);
  assert.match(out, /ran on: pid \d+ on Node v20/);
});

test("examples/upload/main.ts", async () => {
  const out = await run("examples/upload/main.ts");
  assert.match(out, /uploaded my_module \([0-9a-f]{12}\) to local-0/);
  assert.match(out, "scores: 4, 6, 8, 10, 12");
  assert.match(out, /uploaded my_module again \([0-9a-f]{12}\)/);
  assert.match(out, "scores after the change: 200, 300, 400, 500, 600");
});

test("examples/install/main.ts", async () => {
  const out = await run("examples/install/main.ts");
  assert.match(out, 'local: installed {"tsdask-example-hello":"0.3.0"}');
  assert.match(out, /local-0: hello from tsdask-example-hello 0\.3\.0 in pid \d+/);
  assert.match(out, "from 4 tasks: ok");
});

test("examples/large-values.ts", async () => {
  const out = await run("examples/large-values.ts");
  assert.match(out, /held by the scheduler until gathered: 1 result\(s\), 20\.0 MB/);
  assert.match(out, /20 MB in, 20 MB out in \d+ ms; smoothed\[1000\] = -?\d\.\d{4}/);
  assert.match(out, /peak of the smoothed signal: 0\.\d{4}/);
  assert.match(out, /too large: ResultTooLarge: Task lambda-\d+ on local-\d returned a result of 100000008 bytes encoded, above the cap of 64000000 bytes/);
  assert.match(out, /ran on the scheduler: pid \d+/);
  assert.match(out, "9 seeds: 9 executions by default, 3 with pure: true");
});

test("examples/actors/main.ts", async () => {
  const out = await run("examples/actors/main.ts");
  assert.match(out, "counter: 1 3 6 10");
  assert.match(out, "predict([1, 1]) = 6");
  assert.match(out, "from a second client: predict([2, 0]) = 5, calls so far 2");
  assert.match(out, "from tasks: 6 11 16");
  assert.match(out, /ActorLost: actor 'model' on local-\d: its executor local-\d was killed by SIGKILL; it is restarting on another executor/);
  assert.match(out, "restarted in another process: true; history kept: 5 predictions, calls 5");
});

test.run();
