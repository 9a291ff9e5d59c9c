import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { concatParts, decode, decodeViews, encode, Encoded, encodeLarge, encodeLargeParts, encodeSpliced, findUnencodable } from "../../runtime/codec.ts";
import { pureKey } from "../../client/dedup.ts";
import { packArgs } from "../../actors/executor/runner.ts";
import type { RunGroup } from "../../actors/executor/run-group.ts";

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

test("encodeSpliced writes values encoded already as they are: the same bytes as encoding the values", () => {
  const values: unknown[] = [1, -7.5, "héllo", null, [1, [2]], { a: { b: "c" } }, new Float64Array([1, 2, 3]), new Map([["k", new Set([1])]]), 2n ** 70n, new Uint8Array(70_000).fill(7), "x".repeat(300)];
  for (const v of values) {
    const msg = { client: "c", seq: 3, groups: [{ fn: "h", keys: new Uint32Array([5, 6]), cols: [[v, 2], [new Encoded(encode(v)), v]] }] };
    const plain = { client: "c", seq: 3, groups: [{ fn: "h", keys: new Uint32Array([5, 6]), cols: [[v, 2], [v, v]] }] };
    assert.equal(encodeSpliced(msg), encode(plain), `spliced ${String(v).slice(0, 20)}`);
  }
  assert.equal(encodeSpliced(new Encoded(encode([1, 2]))), encode([1, 2]));
  // The plain encoder is untouched: an Encoded there is just an object.
  assert.equal(decode(encode({ e: new Encoded(Uint8Array.of(1)) })), { e: { bytes: Uint8Array.of(1) } });
});

test("pureKey from a submit's per-argument encodings equals pureKey from the values (submit and map share keys)", () => {
  for (const args of [[1, "a"], [], [{ x: [1, 2] }], Array.from({ length: 20 }, (_, i) => i)]) {
    assert.is(pureKey("fh", args, args.map((a) => encode(a))), pureKey("fh", args));
  }
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


const KINDS = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array] as const;
/** A typed array of `Ctor` with `bytes` bytes of varied content (its values from i * 7 + 1). */
const sample = (Ctor: (typeof KINDS)[number], bytes: number) => {
  const n = bytes / Ctor.BYTES_PER_ELEMENT;
  return Ctor === BigInt64Array || Ctor === BigUint64Array ? new Ctor(n).map((_, i) => BigInt(i * 7 + 1)) : new (Ctor as Float64ArrayConstructor)(n).map((_, i) => i * 7 + 1);
};

test("a large typed array of every kind: encodeLargeParts joins to encode's bytes, raw bytes at offset 8; decodeViews views them, decode copies", () => {
  for (const Ctor of KINDS) {
    const v = sample(Ctor, 1 << 17);
    const parts = encodeLargeParts(v);
    assert.is(parts.length, 2, Ctor.name);
    assert.is(parts[0]!.byteLength, 8, `${Ctor.name}: header`);
    assert.is(parts[1]!.buffer, v.buffer, `${Ctor.name}: the array's own bytes, not a copy`);
    const bytes = concatParts(parts);
    assert.equal(bytes, encode(v), Ctor.name);
    assert.equal(bytes, encodeLarge(v), Ctor.name);
    const viewed = decodeViews(bytes) as typeof v;
    assert.is(viewed.constructor, Ctor);
    assert.is(viewed.buffer, bytes.buffer, `${Ctor.name}: a view of the owned bytes`);
    assert.is(viewed.byteOffset, 8);
    assert.equal(Array.from(viewed as ArrayLike<unknown>), Array.from(v as ArrayLike<unknown>), Ctor.name);
    const copied = decode(bytes) as typeof v;
    assert.is.not(copied.buffer, bytes.buffer, `${Ctor.name}: decode copies`);
    assert.equal(Array.from(copied as ArrayLike<unknown>), Array.from(v as ArrayLike<unknown>), Ctor.name);
  }
});

test("decodeViews copies a typed array whose bytes are not aligned for its kind, and views one that is", () => {
  // Inside a map the raw bytes start wherever the encoding puts them: "a" and "bb" shift them by one.
  for (const key of ["a", "bb"]) {
    const v = { [key]: sample(Float64Array, 1 << 17) as Float64Array, small: Float64Array.of(1.5, 2.5), bytes: Uint8Array.of(1, 2, 3) };
    const bytes = encode(v);
    const back = decodeViews(bytes) as typeof v;
    const f = back[key]!;
    assert.is(f.byteOffset % 8, 0, "a Float64Array is always aligned (viewed or copied)");
    const at = bytes.indexOf(0x80 | 8) + 2; // PADDED | Float64Array's dtype, then the padding count
    if (at % 8 === 0) assert.is(f.buffer, bytes.buffer, "aligned: a view");
    else assert.is.not(f.buffer, bytes.buffer, "unaligned: a copy");
    assert.equal(Array.from(f), Array.from(v[key]!));
    assert.equal(Array.from(back.small), [1.5, 2.5]);
    assert.equal(Array.from(back.bytes), [1, 2, 3]);
    assert.is(back.bytes.buffer, bytes.buffer, "a Uint8Array is always viewable");
  }
  // Bytes that start at an odd offset of their buffer: nothing 8-byte is viewed.
  const odd = new Uint8Array(encodeLarge(sample(Float64Array, 1 << 17)).byteLength + 1).subarray(1);
  odd.set(encodeLarge(sample(Float64Array, 1 << 17)));
  const back = decodeViews(odd) as Float64Array;
  assert.is.not(back.buffer, odd.buffer);
  assert.equal(Array.from(back.subarray(0, 4)), [1, 8, 15, 22]);
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

test("packArgs packs a batch's row values and constants, not the rows' own arrays", () => {
  const g = { args: [[{ a: [1.5, 2] }, [3, 4.5]], [7]], consts: [[0.5, 1]] } as unknown as RunGroup;
  const row = g.args[0]!;
  packArgs([g]);
  assert.is(g.args[0], row);
  assert.equal(g.args, [[{ a: [1.5, 2] }, [3, 4.5]], [7]]);
  assert.equal(g.consts, [[0.5, 1]]);
});

test.run();
