/** Errors typed end to end: what a peer refuses reaches the user under the refusal's own code, and names and flags fail through the table. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect } from "nats";
import { Client, Errors, TsDaskError } from "../index.ts";
import { decode, encode } from "../runtime/codec.ts";
import { subjects, type RegisterReply } from "../runtime/protocol.ts";
import { routes } from "../runtime/routes.ts";
import { parseDashboardAddress } from "../actors/scheduler/observation/dashboard/server.ts";
import { hello } from "../runtime/version.ts";
import { cleanup, startTestNats, withTimeout } from "./helpers/cluster.ts";

test.after(cleanup);

test("a scheduler's refusal of a client reaches Client.connect under its own code, not as a protocol mismatch", async () => {
  const nats = await startTestNats();
  // A peer answering registrations on the cluster (as a scheduler of this cluster would, for a
  // client id another peer holds): the refusal is the table's ClientIdTaken.
  const nc = await connect({ servers: nats.url });
  const s = subjects("refusing");
  const refused = Errors.ClientIdTaken("someone");
  nc.subscribe(routes.register.subject(s, ""), {
    callback: (_e, m) => m.respond(encode({ ok: false, code: refused.code, message: refused.message } satisfies RegisterReply)),
  });
  await nc.flush();
  try {
    const e = await withTimeout(Client.connect(nats.url, { cluster: "refusing", connectTimeoutMs: 3000 }).then(() => undefined, (x: unknown) => x), 15_000, "connect");
    assert.instance(e, TsDaskError);
    assert.is((e as TsDaskError).code, "ClientIdTaken");
    assert.is((e as TsDaskError).name, "TsDaskError[ClientIdTaken]");
    assert.is((e as TsDaskError).message, refused.message);
  } finally {
    await nc.close();
  }
});

test("a scheduler of another ts-dask version with the same protocol: the client connects and warns", async () => {
  const nats = await startTestNats();
  const nc = await connect({ servers: nats.url });
  const s = subjects("older");
  nc.subscribe(routes.register.subject(s, ""), {
    callback: (_e, m) => m.respond(encode({ ok: true, scheduler: "old-1", heartbeatMs: 500, hello: { ...hello(), version: "0.0.1" } } satisfies RegisterReply)),
  });
  await nc.flush();
  const client = await withTimeout(Client.connect(nats.url, { cluster: "older", connectTimeoutMs: 3000 }), 15_000, "connect");
  try {
    assert.match(client.versionWarning ?? "", `This client runs ts-dask ${hello().version}, the scheduler ts-dask 0.0.1`);
  } finally {
    await withTimeout(client.close(), 10_000, "close");
    await nc.close();
  }
});

test("cluster names, client scopes and --dashboard-address fail with named errors", async () => {
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return e instanceof TsDaskError ? e.code : `not a TsDaskError: ${String(e)}`;
    }
    return "no error";
  };
  assert.is(code(() => subjects("a.b")), "BadName");
  const e = await Client.connect("nats://127.0.0.1:1", { cluster: "x y" }).then(() => undefined, (x: unknown) => x);
  assert.is((e as TsDaskError).code, "BadName");
  assert.is(code(() => parseDashboardAddress("host:99999")), "BadFlag");
  assert.is(code(() => parseDashboardAddress("a:b:c")), "BadFlag");
});

test.run();
