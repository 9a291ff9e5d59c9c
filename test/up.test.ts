/** `ts-dask up`: a private cluster from one command; `--lan` requires the generated token. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Client } from "../index.ts";
import { cli, stopAllCli } from "./helpers/cli.ts";
import { withTimeout } from "./helpers/cluster.ts";

test.after(stopAllCli);

test("up --lan prints a connect string with a token; without the token nothing connects", async () => {
  const up = cli(["up", "--nprocs", "1", "--lan"]);
  const m = await up.waitFor(/Client\.connect\("(nats:\/\/([0-9a-f]+)@[^"]+)", \{ cluster: "([^"]+)" \}\)/, 60_000);
  await up.waitFor(/Ctrl-C stops everything/);
  const [, withToken, token, cluster] = m;
  const bare = withToken!.replace(`${token}@`, "");
  try {
    await Client.connect(bare, { cluster });
    assert.unreachable("connected without the token");
  } catch (e) {
    assert.is((e as { code: string }).code, "AuthFailed");
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
});

test("up --cluster NAME uses that name; a flag that up does not take is refused, not ignored", async () => {
  const wrong = cli(["up", "--nprocs", "1", "--death-timeout", "5"]);
  assert.is(await withTimeout(wrong.exited, 20_000, "usage error"), 2);
  assert.match(wrong.output(), "ts-dask up does not take --death-timeout");
  const up = cli(["up", "--nprocs", "1", "--cluster", "mine", "--dashboard-address", "none"]);
  await up.waitFor(/cluster 'mine' is up/, 60_000);
  assert.is(await withTimeout(up.stop("SIGINT"), 30_000, "up to stop"), 0);
});

test.run();
