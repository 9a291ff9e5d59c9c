/** runtime/transport.ts on a real nats-server: an error of a subscription itself reaches the actor that made it, named, never dropped. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Actor, silentLogger, type Reply } from "../runtime/actor.ts";
import { routes } from "../runtime/routes.ts";
import { Transport } from "../runtime/transport.ts";
import type { TsDaskError } from "../runtime/errors.ts";
import { cleanup, onCleanup, startTestNats, waitFor, withTimeout } from "./helpers/cluster.ts";

test.after(cleanup);

// A user that may subscribe only to cluster `ok`'s subjects (and replies).
const CONFIG = `authorization { users: [ { user: "u", password: "p", permissions: { subscribe: { allow: ["tsdask.ok.>", "_INBOX.>"] } } } ] }`;

test("a subscription the server refuses is reported as SubscriptionFailed, to the caller and to the actor", async () => {
  const nats = await startTestNats({ config: CONFIG });
  const tx = await Transport.connect({ servers: nats.url, auth: { user: "u", password: "p" }, name: "refused-sub test" });
  onCleanup(() => tx.close());
  const errors: TsDaskError[] = [];
  tx.subscribe("tsdask.forbidden.x", () => {}, { onError: (e) => errors.push(e) });
  tx.subscribe("tsdask.ok.x", () => {}, { onError: (e) => errors.push(e) });
  await tx.flush();
  await withTimeout(waitFor(() => errors.length > 0, { timeoutMs: 5000, label: "the refusal" }), 6000, "refusal");
  assert.is(errors.length, 1, "only the forbidden subscription failed");
  assert.is(errors[0]!.code, "SubscriptionFailed");
  assert.match(errors[0]!.message, "tsdask.forbidden.x");
  assert.match(errors[0]!.message, /permission/i);

  // An actor serving a route of a cluster this user may not read hears of it the same way.
  const actor = new Actor(tx, "forbidden", silentLogger);
  actor.serve(routes.alive, () => {});
  await tx.flush();
  await withTimeout(waitFor(() => actor.subscriptionErrors.length > 0, { timeoutMs: 5000, label: "the actor's refusal" }), 6000, "actor refusal");
  assert.match(actor.subscriptionErrors[0]!.message, "tsdask.forbidden.alive");
  actor.stopListening();
});

test("an answer ready only after the actor's connection closed is dropped, not thrown into the process", async () => {
  const nats = await startTestNats();
  const tx = await Transport.connect({ servers: nats.url, name: "closing actor" });
  const actor = new Actor(tx, "closing", silentLogger);
  await tx.close();
  // What an embedded scheduler did when an upload's fan-out finished after Client.close(): CONNECTION_CLOSED, unhandled.
  actor.respond("_INBOX.asker" as Reply<{ ok: boolean }>, { ok: true });
  assert.ok(tx.isClosed);
  assert.is(tx.droppedAfterClose, 1, "dropped and counted");
});

test.run();
