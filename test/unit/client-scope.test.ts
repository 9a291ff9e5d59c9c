/** Client scopes (protocol.ts): which scope a client takes, the ids and subjects it gives. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { clientScope } from "../../runtime/nats-auth.ts";
import { clientIdOf, isClientId, subjects } from "../../runtime/protocol.ts";

test("the scope is the explicit one, else the NATS user name (auth or URL), else none", () => {
  assert.is(clientScope("lab-carol", { user: "home-alice", password: "x" }, "nats://h:4222"), "lab-carol");
  assert.is(clientScope(undefined, { user: "home-alice", password: "x" }, "nats://h:4222"), "home-alice");
  assert.is(clientScope(undefined, {}, "nats://home-bob:pw@h:4222,nats://h2:4222"), "home-bob");
  assert.is(clientScope(undefined, { token: "t" }, "nats://h:4222"), undefined);
  assert.is(clientScope(undefined, undefined, "nats://TOKEN@h:4222"), undefined, "a token in the URL is no user");
  assert.is(clientScope(undefined, { nkeySeedFile: "/x.nk" }, "nats://h:4222"), undefined);
  assert.is(clientScope(undefined, { user: "alice.smith", password: "x" }, "nats://h:4222"), undefined, "not a subject token: no scope");
  assert.throws(() => clientScope("a.b", undefined, "nats://h:4222"), /BadOption|scope/);
  assert.throws(() => clientScope(">", undefined, "nats://h:4222"), /scope/);
});

test("a scoped client's id, results, logs and inbox are under its scope; an unscoped one's as before", () => {
  const s = subjects("home");
  const id = clientIdOf("ab12", "home-alice");
  assert.is(id, "home-alice.ab12");
  assert.is(s.results(id), "tsdask.home.results.home-alice.ab12");
  assert.is(s.log(id), "tsdask.home.log.home-alice.ab12");
  assert.is(s.inboxOf("home-alice"), "tsdask.home._INBOX.home-alice");
  assert.is(clientIdOf("ab12"), "ab12");
  assert.is(s.results("ab12"), "tsdask.home.results.ab12");
  assert.is(s.inboxOf(undefined), s.inbox);
  for (const ok of ["ab12", "home-alice.ab12"]) assert.ok(isClientId(ok), ok);
  for (const bad of ["a.b.c", "a.*", ">", "a b", "", "a."]) assert.not.ok(isClientId(bad), bad);
});

test.run();
