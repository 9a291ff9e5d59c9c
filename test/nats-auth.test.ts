/**
 * NATS credentials and TLS everywhere (issue 12, item 5), against real nats-server configs this
 * file writes and certificates it makes: a token from a file or the environment, user + password,
 * an nkey seed file, a `.creds` file (operator mode), TLS with a CA, hostname verification and a
 * client certificate; through the CLI (scheduler, worker and its executors, info) and
 * Client.connect. A wrong or missing credential fails at once, naming what was refused; no secret
 * appears in what the processes print.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nkeys } from "nats";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Client } from "../index.ts";
import { authFromSources, redactUrl } from "../runtime/nats-auth.ts";
import { startNatsServer, type NatsServer } from "../runtime/nats-server.ts";
import { makeCa, makeCert } from "./helpers/certs.ts";
import { cli, stopAllCli } from "./helpers/cli.ts";
import { withTimeout } from "./helpers/cluster.ts";
import { operatorSetup, userCreds } from "./helpers/nats-creds.ts";

const dir = mkdtempSync(join(tmpdir(), "tsdask-auth-"));
const servers: NatsServer[] = [];
test.after(async () => {
  await stopAllCli();
  for (const s of servers) await s.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function server(config: string): Promise<NatsServer> {
  const s = await withTimeout(startNatsServer({ config }), 20_000, "nats-server");
  servers.push(s);
  return s;
}

const secret = (name: string, value: string) => {
  const f = join(dir, name);
  writeFileSync(f, value + "\n", { mode: 0o600 });
  return f;
};

/** Expects `p` to reject with a ts-dask error of `code` whose message matches `re`, within `ms`. */
async function refused(p: Promise<unknown>, code: string, re: RegExp, ms = 5_000): Promise<number> {
  const t0 = Date.now();
  try {
    await withTimeout(p, ms, "the refusal");
  } catch (e) {
    assert.is((e as { code?: string }).code, code, (e as Error).message);
    assert.match((e as Error).message, re);
    return Date.now() - t0;
  }
  assert.unreachable("connected");
  return 0;
}

/**
 * A scheduler and a worker (2 executors) from the CLI with `args`/`env`; tasks through a client;
 * `info` with the same credentials, and with `infoEnv` only (credentials from the environment).
 * Stops the scheduler and the worker before returning their output.
 */
async function runsTasks(url: string, cluster: string, args: string[], env: NodeJS.ProcessEnv, clientOpts: Parameters<typeof Client.connect>[1], infoEnv?: NodeJS.ProcessEnv) {
  const sched = cli(["scheduler", "--nats", url, "--cluster", cluster, "--dashboard-address", "none", ...args], env);
  await sched.waitFor(/scheduler for cluster/, 30_000);
  const worker = cli(["worker", url, "--cluster", cluster, "--nprocs", "2", "--name", `w-${cluster}`, "--local-directory", join(dir, cluster), ...args], env);
  await sched.waitFor(new RegExp(`worker w-${cluster} joined`), 60_000);
  const client = await withTimeout(Client.connect(url, { cluster, ...clientOpts }), 20_000, "client connect");
  try {
    const xs = Array.from({ length: 20 }, (_, i) => i);
    assert.equal(await withTimeout(client.gather(client.map((x: number) => x * 2, xs)), 30_000, "tasks"), xs.map((x) => x * 2));
    const info = cli(["info", url, "--cluster", cluster, "--json", ...args], env);
    assert.is(await withTimeout(info.exited, 30_000, "info"), 0, info.output());
    assert.equal(JSON.parse(info.output()).workers.map((w: { name: string }) => w.name), [`w-${cluster}`]);
    if (infoEnv) {
      const viaEnv = cli(["info", url, "--cluster", cluster], infoEnv);
      assert.is(await withTimeout(viaEnv.exited, 30_000, "info"), 0, viaEnv.output());
      assert.match(viaEnv.output(), `w-${cluster}`);
    }
    return { sched, worker, info };
  } finally {
    await client.close();
    await Promise.all([sched.stop(), worker.stop()]);
  }
}

test("credentials come from files and the environment; --token warns that ps shows it; bad combinations are refused", () => {
  const tf = secret("t1", "tok-from-file");
  assert.equal(authFromSources({ "token-file": tf }, {}), { token: "tok-from-file" });
  assert.equal(authFromSources({}, { TSDASK_TOKEN_FILE: tf }), { token: "tok-from-file" });
  assert.equal(authFromSources({}, { TSDASK_TOKEN: "tok-env" }), { token: "tok-env" });
  assert.equal(authFromSources({ "token-file": tf }, { TSDASK_TOKEN: "tok-env" }), { token: "tok-from-file" }, "a flag wins");
  const warnings: string[] = [];
  assert.equal(authFromSources({ token: "t" }, {}, (m) => warnings.push(m)), { token: "t" });
  assert.match(warnings[0]!, /ps/);
  const pf = secret("p1", "pw");
  assert.equal(authFromSources({ user: "alice", "password-file": pf }, {}), { user: "alice", password: "pw" });
  assert.equal(authFromSources({}, { TSDASK_USER: "bob", TSDASK_PASSWORD: "pw2" }), { user: "bob", password: "pw2" });
  assert.throws(() => authFromSources({ user: "alice" }, {}), /user 'alice' needs a password/);
  assert.throws(() => authFromSources({ "token-file": join(dir, "missing") }, {}), (e: Error) => (e as { code?: string }).code === "SecretFileUnreadable" && /--token-file .*missing: ENOENT/.test(e.message));
  assert.throws(() => authFromSources({ "token-file": secret("empty", "") }, {}), /the file is empty/);
  assert.throws(() => authFromSources({ "token-file": tf, user: "a", "password-file": pf }, {}), /a token and a user were given/);
  assert.throws(() => authFromSources({ "tls-cert": tf }, {}), /needs its key/);
  assert.is(redactUrl("nats://tok@h:1,nats://u:p@h2:2,tls://h3:3"), "nats://***@h:1,nats://***@h2:2,tls://h3:3");
});

test("token: scheduler, worker, executors and info from a token file or $TSDASK_TOKEN; a wrong token fails at once, naming it", async () => {
  const token = "s3cret-token-42";
  const s = await server(`authorization { token: "${token}" }`);
  const tokenFile = secret("token", token);
  const { sched, worker, info } = await runsTasks(s.url, "tok", ["--token-file", tokenFile], {}, { token }, { TSDASK_TOKEN: token });
  for (const p of [sched, worker, info]) assert.not.ok(p.output().includes(token), `no token in: ${p.output()}`);

  const ms = await refused(Client.connect(s.url, { cluster: "tok", token: "wrong" }), "AuthFailed", /refused a token/);
  await refused(Client.connect(s.url, { cluster: "tok" }), "AuthFailed", /refused no credentials/);
  // A worker with a wrong token exits at once with the reason, not after --death-timeout.
  const t0 = Date.now();
  const bad = cli(["worker", s.url, "--cluster", "tok", "--nprocs", "1", "--death-timeout", "120", "--local-directory", join(dir, "bad")], { TSDASK_TOKEN: "wrong-token" });
  assert.is(await withTimeout(bad.exited, 20_000, "the worker to give up"), 1);
  assert.match(bad.output(), /refused a token/);
  assert.not.ok(bad.output().includes("wrong-token"));
  console.log(`figure: wrong token refused in ${ms} ms (client), worker exited after ${Date.now() - t0} ms (process start included)`);
});

test("user + password and an nkey seed file (executors too); wrong ones fail at once naming the user or the key", async () => {
  const user = nkeys.createUser();
  const seedFile = secret("user.nk", new TextDecoder().decode(user.getSeed()));
  const s = await server(`authorization { users: [ { user: alice, password: "alice-pw-77" }, { nkey: ${user.getPublicKey()} } ] }`);
  const pf = secret("alice.pw", "alice-pw-77");
  const up = await runsTasks(s.url, "up", ["--user", "alice", "--password-file", pf], {}, { auth: { user: "alice", password: "alice-pw-77" } }, { TSDASK_USER: "alice", TSDASK_PASSWORD_FILE: pf });
  for (const p of [up.sched, up.worker, up.info]) assert.not.ok(p.output().includes("alice-pw-77"));
  await runsTasks(s.url, "nk", ["--nkey", seedFile], {}, { auth: { nkeySeedFile: seedFile } }, { TSDASK_NKEY_FILE: seedFile });

  await refused(Client.connect(s.url, { cluster: "up", auth: { user: "alice", password: "nope" } }), "AuthFailed", /refused user 'alice' with a password/);
  const other = secret("other.nk", new TextDecoder().decode(nkeys.createUser().getSeed()));
  await refused(Client.connect(s.url, { cluster: "nk", auth: { nkeySeedFile: other } }), "AuthFailed", new RegExp(`refused the nkey in ${other}`));
});

test("a .creds file (operator mode, JWTs made here): the cluster runs; a user of another operator is refused", async () => {
  const op = operatorSetup(["HOME"]);
  const s = await server(op.config);
  const creds = join(dir, "home.creds");
  userCreds(creds, op.account("HOME"), "home-user");
  await runsTasks(s.url, "cr", ["--creds", creds], {}, { auth: { credsFile: creds } });
  const stranger = join(dir, "stranger.creds");
  userCreds(stranger, operatorSetup(["X"]).account("X"), "stranger");
  await refused(Client.connect(s.url, { cluster: "cr", auth: { credsFile: stranger } }), "AuthFailed", /refused the credentials in .*stranger\.creds/);
});

test("TLS: tls:// with a CA and client certificates; a wrong CA, a certificate for another host, or no TLS where it is required fail at once", async () => {
  const ca = makeCa(dir, "ca");
  const srv = makeCert(dir, ca, "server", { altNames: ["IP:127.0.0.1"], usage: "serverAuth" });
  const cl = makeCert(dir, ca, "client", { usage: "clientAuth" });
  const s = await server(`tls { cert_file: "${srv.cert}", key_file: "${srv.key}", ca_file: "${ca.cert}", verify: true, timeout: 2 }`);
  const url = s.url.replace("nats://", "tls://");
  const auth = { tlsCaFile: ca.cert, tlsCertFile: cl.cert, tlsKeyFile: cl.key };
  await runsTasks(url, "tls", ["--tls-ca", ca.cert, "--tls-cert", cl.cert, "--tls-key", cl.key], {}, { auth }, { TSDASK_TLS_CA: ca.cert, TSDASK_TLS_CERT: cl.cert, TSDASK_TLS_KEY: cl.key });

  const otherCa = makeCa(dir, "other-ca");
  await refused(Client.connect(url, { cluster: "tls", auth: { ...auth, tlsCaFile: otherCa.cert } }), "TlsFailed", /certificate/i);
  const elsewhere = makeCert(dir, ca, "elsewhere", { altNames: ["DNS:nats.example"], usage: "serverAuth" });
  const s2 = await server(`tls { cert_file: "${elsewhere.cert}", key_file: "${elsewhere.key}", timeout: 2 }`);
  await refused(Client.connect(s2.url.replace("nats://", "tls://"), { auth: { tlsCaFile: ca.cert } }), "TlsFailed", /does not match certificate's altnames/);
  // A certificate for "localhost" does not pass for the address 127.0.0.1 (the name is checked against the address as given).
  const local = makeCert(dir, ca, "localname", { altNames: ["DNS:localhost"], usage: "serverAuth" });
  const s3 = await server(`tls { cert_file: "${local.cert}", key_file: "${local.key}", timeout: 2 }`);
  await refused(Client.connect(s3.url.replace("nats://", "tls://"), { auth: { tlsCaFile: ca.cert } }), "TlsFailed", /IP: 127\.0\.0\.1 is not in the cert's list/);
  const plain = await server("");
  await refused(Client.connect(plain.url.replace("nats://", "tls://"), {}), "TlsFailed", /does not offer TLS/);
  // A worker with the wrong CA exits at once (not after --death-timeout).
  const bad = cli(["worker", url, "--nprocs", "1", "--death-timeout", "120", "--tls-ca", otherCa.cert, "--tls-cert", cl.cert, "--tls-key", cl.key, "--local-directory", join(dir, "badtls")]);
  assert.is(await withTimeout(bad.exited, 20_000, "the worker to give up"), 1);
  assert.match(bad.output(), /TLS with NATS at .* failed/);
});

test.run();
