/**
 * The one msgpack codec every actor uses. Beyond msgpack's own types (and Date, built in):
 * - ext 0: every typed array, DataView and ArrayBuffer, as [dtype byte][raw bytes]; from 64 KiB on,
 *   as [0x80 | dtype][0][raw bytes], so that for a top-level value (ext 32's 6-byte header first) the
 *   raw bytes start at offset 8 of the encoding: aligned for every element size. {@link decode}
 *   copies into a fresh, aligned buffer, so values never keep a NATS socket chunk alive and a
 *   Float64Array arrives as a Float64Array whatever its offset in the message; {@link decodeViews}
 *   views them instead when aligned (bytes the caller owns, e.g. a value assembled from chunks).
 * - ext 1: Map, Set, BigInt, Error and DataRef (a scattered value), as [tag byte][msgpack body].
 * Two extensions only: every registered extension is tried on every object encoded (measured with @msgpack/msgpack 3: 12
 * extensions took small-message encoding from ~180k/s to 87k/s).
 */
import { Decoder, Encoder, ExtensionCodec } from "@msgpack/msgpack";
import { DataRef, refStats } from "./data-ref.ts";

const TYPED = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
] as const;
const DTYPE_DATAVIEW = 100;
const DTYPE_ARRAYBUFFER = 101;

const TAG_MAP = 1;
const TAG_SET = 2;
const TAG_BIGINT = 3;
const TAG_ERROR = 4;
const TAG_REF = 5;

function dtypeOf(v: ArrayBufferView): number {
  // Buffer is a Uint8Array subclass: it travels as (and arrives as) a Uint8Array.
  for (let i = 0; i < TYPED.length; i++) if (v instanceof TYPED[i]) return i;
  return DTYPE_DATAVIEW;
}

/** From this size on a typed array's raw bytes follow a 2-byte header (see the module comment). */
const ALIGNED_FROM = 1 << 16;
/** The flag on the dtype byte of the 2-byte header; the byte after it counts padding bytes (0 when written here). */
const PADDED = 0x80;

/** Decoding bytes the caller owns (see decodeViews): typed arrays may view them. */
let owned = false;

function withHeader(header: number, bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.byteLength + 1);
  out[0] = header;
  out.set(bytes, 1);
  return out;
}

const extensions = new ExtensionCodec();
extensions.register({
  type: 0,
  encode(v: unknown) {
    if (ArrayBuffer.isView(v)) {
      const raw = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      if (v.byteLength < ALIGNED_FROM) return withHeader(dtypeOf(v), raw);
      const out = new Uint8Array(raw.byteLength + 2);
      out[0] = PADDED | dtypeOf(v);
      out.set(raw, 2);
      return out;
    }
    if (v instanceof ArrayBuffer) return withHeader(DTYPE_ARRAYBUFFER, new Uint8Array(v));
    return null;
  },
  decode(data: Uint8Array) {
    let dtype = data[0]!;
    let start = 1;
    if (dtype & PADDED) {
      dtype &= ~PADDED;
      start = 2 + data[1]!;
    }
    if (owned && dtype !== DTYPE_ARRAYBUFFER) {
      // The caller's own buffer: a view when the offset suits the element size (copy otherwise).
      const at = data.byteOffset + start;
      const len = data.byteLength - start;
      if (dtype === DTYPE_DATAVIEW) return new DataView(data.buffer, at, len);
      const Ctor = TYPED[dtype];
      if (Ctor && at % Ctor.BYTES_PER_ELEMENT === 0 && len % Ctor.BYTES_PER_ELEMENT === 0) return new Ctor(data.buffer as ArrayBuffer, at, len / Ctor.BYTES_PER_ELEMENT);
    }
    // Copy into a new, aligned ArrayBuffer (never a view of the socket chunk). `data` may be a
    // Buffer, whose own slice() returns a view: call Uint8Array's.
    const buf = Uint8Array.prototype.slice.call(data, start).buffer;
    if (dtype === DTYPE_ARRAYBUFFER) return buf;
    if (dtype === DTYPE_DATAVIEW) return new DataView(buf);
    const Ctor = TYPED[dtype];
    if (!Ctor) throw new Error(`unknown typed-array dtype ${dtype}`);
    return new Ctor(buf);
  },
});
extensions.register({
  type: 1,
  encode(v: unknown) {
    if (typeof v === "bigint") return withHeader(TAG_BIGINT, encoder.encode(v.toString()));
    if (v instanceof Map) return withHeader(TAG_MAP, encoder.encode([...v]));
    if (v instanceof Set) return withHeader(TAG_SET, encoder.encode([...v]));
    if (v instanceof DataRef) return withHeader(TAG_REF, encoder.encode(v.temp ? [v.hash, v.size, 1] : [v.hash, v.size]));
    if (v instanceof Error) return withHeader(TAG_ERROR, encoder.encode({ name: v.name, message: v.message, stack: v.stack ?? "" }));
    return null;
  },
  decode(data: Uint8Array) {
    const body = decoder.decode(data.subarray(1));
    switch (data[0]) {
      case TAG_BIGINT:
        return BigInt(body as string);
      case TAG_MAP:
        return new Map(body as [unknown, unknown][]);
      case TAG_SET:
        return new Set(body as unknown[]);
      case TAG_REF: {
        const [hash, size, temp] = body as [string, number, number?];
        refStats.decoded++;
        return new DataRef(hash, size, temp === 1);
      }
      case TAG_ERROR: {
        const e = body as { name: string; message: string; stack: string };
        const err = new Error(e.message);
        err.name = e.name;
        err.stack = e.stack;
        return err;
      }
      default:
        throw new Error(`unknown extension tag ${data[0]}`);
    }
  },
});

// Encoder/Decoder are re-entrant (they clone themselves when entered twice), so one of each is shared.
const encoder = new Encoder({ extensionCodec: extensions, initialBufferSize: 64 * 1024 });
const decoder = new Decoder({ extensionCodec: extensions });

/** Encodes a value to msgpack. Throws on values msgpack cannot carry (functions, symbols). */
export function encode(value: unknown): Uint8Array {
  return encoder.encode(value);
}

/**
 * A value already encoded with {@link encode}: {@link encodeSpliced} writes its bytes as they are,
 * so a value encoded once (a submit's arguments, to check and size them) is not encoded again
 * inside the message that carries it.
 */
export class Encoded {
  constructor(readonly bytes: Uint8Array) {}
}

/**
 * The encoder of {@link encodeSpliced}: an Encoder whose per-value step writes an {@link Encoded}'s
 * bytes verbatim. @msgpack/msgpack has no public hook for raw bytes, so this one instance wraps its
 * (TypeScript-private) `doEncode` and writes with its `ensureBufferSizeToWrite`, `bytes` and `pos`;
 * test/unit/codec.test.ts checks the result equals {@link encode}'s byte for byte, and without those
 * internals (another version) {@link encodeSpliced} decodes the parts and encodes them instead.
 */
type EncoderInternals = { doEncode(o: unknown, depth: number): void; ensureBufferSizeToWrite(n: number): void; bytes: Uint8Array; pos: number };
const splicer = new Encoder({ extensionCodec: extensions, initialBufferSize: 64 * 1024 });
const plainDoEncode = (Encoder.prototype as unknown as Partial<EncoderInternals>).doEncode;
const canSplice = typeof plainDoEncode === "function" && typeof (Encoder.prototype as unknown as Partial<EncoderInternals>).ensureBufferSizeToWrite === "function" && (splicer as unknown as Partial<EncoderInternals>).bytes instanceof Uint8Array;
if (canSplice) {
  (splicer as unknown as EncoderInternals).doEncode = function (this: EncoderInternals, o: unknown, depth: number) {
    if (!(o instanceof Encoded)) return plainDoEncode!.call(this, o, depth);
    this.ensureBufferSizeToWrite(o.bytes.byteLength);
    this.bytes.set(o.bytes, this.pos);
    this.pos += o.bytes.byteLength;
  };
}

/** Like {@link encode}, with every {@link Encoded} inside `value` written as its bytes (the same result as encoding the value it holds). */
export function encodeSpliced(value: unknown): Uint8Array {
  return canSplice ? splicer.encode(value) : encode(unsplice(value));
}

function unsplice(v: unknown): unknown {
  if (v instanceof Encoded) return decode(v.bytes);
  if (Array.isArray(v)) return v.map(unsplice);
  if (v && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unsplice(x)]));
  return v;
}

/**
 * {@link encode}'s bytes as parts whose concatenation is the encoding, without copying a top-level
 * typed array (the usual shape of large scattered data): an 8-byte header (ext 32's and ours,
 * written by hand) and a view of the array's own bytes. Anything else: one part. Callers that
 * send the parts in chunks (runtime/data-transfer.ts putBytes) copy each byte once.
 */
export function encodeLargeParts(value: unknown): Uint8Array[] {
  if (!ArrayBuffer.isView(value) || value.byteLength < ALIGNED_FROM) return [encode(value)];
  const n = value.byteLength + 2;
  const header = new Uint8Array(8);
  const view = new DataView(header.buffer);
  header[0] = 0xc9; // ext 32
  view.setUint32(1, n);
  view.setInt8(5, 0); // our typed-array extension
  header[6] = PADDED | dtypeOf(value);
  header[7] = 0; // no padding: the raw bytes start at offset 8
  return [header, new Uint8Array(value.buffer, value.byteOffset, value.byteLength)];
}

/** Like {@link encode}, with one copy instead of three for a top-level typed array (see {@link encodeLargeParts}). */
export function encodeLarge(value: unknown): Uint8Array {
  const parts = encodeLargeParts(value);
  return parts.length === 1 ? parts[0]! : concatParts(parts);
}

/** The bytes of `parts`, one after the other (one copy). */
export function concatParts(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.byteLength;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) (out.set(p, at), (at += p.byteLength));
  return out;
}

/** Decodes msgpack bytes. Throws on malformed input; callers on the network path must catch. */
export function decode<T = unknown>(bytes: Uint8Array): T {
  return decoder.decode(bytes) as T;
}

/**
 * Like {@link decode}, but typed arrays whose raw bytes are aligned for their element size are
 * views of `bytes`, not copies (a top-level one always is when `bytes` starts its buffer, see the
 * module comment), so they keep `bytes` alive. For bytes the caller owns (a value assembled from
 * its chunks), and for messages whose typed arrays are copied at once (a value's chunks, see
 * Route.views): not for a NATS message whose values live on (they would pin its socket chunk).
 */
export function decodeViews<T = unknown>(bytes: Uint8Array): T {
  owned = true;
  try {
    return decoder.decode(bytes) as T;
  } finally {
    owned = false;
  }
}

/**
 * Finds why a value cannot be encoded, for a clear error: returns a short path and reason
 * (e.g. `args[0].cb: a function`), or undefined when nothing unencodable was found.
 */
/** Marks client Futures (set on Future.prototype), so a nested one is named as such, not as an unknown object. */
export const FUTURE_MARK = Symbol.for("ts-dask.Future");

export function findUnencodable(value: unknown, path = "value", seen = new Set<object>()): string | undefined {
  const t = typeof value;
  if (t === "object" && value !== null && (value as Record<symbol, unknown>)[FUTURE_MARK]) {
    return `${path} is a Future inside another value: pass futures as arguments of their own (submit(fn, future)) or gather them first`;
  }
  if (t === "function") return `${path} is a function`;
  if (t === "symbol") return `${path} is a symbol`;
  if (value === null || t !== "object") return undefined;
  const o = value as object;
  if (seen.has(o)) return `${path} is a circular reference`;
  if (ArrayBuffer.isView(o) || o instanceof ArrayBuffer || o instanceof Date || o instanceof Error || o instanceof DataRef) return undefined;
  seen.add(o);
  try {
    if (o instanceof Map) {
      for (const [k, v] of o) {
        const r = findUnencodable(k, `${path}<key>`, seen) ?? findUnencodable(v, `${path}.get(${String(k)})`, seen);
        if (r) return r;
      }
      return undefined;
    }
    const entries = o instanceof Set ? [...o].entries() : Array.isArray(o) ? o.entries() : Object.entries(o);
    for (const [k, v] of entries) {
      const r = findUnencodable(v, Array.isArray(o) || o instanceof Set ? `${path}[${k}]` : `${path}.${k}`, seen);
      if (r) return r;
    }
    return undefined;
  } finally {
    seen.delete(o);
  }
}
