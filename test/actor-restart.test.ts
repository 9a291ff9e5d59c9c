/**
 * User actors and a scheduler restart (issue 15): the actor table lives in the scheduler's memory,
 * so a restarted scheduler knows no actors. Their callers must not hang: a call to an actor of the
 * old scheduler fails with `ActorLost` as soon as the client sees the new scheduler, and the
 * actor can be created again on the new one. Real processes: nats-server, `ts-dask scheduler`
 * (killed with SIGKILL and started again), a `ts-dask worker`.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ActorError, Client } from "../index.ts";
import { startNatsServer, type NatsServer } from "../runtime/nats-server.ts";
import { cli, EventWatcher, stopAllCli } from "./helpers/cli.ts";
import { withTimeout } from "./helpers/cluster.ts";

let nats: NatsServer | undefined;
test.after(async () => {
  await stopAllCli();
  await nats?.stop();
});

class Tally {
  n = 0;
  add(k: number) {
    return (this.n += k);
  }
}

test("after a scheduler restart, calls to its actors fail with ActorLost instead of hanging; the actor can be made again", async () => {
  nats = await startNatsServer();
  const url = nats.url;
  const schedArgs = ["scheduler", "--nats", url, "--cluster", "reactor", "--dashboard-address", "none"];
  let sched = cli(schedArgs);
  await sched.waitFor(/scheduler for cluster 'reactor'/);
  const watch = await EventWatcher.start(url, "reactor");
  cli(["worker", url, "--cluster", "reactor", "--nprocs", "1", "--name", "W", "--death-timeout", "60"]);
  await watch.until((e) => e.type === "executor-joined", 1);
  const client = await Client.connect(url, { cluster: "reactor" });
  try {
    const t = await withTimeout(client.actor(Tally, [], { name: "tally", detached: true }), 30_000, "actor start");
    assert.is(await withTimeout(t.add(2), 10_000, "a call"), 2);

    sched.proc.kill("SIGKILL");
    await sched.exited;
    sched = cli(schedArgs);
    await sched.waitFor(/scheduler for cluster 'reactor'/);
    // A call made now (the client may not have noticed yet) ends, one way or the other, quickly.
    const err = await withTimeout(
      t.add(3).then(
        (v) => new Error(`the call ran on an actor the new scheduler does not know (got ${String(v)})`),
        (e: unknown) => e,
      ),
      20_000,
      "the call to end",
    );
    assert.instance(err, ActorError, String(err));
    assert.is((err as ActorError).code, "ActorLost");
    // Made again on the new scheduler, by name.
    const again = await withTimeout(client.actor(Tally, [], { name: "tally", detached: true }), 30_000, "actor start again");
    assert.is(await withTimeout(again.add(5), 10_000, "a call to the new one"), 5);
    await client.killActor("tally");
  } finally {
    await client.close();
    await watch.close();
  }
});

test.run();
