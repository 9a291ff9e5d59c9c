/**
 * Task rows as bytes (issue 10 item 2): the scheduler's batches carry each row's arguments as the
 * client encoded them, whatever order rows are taken in (re-queued, stolen back, halved), and the
 * executor decodes each group once.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { splitBatch, takeBatch, type BatchContext, type OutBatch } from "../../actors/scheduler/batches.ts";
import type { ExecutorRec } from "../../actors/scheduler/executor-rec.ts";
import { pickRows } from "../../actors/scheduler/row-bytes.ts";
import { TaskTable } from "../../actors/scheduler/tasks.ts";
import { openGroup } from "../../actors/executor/run-group.ts";
import { binBytes, decode, encode, encodeOmittingUndefined } from "../../runtime/codec.ts";
import { isSubmit, isTaskBatch } from "../../runtime/guards.ts";
import type { FnDef } from "../../runtime/protocol.ts";
import { rowBytes } from "../helpers/rows.ts";

const fn = (hash: string): FnDef => ({ kind: "src", hash, name: "", source: "(x) => x", file: "", line: 0 });
const argsOf = (i: number) => [i, `s${"x".repeat(i % 7)}${i}`, { a: [i, i / 2] }];

function setup(rows = 40) {
  const t = new TaskTable();
  const cols = [0, 1, 2].map((j) => Array.from({ length: rows }, (_, i) => argsOf(i)[j]));
  const [bytes, ends, consts] = rowBytes(cols, [7, "shared"]);
  const slots = t.add(0, "f", Uint32Array.from({ length: rows }, (_, i) => 1000 + i), bytes, ends, consts);
  const c: BatchContext = { tasks: t, clientIds: ["c0"], gone: () => false, instance: "S", fns: new Map([["f", fn("f")], ["g", fn("g")]]), mods: new Map(), tickets: [] };
  const rec = { index: 0, auth: "A", assigned: 0, fnsSent: new Set<string>(), modsSent: new Set<string>() } as unknown as ExecutorRec;
  return { t, c, rec, slots, bytes, ends };
}

/** The batch as an executor gets it: encoded, decoded, checked, each group opened. */
function arrive(msg: OutBatch) {
  const m = decode(encodeOmittingUndefined(msg));
  assert.ok(isTaskBatch(m), "a valid task batch");
  return m.groups.map(openGroup);
}

/** Each row's own arguments, by slot. */
function bySlot(groups: ReturnType<typeof arrive>) {
  const out = new Map<number, unknown[]>();
  for (const g of groups) {
    assert.is(g.error, undefined);
    g.slots.forEach((s, i) => out.set(s, g.args[i]!));
  }
  return out;
}

test("a batch carries its rows' bytes as the client wrote them, with every group field present only when set", () => {
  const { c, rec, slots, bytes, ends } = setup();
  const b = takeBatch(c, rec, 10)!;
  assert.is(b.count, 10);
  const g = b.msg.groups[0]!;
  // A fixarray header, then rows 0-9 byte for byte.
  const rows = binBytes(g.rows);
  assert.is(rows[0], 0x90 | 10);
  assert.equal(Array.from(rows.subarray(1)), Array.from(bytes.subarray(0, ends[9]!)));
  const wire = decode<{ groups: Record<string, unknown>[] }>(encodeOmittingUndefined(b.msg));
  assert.not.ok("timeout" in wire.groups[0]! || "careful" in wire.groups[0]! || "tickets" in wire.groups[0]!, "unset fields are left out, not nil");
  const [run] = arrive(b.msg);
  assert.equal(run!.args, Array.from({ length: 10 }, (_, i) => argsOf(i)));
  assert.equal(run!.consts, [7, "shared"]);
  assert.equal(Array.from(run!.slots), Array.from(slots.subarray(0, 10)));
});

test("single rows handed back (a steal, a dead executor) and taken again deliver their own arguments", () => {
  const { t, c, rec, slots } = setup();
  takeBatch(c, rec, 12);
  // The executor gave back rows 3 and 7 (not contiguous) and 11: they go first, then rows 12, 13.
  t.requeueFront([slots[3]!, slots[7]!, slots[11]!]);
  const b = takeBatch(c, rec, 5)!;
  const got = bySlot(arrive(b.msg));
  assert.equal([...got.keys()], [3, 7, 11, 12, 13].map((r) => slots[r]!));
  for (const r of [3, 7, 11, 12, 13]) assert.equal(got.get(slots[r]!), argsOf(r), `row ${r}`);
});

test("a halved batch (too large for one message) keeps every row with its own arguments, across chunks", () => {
  const { t, c, rec, slots } = setup(30);
  const [b2, e2] = rowBytes([["g0", "g1", "g2", "g3", "g4", "g5"]]);
  const more = t.add(0, "g", Uint32Array.from({ length: 6 }, (_, i) => 5000 + i), b2, e2, undefined);
  takeBatch(c, rec, 25);
  t.requeueFront([slots[2]!]);
  const b = takeBatch(c, rec, 12)!; // row 2 and rows 25-29 (one group, two runs of bytes), then the second chunk's 6 rows
  assert.is(b.msg.groups.length, 2);
  const halves = splitBatch(c, b.msg);
  const got = new Map<number, unknown[]>();
  for (const h of halves) for (const [s, a] of bySlot(arrive(h))) got.set(s, a);
  assert.is(got.size, 12);
  for (const r of [2, 25, 26, 27, 28, 29]) assert.equal(got.get(slots[r]!), argsOf(r));
  more.forEach((s, i) => assert.equal(got.get(s), [`g${i}`]));
  assert.ok(halves.every((h) => h.fns?.[0]?.hash === "g"), "the new definition travels with both halves");
});

test("a re-submission's missing rows are copied out as a chunk of their own", () => {
  const { bytes, ends } = setup(10);
  const picked = pickRows(bytes, ends, [1, 2, 6]);
  assert.is(picked.ends.length, 3);
  const rows = [0, 1, 2].map((i) => decode(picked.rows.subarray(i ? picked.ends[i - 1]! : 0, picked.ends[i]!)));
  assert.equal(rows, [argsOf(1), argsOf(2), argsOf(6)]);
});

test("submits whose row ends do not fit their rows are refused; arguments that do not decode fail their own group only", () => {
  const [rows, ends] = rowBytes([[1, 2, 3]]);
  const submit = (e: Uint32Array, r = rows) => ({ client: "c", groups: [{ fn: "f", keys: Uint32Array.of(1, 2, 3), rows: r, ends: e }] });
  assert.ok(isSubmit(submit(ends)));
  assert.not.ok(isSubmit(submit(Uint32Array.of(2, 2, 6))), "not increasing");
  assert.not.ok(isSubmit(submit(Uint32Array.of(2, 4, 99))), "past the rows' end");
  assert.not.ok(isSubmit(submit(Uint32Array.of(2, 4))), "one end per key");
  const bad = openGroup({ client: "c", fn: "f".repeat(64), slots: Uint32Array.of(1, 2), keys: Uint32Array.of(1, 2), rows: Uint8Array.of(0x92, 0xc1, 0x91) });
  assert.is(bad.error?.code, "NotSerializable");
  assert.is(bad.args.length, 2);
  const ok = openGroup({ client: "c", fn: "f", slots: Uint32Array.of(1), keys: Uint32Array.of(1), rows: encode([[5]]) });
  assert.equal(ok.args, [[5]]);
});

test.run();
