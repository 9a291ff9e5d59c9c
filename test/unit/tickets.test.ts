/** Result tickets (runtime/tickets.ts): issued for keys, accepted for exactly those keys under the same secret. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { newTicketSecret, TicketKey, TICKET_WORDS } from "../../runtime/tickets.ts";

const keys = Uint32Array.from({ length: 1000 }, (_, i) => i * 13 + 7);

test("tickets issued for keys verify for those keys", () => {
  const k = new TicketKey(newTicketSecret());
  const t = k.issue(keys);
  assert.is(t.length, keys.length * TICKET_WORDS);
  const bad = new Uint8Array(keys.length);
  assert.is(k.verify(keys, t, bad), 0);
  assert.ok(bad.every((b) => b === 0));
});

test("a ticket moved to another key, a flipped bit, a random one, or one under another secret fails (per row)", () => {
  const k = new TicketKey(newTicketSecret());
  const other = new TicketKey(newTicketSecret());
  const t = k.issue(keys);
  const swapped = t.slice();
  swapped.set(t.subarray(TICKET_WORDS, 2 * TICKET_WORDS), 0); // row 0 carries row 1's ticket
  swapped[TICKET_WORDS * 5 + 1]! ^= 1; // row 5: one bit flipped
  const bad = new Uint8Array(keys.length);
  assert.is(k.verify(keys, swapped, bad), 2);
  assert.is(bad[0], 1);
  assert.is(bad[5], 1);
  assert.is(bad[1], 0);
  const bad2 = new Uint8Array(keys.length);
  assert.is(k.verify(keys, other.issue(keys), bad2), keys.length, "another client's tickets prove nothing here");
  const bad3 = new Uint8Array(keys.length);
  assert.is(k.verify(keys, new Uint32Array(keys.length * TICKET_WORDS).map(() => (Math.random() * 2 ** 32) >>> 0), bad3), keys.length);
  const bad4 = new Uint8Array(keys.length);
  assert.is(k.verify(keys, new Uint32Array(keys.length * TICKET_WORDS), bad4), keys.length, "zeros (an executor echoing nothing) fail");
});

test("a missing or mis-sized ticket column fails the whole message", () => {
  const k = new TicketKey(newTicketSecret());
  const bad = new Uint8Array(keys.length);
  assert.is(k.verify(keys, undefined, bad), -1);
  assert.is(k.verify(keys, k.issue(keys).subarray(TICKET_WORDS), bad), -1);
  assert.is(k.verify(keys, [1, 2, 3], bad), -1);
});

test("one key serves any number of calls of any size (its cipher keeps no state between blocks)", () => {
  const k = new TicketKey(newTicketSecret());
  const batches = [1, 3, 1000, 1, 17].map((n, b) => Uint32Array.from({ length: n }, (_, i) => i * 31 + b));
  const issued = batches.map((ks) => k.issue(ks));
  issued.reverse().forEach((t, j) => {
    const ks = batches[batches.length - 1 - j]!;
    assert.is(k.verify(ks, t, new Uint8Array(ks.length)), 0);
  });
  assert.equal([...k.issue(Uint32Array.of(5))], [...k.issue(Uint32Array.of(5))], "a key's ticket does not depend on when it was issued");
});

test("a secret must be 16 bytes", () => {
  assert.throws(() => new TicketKey(new Uint8Array(8)));
});

test.run();
