/**
 * deploy/nats/least-privilege.conf (issue 12, item 6), on a real nats-server: a cluster runs under
 * it (scheduler, worker and client each with the user of its role; tasks, scattered data, a large
 * argument, client.run, info) with no permission violation in the server's log; and every refusal
 * the config promises is proven with raw connections: a client cannot publish `alive`, `exec.*`
 * (client.run goes through `sched.run`), `sched.done` or any `results.*`; a worker cannot publish `alive` or
 * `sched.submit`; no role of cluster `home` can publish to or subscribe in cluster `lab`; and one
 * client user (home-alice) cannot read another's (home-bob's) results, logs or replies, while both
 * run work on the same cluster (client scopes, protocol.ts).
 */
import { readFileSync } from "node:fs";
import { connect, type NatsConnection } from "nats";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Client } from "../index.ts";
import { startNatsServer, type NatsServer } from "../runtime/nats-server.ts";
import { cli, stopAllCli } from "./helpers/cli.ts";
import { waitFor, withTimeout } from "./helpers/cluster.ts";

const CONFIG = readFileSync(new URL("../deploy/nats/least-privilege.conf", import.meta.url), "utf8");
const ROLES = ["home-scheduler", "home-worker", "home-alice", "home-bob", "lab-scheduler", "lab-worker", "lab-carol"];
const password = (user: string) => `pw-${user}-x7`;
const envName = (user: string) => `${user.replace("-", "_").toUpperCase()}_PASSWORD`;

let nats: NatsServer | undefined;
const conns: NatsConnection[] = [];
test.before(async () => {
  for (const u of ROLES) process.env[envName(u)] = password(u); // the config reads them from nats-server's environment
  nats = await withTimeout(startNatsServer({ config: CONFIG }), 20_000, "nats-server");
});
test.after(async () => {
  await stopAllCli();
  for (const c of conns) await c.close();
  await nats?.stop();
});

/** A raw connection as `user` that records the permission errors the server sends it. */
async function as(user: string) {
  const nc = await connect({ servers: nats!.url, user, pass: password(user) });
  conns.push(nc);
  const refused: string[] = [];
  void (async () => {
    for await (const s of nc.status()) {
      const ctx = (s as { permissionContext?: { operation: string; subject: string } }).permissionContext;
      if (s.type === "error" && ctx) refused.push(`${ctx.operation} ${ctx.subject}`);
    }
  })();
  return {
    nc,
    /**
     * False when the server refused publishing on `subject`: its -ERR comes before the PONG of the
     * flush after it; the second round trip lets the status iterator above deliver it.
     */
    async canPublish(subject: string): Promise<boolean> {
      nc.publish(subject, new Uint8Array([1]));
      await nc.flush();
      await nc.flush();
      return !refused.includes(`publish ${subject}`);
    },
    async canSubscribe(subject: string): Promise<boolean> {
      const sub = nc.subscribe(subject);
      await nc.flush();
      await nc.flush();
      const ok = !refused.includes(`subscription ${subject}`);
      sub.unsubscribe();
      return ok;
    },
  };
}

test("the cluster runs with one user per role: tasks, scatter, a large argument, client.run, info; no violation logged", async () => {
  const url = nats!.url;
  const env = (u: string) => ({ TSDASK_USER: u, TSDASK_PASSWORD: password(u) });
  const sched = cli(["scheduler", "--nats", url, "--cluster", "home", "--dashboard-address", "none"], env("home-scheduler"));
  await sched.waitFor(/scheduler for cluster/, 30_000);
  const worker = cli(["worker", url, "--cluster", "home", "--nprocs", "2", "--name", "w1"], env("home-worker"));
  await sched.waitFor(/worker w1 joined/, 60_000);
  const client = await withTimeout(Client.connect(url, { cluster: "home", auth: { user: "home-alice", password: password("home-alice") } }), 20_000, "client");
  try {
    assert.match(client.id, /^home-alice\.[0-9a-f]+$/, "the client's id (and so its results subject) is under its user's scope");
    const xs = Array.from({ length: 50 }, (_, i) => i);
    assert.equal(await withTimeout(client.gather(client.map((x: number) => x + 1, xs)), 30_000, "map"), xs.map((x) => x + 1));
    const ref = await client.scatter(Float64Array.from({ length: 1000 }, (_, i) => i), { broadcast: true } as never);
    assert.is(await withTimeout(client.submit((d: Float64Array) => d.length, ref).result(), 30_000, "scattered"), 1000);
    const big = new Uint8Array(3 * 1024 * 1024).fill(7);
    assert.is(await withTimeout(client.submit((b: Uint8Array) => b.length, big).result(), 30_000, "large argument"), big.length);
    // client.run reaches the executors registered now: wait for both (the worker joins before its executors do).
    await waitFor(async () => ((await client.info()).workers.find((w) => w.name === "w1")?.executors.length ?? 0) >= 2, { timeoutMs: 30_000, label: "both executors of w1" });
    const ran = await withTimeout(client.run(() => 42), 30_000, "client.run");
    assert.equal(Object.values(ran), [42, 42]);
    // A user actor (issue 14): create (sched.actor), calls (actor.<id>.calls → actres.<scope>.…), a snapshot (sched.snapshot).
    class Tally {
      n = 0;
      add(k: number) {
        return (this.n += k);
      }
      snapshot() {
        return this.n;
      }
    }
    const tally = await withTimeout(client.actor(Tally, [], { snapshotEvery: { calls: 1, seconds: 0 } }), 30_000, "actor");
    assert.is(await withTimeout(tally.add(2), 10_000, "actor call"), 2);
    await waitFor(async () => (await client.info()).actors?.[0]?.snapshotCalls === 1, { timeoutMs: 10_000, label: "the actor's snapshot stored" });
    const info = cli(["info", url, "--cluster", "home"], env("home-alice"));
    assert.is(await withTimeout(info.exited, 30_000, "info"), 0, info.output());
  } finally {
    await client.close();
  }
  const log = nats!.recentLog().join("\n");
  assert.not.match(log, /Violation/, log);
  // A worker started with the client's user: refused subjects are said on stderr, naming the subject.
  const wrongRole = cli(["worker", url, "--cluster", "home", "--nprocs", "1", "--name", "w2"], env("home-alice"));
  await wrongRole.waitFor(/refused a subject to worker w2 \((publish|subscription) tsdask\.home\.(sched\.heartbeat|_INBOX\.>?)/, 30_000);
  await wrongRole.stop();
  for (const p of [sched, worker]) assert.not.match(p.output(), /refused|Violation/i, p.output());
  await worker.stop();
  await sched.stop();
});

test("a client cannot publish alive, exec.*, sched.done or anyone's results; it receives only its kinds of subjects", async () => {
  const c = await as("home-alice");
  for (const s of ["tsdask.home.alive", "tsdask.home.exec.abc.tasks", "tsdask.home.exec.abc.run", "tsdask.home.exec.abc.control", "tsdask.home.exec.abc.cancel", "tsdask.home.sched.done", "tsdask.home.results.someone", "tsdask.home.events", "tsdask.home.sched.heartbeat"]) {
    assert.not.ok(await c.canPublish(s), `client published ${s}`);
  }
  for (const s of ["tsdask.home.sched.submit", "tsdask.home.sched.info", "tsdask.home.sched.run", "tsdask.home.data.put"]) assert.ok(await c.canPublish(s), `client may publish ${s}`);
  assert.not.ok(await c.canSubscribe("tsdask.home.sched.submit"), "a client cannot read other clients' submits");
  assert.not.ok(await c.canSubscribe("tsdask.home.exec.>"));
  assert.ok(await c.canSubscribe("tsdask.home.results.home-alice.mine"));
});

test("a worker cannot publish alive or sched.submit (nor exec.*, events)", async () => {
  const w = await as("home-worker");
  for (const s of ["tsdask.home.alive", "tsdask.home.sched.submit", "tsdask.home.exec.abc.tasks", "tsdask.home.events"]) assert.not.ok(await w.canPublish(s), `worker published ${s}`);
  for (const s of ["tsdask.home.sched.done", "tsdask.home.results.c1", "tsdask.home.sched.heartbeat"]) assert.ok(await w.canPublish(s), `worker may publish ${s}`);
  assert.not.ok(await w.canSubscribe("tsdask.home.results.>"), "a worker cannot read results");
});

test("no role of cluster home can publish to or read cluster lab (replies included), nor outside tsdask.", async () => {
  for (const role of ["home-scheduler", "home-worker", "home-alice"]) {
    const r = await as(role);
    for (const s of ["tsdask.lab.sched.submit", "tsdask.lab.results.x", "tsdask.lab.alive", "_INBOX.abc", "elsewhere"]) assert.not.ok(await r.canPublish(s), `${role} published ${s}`);
    for (const s of ["tsdask.lab.>", "tsdask.lab.results.*", "tsdask.lab._INBOX.>", "_INBOX.>", ">"]) assert.not.ok(await r.canSubscribe(s), `${role} subscribed to ${s}`);
  }
  const lab = await as("lab-scheduler");
  assert.ok(await lab.canSubscribe("tsdask.lab.>"), "the lab scheduler reads its own cluster");
});

test("client user home-alice cannot read home-bob's results, logs or replies, while Bob's work runs and he gets every result", async () => {
  const url = nats!.url;
  const earlier = new Set(nats!.recentLog());
  const env = (u: string) => ({ TSDASK_USER: u, TSDASK_PASSWORD: password(u) });
  const sched = cli(["scheduler", "--nats", url, "--cluster", "home", "--dashboard-address", "none"], env("home-scheduler"));
  await sched.waitFor(/scheduler for cluster/, 30_000);
  const worker = cli(["worker", url, "--cluster", "home", "--nprocs", "1", "--name", "w3"], env("home-worker"));
  await sched.waitFor(/worker w3 joined/, 60_000);
  const bob = await withTimeout(Client.connect(url, { cluster: "home", auth: { user: "home-bob", password: password("home-bob") }, forwardLogs: false }), 20_000, "bob");
  try {
    assert.match(bob.id, /^home-bob\./);
    const alice = await as("home-alice");
    // Bob's own subjects, by name and by every wildcard that would cover them.
    for (const s of [`tsdask.home.results.${bob.id}`, "tsdask.home.results.home-bob.*", "tsdask.home.results.*.*", "tsdask.home.results.>", `tsdask.home.log.${bob.id}`, "tsdask.home.log.>", "tsdask.home._INBOX.home-bob.>", "tsdask.home._INBOX.>", "tsdask.home.>"]) {
      assert.not.ok(await alice.canSubscribe(s), `home-alice subscribed to ${s}`);
    }
    // A subscription that the server refused receives nothing while Bob's results flow.
    let seen = 0;
    const sub = alice.nc.subscribe(`tsdask.home.results.${bob.id}`, { callback: (err) => { if (!err) seen++; } });
    await alice.nc.flush();
    const xs = Array.from({ length: 200 }, (_, i) => i);
    assert.equal(await withTimeout(bob.gather(bob.map((x: number) => { console.log(`bob's secret ${x}`); return x * 3; }, xs)), 30_000, "bob's map"), xs.map((x) => x * 3));
    await alice.nc.flush();
    sub.unsubscribe();
    assert.is(seen, 0, "home-alice received Bob's results");
    // Bob reads his own, and his info works under his scope.
    const info = cli(["info", url, "--cluster", "home"], env("home-bob"));
    assert.is(await withTimeout(info.exited, 30_000, "info as home-bob"), 0, info.output());
  } finally {
    await bob.close();
  }
  await worker.stop();
  await sched.stop();
  // The only violations in this test are Alice's attempts above: Bob, the worker and the scheduler had none.
  const violations = nats!.recentLog().filter((l) => !earlier.has(l) && /Violation/.test(l));
  assert.ok(violations.length > 0, "the server logged Alice's refused subscriptions");
  for (const line of violations) assert.match(line, /User "home-alice"/, line);
});

test.run();
