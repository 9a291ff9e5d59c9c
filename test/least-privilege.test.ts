/**
 * deploy/nats/least-privilege.conf (issue 12, item 6), on a real nats-server: a cluster runs under
 * it (scheduler, worker and client each with the user of its role; tasks, scattered data, a large
 * argument, client.run, info) with no permission violation in the server's log; and every refusal
 * the config promises is proven with raw connections: a client cannot publish `alive`, `exec.*`
 * (client.run goes through `sched.run`), `sched.done` or any `results.*`; a worker cannot publish `alive` or
 * `sched.submit`; no role of cluster `home` can publish to or subscribe in cluster `lab`.
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
const ROLES = ["home-scheduler", "home-worker", "home-client", "lab-scheduler", "lab-worker", "lab-client"];
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
  const client = await withTimeout(Client.connect(url, { cluster: "home", auth: { user: "home-client", password: password("home-client") } }), 20_000, "client");
  try {
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
    const info = cli(["info", url, "--cluster", "home"], env("home-client"));
    assert.is(await withTimeout(info.exited, 30_000, "info"), 0, info.output());
  } finally {
    await client.close();
  }
  const log = nats!.recentLog().join("\n");
  assert.not.match(log, /Violation/, log);
  // A worker started with the client's user: refused subjects are said on stderr, naming the subject.
  const wrongRole = cli(["worker", url, "--cluster", "home", "--nprocs", "1", "--name", "w2"], env("home-client"));
  await wrongRole.waitFor(/refused a subject to worker w2 \(publish tsdask\.home\.sched\.heartbeat\)/, 30_000);
  await wrongRole.stop();
  for (const p of [sched, worker]) assert.not.match(p.output(), /refused|Violation/i, p.output());
});

test("a client cannot publish alive, exec.*, sched.done or anyone's results; it receives only its kinds of subjects", async () => {
  const c = await as("home-client");
  for (const s of ["tsdask.home.alive", "tsdask.home.exec.abc.tasks", "tsdask.home.exec.abc.run", "tsdask.home.exec.abc.control", "tsdask.home.exec.abc.cancel", "tsdask.home.sched.done", "tsdask.home.results.someone", "tsdask.home.events", "tsdask.home.sched.heartbeat"]) {
    assert.not.ok(await c.canPublish(s), `client published ${s}`);
  }
  for (const s of ["tsdask.home.sched.submit", "tsdask.home.sched.info", "tsdask.home.sched.run", "tsdask.home.data.put"]) assert.ok(await c.canPublish(s), `client may publish ${s}`);
  assert.not.ok(await c.canSubscribe("tsdask.home.sched.submit"), "a client cannot read other clients' submits");
  assert.not.ok(await c.canSubscribe("tsdask.home.exec.>"));
  assert.ok(await c.canSubscribe("tsdask.home.results.mine"));
});

test("a worker cannot publish alive or sched.submit (nor exec.*, events)", async () => {
  const w = await as("home-worker");
  for (const s of ["tsdask.home.alive", "tsdask.home.sched.submit", "tsdask.home.exec.abc.tasks", "tsdask.home.events"]) assert.not.ok(await w.canPublish(s), `worker published ${s}`);
  for (const s of ["tsdask.home.sched.done", "tsdask.home.results.c1", "tsdask.home.sched.heartbeat"]) assert.ok(await w.canPublish(s), `worker may publish ${s}`);
  assert.not.ok(await w.canSubscribe("tsdask.home.results.>"), "a worker cannot read results");
});

test("no role of cluster home can publish to or read cluster lab (replies included), nor outside tsdask.", async () => {
  for (const role of ["home-scheduler", "home-worker", "home-client"]) {
    const r = await as(role);
    for (const s of ["tsdask.lab.sched.submit", "tsdask.lab.results.x", "tsdask.lab.alive", "_INBOX.abc", "elsewhere"]) assert.not.ok(await r.canPublish(s), `${role} published ${s}`);
    for (const s of ["tsdask.lab.>", "tsdask.lab.results.*", "tsdask.lab._INBOX.>", "_INBOX.>", ">"]) assert.not.ok(await r.canSubscribe(s), `${role} subscribed to ${s}`);
  }
  const lab = await as("lab-scheduler");
  assert.ok(await lab.canSubscribe("tsdask.lab.>"), "the lab scheduler reads its own cluster");
});

test.run();
