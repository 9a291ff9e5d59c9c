import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { decode, encode, encodeLarge, findUnencodable } from "../../runtime/codec.ts";
import { packArgs } from "../../actors/executor/runner.ts";
import type { TaskGroup } from "../../runtime/protocol.ts";

const roundTrip = <T>(v: T): T => decode<T>(encode(v));

test("JSON-like values, Date, BigInt, Map and Set survive", () => {
  const v = { n: 1.5, i: -7, s: "héllo", b: true, z: null, a: [1, [2, 3]], o: { x: { y: "z" } } };
  assert.equal(roundTrip(v), v);
  const d = new Date("2024-06-01T12:34:56.789Z");
  assert.equal(roundTrip(d).toISOString(), d.toISOString());
  assert.is(roundTrip(2n ** 70n + 1n), 2n ** 70n + 1n);
  assert.is(roundTrip(-5n), -5n);
  const m = roundTrip(new Map<unknown, unknown>([["a", 1], [2, new Set([3, "x"])]]));
  assert.instance(m, Map);
  assert.instance(m.get(2), Set);
  assert.ok((m.get(2) as Set<unknown>).has("x"));
});

test("typed arrays keep their type and values, aligned, from any offset", () => {
  const f = new Float64Array([1.5, -2.25, Math.PI]);
  const inner = new Float64Array(new ArrayBuffer(64), 8, 3); // non-zero offset
  inner.set(f);
  for (const src of [f, inner]) {
    // Prefix a string so the payload starts at an odd offset inside the message.
    const [, out] = roundTrip(["x", src]) as [string, Float64Array];
    assert.instance(out, Float64Array);
    assert.equal(Array.from(out), Array.from(f));
    assert.is(out.byteOffset, 0);
  }
  for (const C of [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array]) {
    const out = roundTrip(new C([1, 2, 3]));
    assert.is(out.constructor, C);
    assert.equal(Array.from(out), [1, 2, 3]);
  }
  assert.equal(Array.from(roundTrip(new BigInt64Array([1n, -2n]))), [1n, -2n]);
  assert.is(new Uint8Array(roundTrip(new Uint8Array([9, 8]).buffer))[1], 8);
});

test("errors travel with name, message and stack", () => {
  const e = new TypeError("bad thing");
  const out = roundTrip(e);
  assert.instance(out, Error);
  assert.is(out.name, "TypeError");
  assert.is(out.message, "bad thing");
  assert.ok(out.stack!.includes("codec.test.ts"));
});

test("undefined becomes null; large integers stay numbers", () => {
  assert.equal(roundTrip([undefined, 2 ** 40, -(2 ** 40)]), [null, 2 ** 40, -(2 ** 40)]);
});

test("malformed input throws instead of returning garbage", () => {
  assert.throws(() => decode(new Uint8Array([0xc1])));
  assert.throws(() => decode(encode({ a: "long string here" }).subarray(0, 5)));
});

test("findUnencodable names the path of a function or symbol", () => {
  assert.is(findUnencodable({ a: [1, { cb: () => 1 }] }, "args"), "args.a[1].cb is a function");
  assert.is(findUnencodable([Symbol("s")], "args"), "args[0] is a symbol");
  assert.is(findUnencodable({ ok: new Float64Array(2), d: new Date() }), undefined);
  const c: Record<string, unknown> = {};
  c.self = c;
  assert.is(findUnencodable(c, "v"), "v.self is a circular reference");
  assert.throws(() => encode({ f: () => 1 }));
});

test("encodeLarge writes the same bytes as encode for big typed arrays", () => {
  const f = new Float64Array(20_000).map((_, i) => i * 0.5);
  const inner = new Float32Array(new ArrayBuffer(4 * 30_000), 4 * 7, 20_000).fill(2.5);
  for (const v of [f, inner]) {
    assert.equal(encodeLarge(v), encode(v));
    const back = decode(encodeLarge(v)) as typeof v;
    assert.is(back.constructor, v.constructor);
    assert.equal(Array.from(back.subarray(0, 5)), Array.from(v.subarray(0, 5)));
  }
  assert.equal(encodeLarge({ small: 1 }), encode({ small: 1 }));
});


test("packNumberArrays rebuilds decoded arrays of numbers as packed arrays of doubles, values unchanged", () => {
  // V8's elements kinds are visible only with --allow-natives-syntax: checked in a child process.
  // It decodes enough messages for the decoder's store site to generalise (every decoded array then
  // holds boxed numbers), and checks what packNumberArrays hands back.
  const codec = new URL("../../runtime/codec.ts", import.meta.url).href;
  const packed = new URL("../../runtime/packed-arrays.ts", import.meta.url).href;
  const script = `
    import { decode, encode } from ${JSON.stringify(codec)};
    import { packNumberArrays } from ${JSON.stringify(packed)};
    const kind = (a) => %HasDoubleElements(a) ? "double" : %HasSmiElements(a) ? "smi" : %HasObjectElements(a) ? "object" : "other";
    const rows = Array.from({ length: 200 }, (_, i) => ({ id: i, f: [1, 2.5 + i, 3], s: ["a", "b"], t: new Float64Array([1, 2]) }));
    let last;
    for (let r = 0; r < 50; r++) last = decode(encode(rows));
    const before = kind(last[100].f);
    const packed = packNumberArrays(last);
    console.log(JSON.stringify({ before, after: kind(packed[100].f), strings: kind(packed[100].s), typed: packed[100].t instanceof Float64Array, top: kind(packNumberArrays(decode(encode([1.5, 2, 3])))), same: JSON.stringify(packed.map((x) => [x.id, x.f, x.s])) === JSON.stringify(rows.map((x) => [x.id, x.f, x.s])) }));
  `;
  const out = execFileSync(process.execPath, ["--allow-natives-syntax", "--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8" });
  const r = JSON.parse(out.trim().split("\n").at(-1)!);
  assert.is(r.before, "object", "decoded arrays hold boxed numbers (the case this exists for)");
  assert.is(r.after, "double");
  assert.is(r.top, "double");
  assert.is(r.strings, "object");
  assert.ok(r.typed);
  assert.ok(r.same);
});

test("packArgs packs a batch's row values and constants, not its columns", () => {
  const g = { cols: [[{ a: [1.5, 2] }, 7], [[3, 4.5]]], consts: [[0.5, 1]] } as unknown as TaskGroup;
  const col = g.cols[0]!;
  packArgs([g]);
  assert.is(g.cols[0], col);
  assert.equal(g.cols, [[{ a: [1.5, 2] }, 7], [[3, 4.5]]]);
  assert.equal(g.consts, [[0.5, 1]]);
});

test.run();
