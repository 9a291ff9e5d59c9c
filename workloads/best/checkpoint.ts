/**
 * Checkpoints of {@link best}: what finished, kept in a local file so that a rerun after the client
 * crashed skips it and returns the same answer.
 *
 * Why a local file and not JetStream KV: the embedded nats-server runs without JetStream, and the
 * state belongs to the client (it is the client that crashes and resumes; the cluster keeps
 * nothing of a study). An append-only file is crash-safe without a server: each finished batch
 * appends one frame, written synchronously before the batch counts as done, and a frame cut short
 * by a crash is dropped on reading. (Moving the store to JetStream KV, to resume from another
 * machine, would replace this file only.)
 *
 * Format: frames of `[u32 LE length][msgpack]`. Frame 0 is the header (which study: function,
 * arguments, k, direction); every later frame is `{ d: Uint32Array, a: [index, score, candidate][] }`:
 * the input positions finished, and those of them that entered the top-k at that moment. Only
 * those can be in the final answer (the top-k threshold only rises), so replaying them rebuilds it.
 */
import { createHash } from "node:crypto";
import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";
import { decode, encode, encodeLarge } from "../../runtime/codec.ts";
import { Errors } from "../../runtime/errors.ts";
import type { Scored } from "./topk.ts";

/** Where checkpoints go unless told: `$TSDASK_CHECKPOINT_DIR`, else `.tsdask/checkpoints` under the working directory. */
export function defaultCheckpointDir(): string {
  return process.env.TSDASK_CHECKPOINT_DIR ?? resolve(".tsdask", "checkpoints");
}

/** What identifies a study: a checkpoint written for another one is refused. */
export interface CheckpointHeader {
  v: 1;
  name: string;
  /** Hash of the score function (its source, or its module and export). */
  fn: string;
  /** Hash of the extra arguments. */
  args: string;
  k: number;
  maximize: boolean;
}

/** A growable set of non-negative integers (one bit each: 10^6 positions take 125 kB). */
export class BitSet {
  private bits = new Uint8Array(1024);
  /** Members. */
  count = 0;

  /** True if `i` is a member. */
  has(i: number): boolean {
    const b = i >>> 3;
    return b < this.bits.length && (this.bits[b]! & (1 << (i & 7))) !== 0;
  }

  /** Adds `i` (growing the bits as needed). */
  add(i: number): void {
    const b = i >>> 3;
    if (b >= this.bits.length) {
      const next = new Uint8Array(Math.max(b + 1, this.bits.length * 2));
      next.set(this.bits);
      this.bits = next;
    }
    const m = 1 << (i & 7);
    if ((this.bits[b]! & m) === 0) {
      this.bits[b]! |= m;
      this.count++;
    }
  }
}

/** SHA-256 of values (typed arrays hashed from their bytes). */
export function hashValues(values: readonly unknown[]): string {
  const h = createHash("sha256");
  for (const v of values) h.update(encodeLarge(v));
  return h.digest("hex");
}

/** An open checkpoint: what a previous run finished, and the file to append to. */
export class Checkpoint<C> {
  /** Input positions finished in earlier runs and in this one. */
  readonly done = new BitSet();
  /** Items that entered the top-k when they finished (earlier runs), to offer again. */
  readonly admitted: Scored<C>[] = [];
  /** How many positions earlier runs finished. */
  readonly resumed: number;
  private fd: number | undefined;
  /** Where the next frame goes. */
  private position = 0;

  private constructor(
    readonly file: string,
    header: CheckpointHeader,
  ) {
    let offset = 0;
    if (existsSync(file)) {
      const bytes = readFileSync(file);
      offset = this.replay(bytes, header);
    }
    this.resumed = this.done.count;
    this.fd = openSync(file, existsSync(file) ? "r+" : "w");
    ftruncateSync(this.fd, offset); // drop a frame cut short by a crash
    if (offset === 0) this.write(header);
    else this.position = offset;
  }

  /**
   * Opens (or creates) checkpoint `name` in `dir`.
   * @throws `CheckpointMismatch` when the file belongs to another study; `CheckpointCorrupt` when unreadable.
   */
  static open<C>(name: string, dir: string, header: Omit<CheckpointHeader, "v" | "name">): Checkpoint<C> {
    if (!/^[\w.-]+$/.test(name)) throw Errors.BadOption("checkpoint", name, "a name of letters, digits, '.', '-' and '_'");
    mkdirSync(dir, { recursive: true });
    return new Checkpoint<C>(join(dir, `${name}.ckpt`), { v: 1, name, ...header });
  }

  /** Records that `indices` finished and that `admitted` (among them) entered the top-k. */
  record(indices: readonly number[], admitted: readonly Scored<C>[]): void {
    for (const i of indices) this.done.add(i);
    this.write({ d: Uint32Array.from(indices), a: admitted.map((s) => [s.index, s.score, s.candidate]) });
  }

  /** Closes the file (the checkpoint stays: a rerun returns the same answer without computing). */
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private write(value: unknown): void {
    const body = encode(value);
    const frame = new Uint8Array(4 + body.byteLength);
    new DataView(frame.buffer).setUint32(0, body.byteLength, true);
    frame.set(body, 4);
    let off = 0;
    while (off < frame.byteLength) off += writeSync(this.fd!, frame, off, frame.byteLength - off, this.position + off);
    this.position += frame.byteLength;
  }

  /** Reads the frames of an existing file; returns the offset after the last complete frame. */
  private replay(bytes: Uint8Array, header: CheckpointHeader): number {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let off = 0;
    let first = true;
    while (off + 4 <= bytes.byteLength) {
      const len = view.getUint32(off, true);
      if (off + 4 + len > bytes.byteLength) break; // cut short by a crash
      let frame: unknown;
      try {
        frame = decode(bytes.subarray(off + 4, off + 4 + len));
      } catch (e) {
        if (first) throw Errors.CheckpointCorrupt(this.file, (e as Error).message);
        break; // a damaged tail: keep what came before
      }
      if (first) {
        const h = frame as CheckpointHeader;
        if (h?.v !== 1) throw Errors.CheckpointCorrupt(this.file, "no header");
        const diff = (["fn", "args", "k", "maximize"] as const).filter((key) => h[key] !== header[key]);
        const names = { fn: "the score function", args: "the arguments", k: "k", maximize: "maximize/minimize" };
        if (diff.length) throw Errors.CheckpointMismatch(header.name, this.file, diff.map((d) => names[d]).join(", "));
        first = false;
      } else {
        const f = frame as { d: Uint32Array; a: [number, number, C][] };
        for (const i of f.d) this.done.add(i);
        for (const [index, score, candidate] of f.a) this.admitted.push({ index, score: score ?? NaN, candidate });
      }
      off += 4 + len;
    }
    return first ? 0 : off;
  }
}
