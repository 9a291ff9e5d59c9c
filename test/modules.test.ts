/** Functions by reference: exports of a bundled module (local import inlined, npm import external). */
import * as assert from "uvu/assert";
import { TaskError } from "../index.ts";
import { clusterSuite, withTimeout } from "./helpers/cluster.ts";

const t = clusterSuite("modules", { nprocs: 2 });

t("a module with a local and an npm import runs by reference, typed", async ({ client }) => {
  const procs = await client.importModule<typeof import("./fixtures/modules/procs.ts")>("./fixtures/modules/procs.ts");
  const scores = client.map(procs.score, [1, 2, 3], { args: [10] });
  assert.equal(await withTimeout(client.gather(scores), 20_000, "score"), [11, 21, 31]);
  const rt = await client.submit(procs.viaMsgpack, { a: 7 }).result();
  assert.equal(rt, { a: 7 });
});

t("calling a module export locally says to submit it instead", async ({ client }) => {
  const procs = await client.importModule<typeof import("./fixtures/modules/procs.ts")>("./fixtures/modules/procs.ts");
  try {
    procs.score(1, 2);
    assert.unreachable();
  } catch (e) {
    assert.is((e as { code: string }).code, "ModuleStubCalled");
  }
});

t("an error thrown in a module's local import points at that file", async ({ client }) => {
  const procs = await client.importModule<typeof import("./fixtures/modules/procs.ts")>("./fixtures/modules/procs.ts");
  const err = await client.submit(procs.boom, 5).exception();
  assert.instance(err, TaskError);
  assert.match(err!.message, "exploded on 5");
  assert.match(err!.remoteStack, "scale.ts");
});

t("a module that does not exist fails clearly", async ({ client }) => {
  try {
    await client.importModule("./fixtures/modules/nope.ts");
    assert.unreachable();
  } catch (e) {
    assert.is((e as { code: string }).code, "ModuleBundleFailed");
  }
});

t.run();
