/** A cheap, bounded guess at how many bytes a value takes on the wire (msgpack). */

/**
 * Estimates the encoded size of `v`, giving up (returning a number ≥ `cap`) as soon as the count
 * passes `cap`, so a 10 MB array costs as little to judge as a 2 kB one. Typed arrays and
 * ArrayBuffers count their bytes; strings their length; numbers 9 bytes; containers their contents.
 *
 * @param cap stop counting above this (default 1 MiB)
 */
export function estimateSize(v: unknown, cap = 1 << 20): number {
  let total = 0;
  const stack: unknown[] = [v];
  let seen = 0;
  while (stack.length) {
    const x = stack.pop();
    if (++seen > 100_000) return Math.max(total, cap); // a huge object graph: big enough
    switch (typeof x) {
      case "number":
        total += 9;
        break;
      case "string":
        total += x.length + 5;
        break;
      case "boolean":
      case "undefined":
        total += 1;
        break;
      case "bigint":
        total += 24;
        break;
      case "object":
        if (x === null) total += 1;
        else if (ArrayBuffer.isView(x)) total += x.byteLength + 6;
        else if (x instanceof ArrayBuffer) total += x.byteLength + 6;
        else if (x instanceof Date) total += 15;
        else if (Array.isArray(x)) {
          total += 5;
          for (let i = 0; i < x.length; i++) {
            const el: unknown = x[i];
            if (typeof el === "number") total += 9;
            else stack.push(el);
            if (total >= cap) return total;
          }
        } else if (x instanceof Map) {
          total += 8;
          for (const [k, val] of x) stack.push(k, val);
        } else if (x instanceof Set) {
          total += 8;
          for (const val of x) stack.push(val);
        } else {
          total += 5;
          for (const k in x as Record<string, unknown>) {
            total += k.length + 1;
            stack.push((x as Record<string, unknown>)[k]);
          }
        }
        break;
      default:
        total += 8;
    }
    if (total >= cap) return total;
  }
  return total;
}
