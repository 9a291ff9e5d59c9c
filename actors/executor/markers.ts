/**
 * Start/end markers of individual tasks, written synchronously to a pipe the supervisor reads
 * (fd 4 of the executor process), so that when the process dies the supervisor knows exactly
 * which tasks were running: only those are blamed (Dask blames queued ones too, #2694), and a
 * task past its timeout is found even when it blocks the event loop. One write per task start
 * and end: used only for careful or timed groups (see TaskGroup.careful), never on the hot path.
 *
 * Record: [op u8: 1 start, 2 end][slot u32 LE][timeout ms u32 LE] (9 bytes).
 */
import { writeSync } from "node:fs";

export const MARKER_FD = 4;
export const MARKER_BYTES = 9;
export const START = 1;
export const END = 2;

export interface Markers {
  start(slot: number, timeoutMs: number): void;
  end(slot: number): void;
}

/** Markers on `fd`; a failed write (supervisor gone) disables them rather than failing tasks. */
export function pipeMarkers(fd = MARKER_FD): Markers {
  const buf = Buffer.alloc(MARKER_BYTES);
  let ok = true;
  const write = (op: number, slot: number, timeout: number) => {
    if (!ok) return;
    buf[0] = op;
    buf.writeUInt32LE(slot, 1);
    buf.writeUInt32LE(Math.min(timeout, 0xffffffff), 5);
    try {
      writeSync(fd, buf);
    } catch {
      ok = false;
    }
  };
  return { start: (s, t) => write(START, s, t), end: (s) => write(END, s, 0) };
}

/** The supervisor's side: parses marker records from the pipe into the set of running tasks. */
export class MarkerReader {
  readonly running = new Map<number, { since: number; timeoutMs: number }>();
  private rest: Buffer = Buffer.alloc(0);
  /** Called when a task with a timeout starts (the supervisor then starts its watchdog). */
  onTimedStart: () => void = () => {};

  feed(chunk: Buffer, now = Date.now()): void {
    let b = this.rest.length ? Buffer.concat([this.rest, chunk]) : chunk;
    let o = 0;
    for (; o + MARKER_BYTES <= b.length; o += MARKER_BYTES) {
      const slot = b.readUInt32LE(o + 1);
      if (b[o] === START) {
        const timeoutMs = b.readUInt32LE(o + 5);
        this.running.set(slot, { since: now, timeoutMs });
        if (timeoutMs > 0) this.onTimedStart();
      } else this.running.delete(slot);
    }
    this.rest = Buffer.from(b.subarray(o));
  }

  /** Whether a task with a timeout is running. */
  hasTimed(): boolean {
    for (const r of this.running.values()) if (r.timeoutMs > 0) return true;
    return false;
  }

  /** Running tasks past their timeout (plus `graceMs`). */
  overdue(now = Date.now(), graceMs = 0): number[] {
    const out: number[] = [];
    for (const [slot, r] of this.running) if (r.timeoutMs > 0 && now - r.since > r.timeoutMs + graceMs) out.push(slot);
    return out;
  }

  clear(): void {
    this.running.clear();
    this.rest = Buffer.alloc(0);
  }
}
