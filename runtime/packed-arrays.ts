/**
 * Packed arrays for user code. Arrays decoded from msgpack (runtime/codec.ts) or from Node's
 * "advanced" IPC serialization hold boxed numbers (V8's PACKED_ELEMENTS / HOLEY_ELEMENTS), whatever
 * they contain; literal arrays of numbers are packed doubles. See {@link packNumberArrays}.
 */
/**
 * Rebuilds the arrays of numbers inside a decoded value as packed arrays of doubles (or of small
 * integers), in place through arrays and plain objects, and returns the value (a top-level array of
 * numbers is returned rebuilt). Call it on values that user code will read, once per value.
 *
 * Why: msgpack's decoder fills every array through one store site, which V8 soon generalises, so
 * after a few messages every decoded array holds boxed numbers (PACKED_ELEMENTS), whatever it
 * contains; V8's deserializer (IPC) makes them HOLEY_ELEMENTS. A hot loop reading such arrays is
 * measurably slower than one over literal arrays: examples/brute-force's score() took 6.6 % more
 * CPU per candidate on decoded candidates than on made ones (medians of 7 alternated runs pinned to
 * one vCPU: 0.835 against 0.783 ms) and none more once repacked (0.767). That was the executors'
 * unexplained slowdown against a plain loop (issue 10).
 *
 * At most `budget` elements and properties are visited (the rest stay as decoded): the walk costs
 * ~1 ns per element, small beside the decoding itself.
 */
export function packNumberArrays<T>(value: T, budget = 1 << 22): T {
  const left = { n: budget };
  return repack(value, left, 0) as T;
}

function repack(v: unknown, left: { n: number }, depth: number): unknown {
  if (v === null || typeof v !== "object" || left.n <= 0 || depth > 64) return v;
  if (Array.isArray(v)) {
    const n = v.length;
    left.n -= n;
    let numbers = n > 0;
    for (let i = 0; i < n; i++) {
      const x = v[i];
      if (typeof x !== "number") {
        numbers = false;
        if (x !== null && typeof x === "object") {
          const y = repack(x, left, depth + 1);
          if (y !== x) v[i] = y;
        }
      }
    }
    return numbers ? packedNumbers(v as number[]) : v;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return v; // typed arrays, Map, Date, DataRef…
  const o = v as Record<string, unknown>;
  for (const k in o) {
    left.n--;
    const x = o[k];
    if (x !== null && typeof x === "object") {
      const y = repack(x, left, depth + 1);
      if (y !== x) o[k] = y;
    }
  }
  return v;
}

/** A copy of `a` built by appending numbers only: V8 keeps it packed, of doubles or small integers. */
function packedNumbers(a: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < a.length; i++) out.push(a[i]!);
  return out;
}
