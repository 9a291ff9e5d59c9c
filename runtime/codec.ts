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

const omitting = new Encoder({ extensionCodec: extensions, initialBufferSize: 64 * 1024, ignoreUndefined: true });

/**
 * Like {@link encodeSpliced}, with object fields whose value is undefined left out (not written as
 * nil): for messages made with every field present from the start (one hidden class, e.g. task
 * batches, actors/scheduler/batches.ts), optional ones undefined. Not for user values (their
 * undefined fields arrive as null, as everywhere else).
 */
export function encodeOmittingUndefined(value: unknown): Uint8Array {
  return omitting.encode(canSplice ? value : unsplice(value));
}

/**
 * `bytes` as a msgpack `bin` value, {@link Encoded} (written into a message as they are, one copy,
 * where a Uint8Array field costs three: our typed-array extension's header, the encoder's buffer,
 * and back). The `bin` decodes as a view of the message: for bytes the receiver decodes at once
 * (a task group's rows). `fill` writes the `size` bytes from offset `at` of `out`.
 */
export function binOf(size: number, fill: (out: Uint8Array, at: number) => void): Encoded {
  const out = new Uint8Array(5 + size);
  out[0] = 0xc6;
  new DataView(out.buffer).setUint32(1, size);
  fill(out, 5);
  return new Encoded(out);
}

/** Bytes of a msgpack array header for `n` items (fixarray, array 16, array 32). */
export function arrayHeaderSize(n: number): number {
  return n < 16 ? 1 : n < 0x10000 ? 3 : 5;
}

/** Writes a msgpack array header for `n` items at `out[at]`; returns its size ({@link arrayHeaderSize}). */
export function writeArrayHeader(out: Uint8Array, at: number, n: number): number {
  if (n < 16) {
    out[at] = 0x90 | n;
    return 1;
  }
  if (n < 0x10000) {
    out[at] = 0xdc;
    out[at + 1] = n >>> 8;
    out[at + 2] = n & 0xff;
    return 3;
  }
  out[at] = 0xdd;
  out[at + 1] = n >>> 24;
  out[at + 2] = (n >>> 16) & 0xff;
  out[at + 3] = (n >>> 8) & 0xff;
  out[at + 4] = n & 0xff;
  return 5;
}

/** The bytes a {@link binOf} value carries (a view). */
export function binBytes(e: Encoded): Uint8Array {
  return e.bytes.subarray(5);
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
/** The encoder {@link RowWriter} drives (rows append to its buffer; it writes Encoded values verbatim too). */
const rowEncoder = new Encoder({ extensionCodec: extensions, initialBufferSize: 64 * 1024 });
function splicingDoEncode(this: EncoderInternals, o: unknown, depth: number) {
  if (!(o instanceof Encoded)) return plainDoEncode!.call(this, o, depth);
  this.ensureBufferSizeToWrite(o.bytes.byteLength);
  this.bytes.set(o.bytes, this.pos);
  this.pos += o.bytes.byteLength;
}
if (canSplice) {
  (splicer as unknown as EncoderInternals).doEncode = splicingDoEncode;
  (rowEncoder as unknown as EncoderInternals).doEncode = splicingDoEncode;
  (omitting as unknown as EncoderInternals).doEncode = splicingDoEncode;
}

/**
 * Encodes task rows one after another into one buffer (a submit's `rows`, see SubmitGroup): each
 * row's bytes are the encoding of the array of its arguments ({@link Encoded} ones written as they
 * are), so the scheduler can pass a row on to an executor without decoding it. One encoder writes
 * every row (no buffer or array per row); {@link take} returns the bytes and each row's end offset.
 * Not re-entrant: one writer at a time (a submit message is built synchronously).
 */
export class RowWriter {
  private readonly ends: number[] = [];
  /** Without the encoder's internals (another @msgpack/msgpack version): each row encoded apart. */
  private readonly parts: Uint8Array[] = [];
  private size = 0;
  private open: unknown[] | undefined;

  constructor() {
    if (canSplice) (rowEncoder as unknown as EncoderInternals).pos = 0;
  }

  /** Starts a row of `n` arguments; write each with {@link arg}. */
  begin(n: number): void {
    if (!canSplice) return void (this.open = []);
    const e = rowEncoder as unknown as EncoderInternals;
    e.ensureBufferSizeToWrite(5);
    e.pos += writeArrayHeader(e.bytes, e.pos, n);
  }

  /** One argument of the open row. Throws on values msgpack cannot carry (the writer is then spoilt). */
  arg(v: unknown): void {
    if (!canSplice) return void this.open!.push(v);
    (rowEncoder as unknown as EncoderInternals).doEncode(v, 2);
  }

  /** Ends the open row. */
  end(): void {
    if (canSplice) return void this.ends.push((rowEncoder as unknown as EncoderInternals).pos);
    const bytes = encodeSpliced(this.open);
    this.parts.push(bytes);
    this.ends.push((this.size += bytes.byteLength));
  }

  /** The rows' bytes (a copy) and each row's end offset; the writer starts empty again. */
  take(): { rows: Uint8Array; ends: Uint32Array } {
    const ends = Uint32Array.from(this.ends);
    this.ends.length = 0;
    if (!canSplice) {
      const rows = concatParts(this.parts);
      this.parts.length = 0;
      this.size = 0;
      return { rows, ends };
    }
    const e = rowEncoder as unknown as EncoderInternals;
    const rows = e.bytes.slice(0, e.pos);
    e.pos = 0;
    return { rows, ends };
  }
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
