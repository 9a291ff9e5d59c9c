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
import { cliCluster, stopAllCli } from "./helpers/cli.ts";
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

test("after a scheduler restart, calls to its actors end at once (run on the old host while it lasts, then ActorLost), never hang; the actor can be made again", async () => {
  nats = await startNatsServer();
  const url = nats.url;
  const { watch, restartScheduler } = await cliCluster(url, "reactor");
  const client = await Client.connect(url, { cluster: "reactor" });
  try {
    const t = await withTimeout(client.actor(Tally, [], { name: "tally", detached: true }), 30_000, "actor start");
    assert.is(await withTimeout(t.add(2), 10_000, "a call"), 2);

    await restartScheduler();
    // A call made now ends at once either way: it may still reach the old host (calls go straight
    // to it, and it has not followed the new scheduler yet: the call runs, once), or fail with
    // ActorLost; it never hangs. Once the client has seen the new scheduler, every call fails.
    const outcome = (p: Promise<unknown>) =>
      withTimeout(
        p.then(
          (v) => ({ ran: v as number }),
          (e: unknown) => ({ lost: e }),
        ),
        20_000,
        "the call to end",
      );
    const untilLost = async () => {
      let o = await outcome(t.add(3));
      for (let ran = 2; "ran" in o; o = await outcome(t.add(3))) assert.is(o.ran, (ran += 3), "a call that still ran, ran once, on the old host's state");
      return o;
    };
    const last = await withTimeout(untilLost(), 30_000, "calls to fail with ActorLost");
    assert.instance(last.lost, ActorError, String(last.lost));
    assert.is((last.lost as ActorError).code, "ActorLost");
    assert.instance(await outcome(t.add(1)).then((o) => ("lost" in o ? o.lost : o)), ActorError, "and so does every later call");
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
