/** The scheduler's data store as a plain table: chunks placed by index, commits, owners, abandoned values. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { DataStore } from "../../actors/scheduler/data-store.ts";

const chunk = (hash: string, index: number, bytes: Uint8Array, size: number, chunks: number, client = "c1") => ({ client, hash, size, index, chunks, bytes });

test("chunks arriving out of order assemble the value; a commit lists what is missing", () => {
  const s = new DataStore(4);
  const all = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(s.put(chunk("h", 2, all.subarray(8), 10, 3)), { ok: true, have: false });
  assert.equal(s.put({ client: "c1", hash: "h", size: 10, index: 0, chunks: 3, commit: true }), { ok: true, have: false, missing: [0, 1] });
  s.put(chunk("h", 0, all.subarray(0, 4), 10, 3));
  assert.equal(s.put(chunk("h", 1, all.subarray(4, 8), 10, 3)), { ok: true, have: true });
  const got = s.get({ hash: "h", index: 1 });
  assert.ok(got.ok);
  if (got.ok) assert.equal([...got.bytes], [5, 6, 7, 8]);
  assert.is(s.bytes, 10);
});

test("a value whose chunks stopped arriving is swept; complete values stay", () => {
  const s = new DataStore(4);
  s.put(chunk("done", 0, Uint8Array.of(1, 2), 2, 1));
  s.put(chunk("half", 0, Uint8Array.of(1, 2, 3, 4), 8, 2));
  assert.ok(s.knows("half"));
  assert.is(s.sweepAbandoned(60_000), 0, "not idle yet");
  assert.is(s.sweepAbandoned(60_000, Date.now() + 61_000), 1);
  assert.not.ok(s.knows("half"));
  assert.ok(s.has("done"));
});

test("a value is dropped when its last owner releases it", () => {
  const s = new DataStore(4);
  s.put(chunk("v", 0, Uint8Array.of(1), 1, 1, "a"));
  s.put({ client: "b", hash: "v", size: 1, index: 0, chunks: 1, probe: true });
  s.release("a", ["v"]);
  assert.ok(s.has("v"), "b still owns it");
  s.release("b", ["v"]);
  assert.not.ok(s.has("v"));
});

test.run();
