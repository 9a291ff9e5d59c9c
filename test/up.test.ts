/** `ts-dask up`: a private cluster from one command; `--lan` requires the generated token, kept in a file. */
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Client } from "../index.ts";
import { cli, stopAllCli } from "./helpers/cli.ts";
import { withTimeout } from "./helpers/cluster.ts";

test.after(stopAllCli);

test("up --lan writes its token to a file of mode 0600 and never prints it; without the token nothing connects", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tsdask-up-"));
  const up = cli(["up", "--nprocs", "1", "--lan", "--local-directory", dir]);
  const t = await up.waitFor(/token: +written to (\S+) \(mode 0600\)/, 60_000);
  const m = await up.waitFor(/Client\.connect\("(nats:\/\/[^"]+)", \{ cluster: "([^"]+)", token: readFileSync/, 60_000);
  await up.waitFor(/Ctrl-C stops everything/);
  const [, bare, cluster] = m;
  const tokenFile = t[1]!;
  assert.is(statSync(tokenFile).mode & 0o777, 0o600);
  const token = readFileSync(tokenFile, "utf8").trim();
  assert.match(token, /^[0-9a-f]{32}$/);
  assert.not.ok(up.output().includes(token), "the token is not printed");
  assert.match(up.output(), `--token-file ${tokenFile}`);
  const withToken = bare!.replace("nats://", `nats://${token}@`);
  try {
    await Client.connect(bare, { cluster });
    assert.unreachable("connected without the token");
  } catch (e) {
    assert.is((e as { code: string }).code, "AuthFailed");
    assert.match((e as Error).message, /refused no credentials/);
  }
  try {
    await Client.connect(bare, { cluster, token: "wrong" });
    assert.unreachable("connected with a wrong token");
  } catch (e) {
    assert.is((e as { code: string }).code, "AuthFailed");
    assert.match((e as Error).message, /refused a token/);
  }
  const client = await withTimeout(Client.connect(withToken, { cluster }), 20_000, "connect with token");
  try {
    assert.is(await client.submit((x: number) => x * 2, 21).result(), 42);
    const info = await client.info();
    assert.equal(info.workers.map((w) => w.name), ["local"]);
  } finally {
    await client.close();
  }
  assert.is(await withTimeout(up.stop("SIGINT"), 30_000, "up to stop"), 0, "Ctrl-C stops up cleanly");
  rmSync(dir, { recursive: true, force: true });
});

test("up --cluster NAME uses that name; a flag that up does not take is refused, not ignored", async () => {
  const wrong = cli(["up", "--nprocs", "1", "--death-timeout", "5"]);
  assert.is(await withTimeout(wrong.exited, 20_000, "usage error"), 2);
  assert.match(wrong.output(), "ts-dask up does not take --death-timeout");
  const up = cli(["up", "--nprocs", "1", "--cluster", "mine", "--dashboard-address", "none"]);
  await up.waitFor(/cluster 'mine' is up/, 60_000);
  assert.is(await withTimeout(up.stop("SIGINT"), 30_000, "up to stop"), 0);
});

test("up --resources GPU=1: the private worker offers it, tasks that need it run there; a bad list is refused", async () => {
  const bad = cli(["up", "--nprocs", "1", "--resources", "GPU=lots"]);
  assert.is(await withTimeout(bad.exited, 20_000, "usage error"), 2);
  assert.match(bad.output(), "--resources takes NAME=AMOUNT pairs");
  const up = cli(["up", "--nprocs", "1", "--nthreads", "2", "--resources", "GPU=1,MEM=8e9", "--dashboard-address", "none"]);
  await up.waitFor(/is up with 1 executor\(s\), each offering GPU=1,MEM=8000000000\./, 60_000);
  const m = await up.waitFor(/Client\.connect\("([^"]+)", \{ cluster: "([^"]+)" \}\)/);
  const client = await withTimeout(Client.connect(m[1]!, { cluster: m[2]! }), 30_000, "connect");
  try {
    const info = await client.info();
    assert.equal(info.workers[0]!.resources, { GPU: 1, MEM: 8e9 });
    const ran = await withTimeout(client.gather(client.map((x: number) => x + 1, [1, 2, 3], { resources: { GPU: 1 } })), 30_000, "GPU tasks");
    assert.equal(ran, [2, 3, 4]);
  } finally {
    await client.close();
  }
  assert.is(await withTimeout(up.stop("SIGINT"), 30_000, "up to stop"), 0);
});

test.run();
