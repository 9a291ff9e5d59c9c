/**
 * User actors (issue 14) on a real cluster (nats-server, scheduler, a worker with 2 executor
 * processes): calls and their order, named lookup from a second client, lease-owned vs detached,
 * kill -9 of the host → ActorLost and a restart with the restored snapshot, a call in flight never
 * run twice, tasks and actors calling actors through getWorker().client().
 */
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as assert from "uvu/assert";
import { ActorError, Client, TaskError } from "../index.ts";
import { formatInfo } from "../cli/info.ts";
import { clusterSuite, waitFor, withTimeout } from "./helpers/cluster.ts";

const t = clusterSuite("actors", { nprocs: 2, dashboard: "127.0.0.1:0" });

class Counter {
  n = 0;
  log: number[] = [];
  constructor(start: number) {
    this.n = start;
  }
  add(k: number) {
    this.n += k;
    this.log.push(k);
    return this.n;
  }
  async slowAdd(k: number, ms: number) {
    await new Promise((r) => setTimeout(r, ms));
    return this.add(k);
  }
  get total() {
    return this.n;
  }
  fail(msg: string) {
    throw new RangeError(msg);
  }
}

/** The error `p` rejects with (fails the test if it resolves). */
const caught = (p: Promise<unknown>) =>
  p.then(
    (v) => {
      throw new Error(`expected a rejection, got ${String(v)}`);
    },
    (e: unknown) => e as ActorError,
  );

const second = (c: Client) => withTimeout(Client.connect(c.address, { cluster: c.localCluster!.cluster }), 30_000, "second client");

t("method calls: values, a property read, order of one caller's calls, a throwing method", async ({ client }) => {
  const c = await withTimeout(client.actor(Counter, [10]), 30_000, "actor start");
  assert.is(await c.add(5), 15);
  assert.is(await c.total, 15);
  // 300 calls without waiting (one batch or a few): each sees the previous one's effect, in order;
  // a slow async call does not let the next one overtake it.
  const slow = c.slowAdd(1, 50);
  const ps = Array.from({ length: 300 }, (_, i) => c.add(i));
  const out = await withTimeout(Promise.all([slow, ...ps]), 30_000, "300 calls");
  let n = 16;
  const want = [16];
  for (let i = 0; i < 300; i++) want.push((n += i));
  assert.equal(out, want);
  assert.equal((await c.log).slice(1), [1, ...Array.from({ length: 300 }, (_, i) => i)]);
  const err = await c.fail("too big").catch((e: unknown) => e);
  assert.instance(err, TaskError);
  assert.is((err as TaskError).code, "ActorCallFailed");
  assert.is((err as TaskError).remoteName, "RangeError");
  assert.match((err as TaskError).message, "too big");
  assert.match((err as TaskError).worker, /^local-\d$/);
  assert.is(await c.add(0), want[300]!, "the actor goes on after a throw");
});

t("a class that uses names from its surroundings is refused before anything is sent", async ({ client }) => {
  const factor = 3;
  class Scaled {
    f(x: number) {
      return x * factor;
    }
  }
  const e = await caught(client.actor(Scaled, []));
  assert.is(e.code, "ClosureCaptured");
  assert.match(e.message, "factor");
  const boom = class Boom {
    constructor() {
      throw new Error("no model file");
    }
  };
  const e2 = await withTimeout(caught(client.actor(boom, [])), 30_000, "start failure");
  assert.is(e2.code, "ActorStartFailed");
  assert.match(e2.message, "no model file");
});

t("named: found by name from a second client (get-or-create), ActorNotFound otherwise", async ({ client }) => {
  const a = await withTimeout(client.actor(Counter, [0], { name: "shared" }), 30_000, "create");
  await a.add(2);
  const b = await second(client);
  try {
    const viaGet = await withTimeout(b.getActor<Counter>("shared"), 10_000, "getActor");
    assert.is(await viaGet.add(3), 5);
    // get-or-create: the existing actor, its state kept, the new arguments ignored
    const viaCreate = await withTimeout(b.actor(Counter, [1000], { name: "shared" }), 10_000, "get-or-create");
    assert.is(await viaCreate.add(0), 5);
    const nf = await caught(b.getActor("nobody"));
    assert.is(nf.code, "ActorNotFound");
    assert.is(nf.actor, "nobody");
  } finally {
    await b.close();
  }
  assert.is(await a.total, 5, "the creator still holds it after the other client left");
});

t("lifetime: owned by the creating client's lease; detached until killActor()", async ({ client }) => {
  const b = await second(client);
  await withTimeout(b.actor(Counter, [0], { name: "owned" }), 30_000, "owned");
  await withTimeout(b.actor(Counter, [0], { name: "free", detached: true }), 30_000, "detached");
  const owned = await client.getActor<Counter>("owned");
  // A call pending when the owner leaves is answered ActorLost (the actor is killed with the lease).
  const pending = caught(owned.slowAdd(1, 60_000));
  await b.close();
  const lost = await withTimeout(pending, 20_000, "owned actor's pending call");
  assert.is(lost.code, "ActorLost");
  assert.is(lost.actor, "owned");
  assert.match(lost.reason!, /owner client .* closed/);
  const nf = await caught(client.getActor("owned"));
  assert.is(nf.code, "ActorNotFound");
  // The detached one outlived its creator.
  const free = await client.getActor<Counter>("free");
  assert.is(await free.add(7), 7);
  await client.killActor("free");
  const after = await caught(free.add(1));
  assert.is(after.code, "ActorLost");
  assert.is((await caught(client.getActor("free"))).code, "ActorNotFound");
});

/** State in a snapshot; `mark` writes a file, records its value and never returns. */
class Journal {
  items: number[] = [];
  push(x: number) {
    this.items.push(x);
    return this.items.length;
  }
  async mark(x: number, file: string) {
    this.items.push(x);
    (await import("node:fs")).writeFileSync(file, String(x));
    return new Promise<number>(() => {});
  }
  list() {
    return this.items;
  }
  snapshot() {
    return this.items;
  }
  restore(s: number[]) {
    this.items = s;
  }
}

async function hostOf(client: Client, name: string) {
  const info = await client.info();
  const a = info.actors!.find((x) => x.name === name)!;
  const ex = info.workers.flatMap((w) => w.executors).find((e) => e.id === a.executorId)!;
  return { actor: a, pid: ex.pid, id: ex.id, name: ex.name };
}

t("kill -9 of the host: the call in flight rejects with ActorLost and is never run again; the actor restarts elsewhere with its snapshot", async ({ client }) => {
  const j = await withTimeout(client.actor(Journal, [], { name: "journal", restart: { max: 2 }, snapshotEvery: { calls: 1 } }), 30_000, "create");
  for (const x of [1, 2, 3]) await j.push(x);
  await waitFor(async () => (await hostOf(client, "journal")).actor.snapshotCalls === 3, { timeoutMs: 10_000, label: "the snapshot after 3 calls" });
  const host = await hostOf(client, "journal");
  const file = join(mkdtempSync(join(tmpdir(), "tsdask-actor-")), "mark");
  const inFlight = caught(j.mark(99, file));
  await waitFor(() => existsSync(file), { timeoutMs: 10_000, label: "mark() running on the host" });
  process.kill(host.pid, "SIGKILL");
  const lost = await withTimeout(inFlight, 30_000, "the in-flight call to fail");
  assert.is(lost.code, "ActorLost");
  assert.is(lost.actor, "journal");
  assert.is(lost.executor, host.name);
  assert.match(lost.reason!, host.name);
  // Calls made now wait for the restart; the state is the snapshot's: 99 was never added again.
  assert.equal(await withTimeout(j.list(), 30_000, "a call after the restart"), [1, 2, 3]);
  assert.is(await j.push(4), 4);
  const now = await hostOf(client, "journal");
  assert.is(now.actor.restarts, 1);
  assert.is(now.actor.state, "running");
  assert.is.not(now.id, host.id, "another executor");
  assert.is.not(now.pid, host.pid);
});

t("kill -9 of the host of an actor without restart: ActorLost, then ActorNotFound", async ({ client }) => {
  const c = await withTimeout(client.actor(Counter, [0], { name: "fragile" }), 30_000, "create");
  await c.add(1);
  const host = await hostOf(client, "fragile");
  const pending = caught(c.slowAdd(1, 60_000));
  process.kill(host.pid, "SIGKILL");
  const lost = await withTimeout(pending, 30_000, "ActorLost");
  assert.is(lost.code, "ActorLost");
  assert.is(lost.executor, host.name);
  const nf = await caught(client.getActor("fragile"));
  assert.is(nf.code, "ActorNotFound");
});

t("tasks and actors call actors through getWorker().client(); an actor submits tasks", async ({ client }) => {
  const c = await withTimeout(client.actor(Counter, [0], { name: "tally", detached: true }), 30_000, "create");
  const bump = async (k: number) => {
    const { getWorker } = await import("ts-dask/worker");
    const inner = await getWorker().client();
    const t = await inner.getActor<{ add(k: number): number }>("tally");
    return t.add(k);
  };
  await withTimeout(client.gather(client.map(bump, [1, 2, 3, 4, 5])), 60_000, "tasks calling the actor");
  assert.is(await c.total, 15);
  class Squarer {
    async squares(xs: number[]) {
      const { getWorker } = await import("ts-dask/worker");
      const inner = await getWorker().client();
      return inner.gather(inner.map((x: number) => x * x, xs));
    }
  }
  const s = await withTimeout(client.actor(Squarer, []), 30_000, "create");
  assert.equal(await withTimeout(s.squares([1, 2, 3]), 60_000, "an actor's tasks"), [1, 4, 9]);
  await client.killActor("tally");
});

t("ts-dask info and the dashboard list actors: executor, calls, calls/s, restarts", async ({ client }) => {
  const c = await withTimeout(client.actor(Counter, [0], { name: "listed" }), 30_000, "create");
  for (let i = 0; i < 20; i++) await c.add(1);
  await waitFor(async () => (await client.info()).actors!.find((a) => a.name === "listed")?.calls === 20, { timeoutMs: 10_000, label: "call count from heartbeats" });
  const a = (await client.info()).actors!.find((x) => x.name === "listed")!;
  assert.match(a.executor, /^local-\d$/);
  assert.is(a.state, "running");
  assert.is(a.owner, client.id);
  assert.is(a.detached, false);
  const text = formatInfo(await client.info());
  assert.match(text, /actor\s+state\s+executor\s+calls\s+calls\/s\s+restarts\s+snapshot\s+lifetime/);
  assert.match(text, new RegExp(`listed\\s+running\\s+${a.executor}\\s+20\\s`));
  const snap = (await (await fetch(new URL("api/snapshot", client.localCluster!.dashboard!.url))).json()) as { actors: { name: string; calls: number; executor: string; rate: number }[]; events: { type: string; name?: string; state?: string }[] };
  const row = snap.actors.find((x) => x.name === "listed")!;
  assert.is(row.calls, 20);
  assert.is(row.executor, a.executor);
  assert.type(row.rate, "number");
  assert.ok(snap.events.some((e) => e.type === "actor" && e.name === "journal" && e.state === "restarting"), "the restart is in the event log");
});

t.run();
