/** The supervisor's side of the task marker pipe (runtime/ipc.ts): the set of tasks running in an executor process. */
import { decodeMarkers, MARKER_START } from "../../runtime/ipc.ts";

export class MarkerReader {
  readonly running = new Map<number, { since: number; timeoutMs: number }>();
  private rest: Buffer = Buffer.alloc(0);
  /** Called when a task with a timeout starts (the supervisor then starts its watchdog). */
  onTimedStart: () => void = () => {};

  feed(chunk: Buffer, now = Date.now()): void {
    const b = this.rest.length ? Buffer.concat([this.rest, chunk]) : chunk;
    const used = decodeMarkers(b, (op, slot, timeoutMs) => {
      if (op === MARKER_START) {
        this.running.set(slot, { since: now, timeoutMs });
        if (timeoutMs > 0) this.onTimedStart();
      } else this.running.delete(slot);
    });
    this.rest = Buffer.from(b.subarray(used));
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
