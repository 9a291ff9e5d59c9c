/** The scheduler's data store as a plain table: chunks placed by index, commits, owners, abandoned values. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { DataStore } from "../../actors/scheduler/data/data-store.ts";
import { ChunkedValue } from "../../runtime/chunked-value.ts";
import { bytesHash } from "../../runtime/data-transfer.ts";

const chunk = (hash: string, index: number, bytes: Uint8Array, size: number, chunks: number, client = "c1") => ({ client, hash, size, index, chunks, bytes });

test("chunks arriving out of order assemble the value; a commit lists what is missing", () => {
  const s = new DataStore(4);
  const all = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  const h = bytesHash(all);
  assert.equal(s.put(chunk(h, 2, all.subarray(8), 10, 3)), { ok: true, have: false });
  assert.equal(s.put({ client: "c1", hash: h, size: 10, index: 0, chunks: 3, commit: true }), { ok: true, have: false, missing: [0, 1] });
  s.put(chunk(h, 0, all.subarray(0, 4), 10, 3));
  assert.equal(s.put(chunk(h, 1, all.subarray(4, 8), 10, 3)), { ok: true, have: true });
  const got = s.get({ hash: h, index: 1 });
  assert.ok(got.ok);
  if (got.ok) assert.equal([...got.bytes], [5, 6, 7, 8]);
  assert.is(s.bytes, 10);
});

test("a value whose chunks stopped arriving is swept; complete values stay", () => {
  const s = new DataStore(4);
  const done = bytesHash(Uint8Array.of(1, 2));
  s.put(chunk(done, 0, Uint8Array.of(1, 2), 2, 1));
  s.put(chunk("half", 0, Uint8Array.of(1, 2, 3, 4), 8, 2));
  assert.ok(s.knows("half"));
  assert.is(s.sweepAbandoned(60_000), 0, "not idle yet");
  assert.is(s.sweepAbandoned(60_000, Date.now() + 61_000), 1);
  assert.not.ok(s.knows("half"));
  assert.ok(s.has(done));
});

test("a value is dropped when its last owner releases it", () => {
  const s = new DataStore(4);
  const v = bytesHash(Uint8Array.of(1));
  s.put(chunk(v, 0, Uint8Array.of(1), 1, 1, "a"));
  s.put({ client: "b", hash: v, size: 1, index: 0, chunks: 1, probe: true });
  assert.ok(s.ownedBy(v, "a") && s.ownedBy(v, "b") && !s.ownedBy(v, "c"));
  s.release("a", [v]);
  assert.ok(s.has(v), "b still owns it");
  s.release("b", [v]);
  assert.not.ok(s.has(v));
});

test("a forged chunk never becomes the stored value: thrown away, reported, the honest sender completes it", () => {
  const s = new DataStore(4);
  const corrupt: string[] = [];
  s.onCorrupt = (h, why) => corrupt.push(`${h}: ${why}`);
  const all = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  const h = bytesHash(all);
  // The forger's chunk 1 arrives first; the honest one is then a duplicate.
  assert.equal(s.put(chunk(h, 1, Uint8Array.of(6, 6, 6, 6), 10, 3, "evil")), { ok: true, have: false });
  s.put(chunk(h, 0, all.subarray(0, 4), 10, 3));
  s.put(chunk(h, 1, all.subarray(4, 8), 10, 3));
  assert.equal(s.put(chunk(h, 2, all.subarray(8), 10, 3)), { ok: true, have: false }, "complete but wrong: not stored");
  assert.is(corrupt.length, 1);
  assert.not.ok(s.has(h));
  assert.equal(s.get({ hash: h, index: 0 }).ok, false, "nothing is served");
  // The honest sender's commit finds everything missing and sends it again.
  assert.equal(s.put({ client: "c1", hash: h, size: 10, index: 0, chunks: 3, commit: true }), { ok: true, have: false, missing: [0, 1, 2] });
  for (const [i, b] of [all.subarray(0, 4), all.subarray(4, 8), all.subarray(8)].entries()) s.put(chunk(h, i, b, 10, 3));
  assert.ok(s.has(h));
  const got = s.get({ hash: h, index: 1 });
  assert.ok(got.ok && [...got.bytes].join() === "5,6,7,8");
});

test("a chunk that disagrees on the value's size starts the value over; a misfit chunk is refused", () => {
  const s = new DataStore(4);
  let corrupt = 0;
  s.onCorrupt = () => corrupt++;
  const all = Uint8Array.from([1, 2, 3, 4, 5, 6]);
  const h = bytesHash(all);
  s.put(chunk(h, 0, Uint8Array.of(9, 9, 9, 9, 9, 9, 9, 9), 16, 2, "evil"));
  s.put(chunk(h, 0, all.subarray(0, 4), 6, 2));
  assert.is(corrupt, 1);
  assert.equal(s.put(chunk(h, 1, all, 6, 2)).ok, false, "a last chunk of the whole size fits no geometry: refused");
  assert.equal(s.put(chunk(h, 1, all.subarray(4), 6, 2)), { ok: true, have: true });
  // Another chunk length that also fits the size (5 + 1 instead of 4 + 2) starts over too.
  const g = bytesHash(Uint8Array.of(1, 2, 3, 4, 5, 7));
  s.put(chunk(g, 0, Uint8Array.of(9, 9, 9, 9, 9), 6, 2, "evil"));
  s.put(chunk(g, 0, Uint8Array.of(1, 2, 3, 4), 6, 2));
  assert.is(corrupt, 2);
  assert.equal(s.put(chunk(g, 1, Uint8Array.of(5, 7), 6, 2)), { ok: true, have: true });
});

test("ChunkedValue: fixed geometry, hashed in order as chunks arrive", () => {
  const all = Uint8Array.from({ length: 10 }, (_, i) => i);
  const v = new ChunkedValue(10, 3);
  assert.is(v.place(2, all.subarray(8)), "placed", "the last chunk first fixes the chunk length (4)");
  assert.is(v.place(0, all.subarray(0, 3)), "bad", "shorter than the chunk length");
  assert.is(v.place(0, all.subarray(0, 4)), "placed");
  assert.is(v.place(0, all.subarray(0, 4)), "duplicate");
  assert.is(v.place(3, all.subarray(0, 4)), "bad", "no such chunk");
  assert.not.ok(v.verify(bytesHash(all)), "incomplete");
  assert.is(v.place(1, all.subarray(4, 8)), "placed");
  assert.ok(v.verify(bytesHash(all)));
  assert.not.ok(v.verify(bytesHash(all.subarray(1))));
  const w = new ChunkedValue(10, 3);
  assert.is(w.place(2, all.subarray(7)), "bad", "3 chunks of (10 - 3) / 2 bytes do not hold 10 bytes");
  const empty = new ChunkedValue(0, 1);
  assert.is(empty.place(0, new Uint8Array(0)), "placed");
  assert.ok(empty.verify(bytesHash(new Uint8Array(0))));
});

test.run();
