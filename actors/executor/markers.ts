/**
 * Start/end markers of individual tasks, written synchronously to a pipe the supervisor reads
 * (fd 4 of the executor process; the record format is runtime/ipc.ts's, the reader
 * actors/supervisor/marker-reader.ts), so that when the process dies the supervisor knows exactly
 * which tasks were running: only those are blamed (Dask blames queued ones too, #2694), and a
 * task past its timeout is found even when it blocks the event loop. One write per task start
 * and end: used only for careful or timed groups (see TaskGroup.careful), never on the hot path.
 */
import { writeSync } from "node:fs";
import { encodeMarker, MARKER_BYTES, MARKER_END, MARKER_FD, MARKER_START } from "../../runtime/ipc.ts";

export interface Markers {
  start(slot: number, timeoutMs: number): void;
  end(slot: number): void;
}

/** Markers on `fd`; a failed write (supervisor gone) disables them rather than failing tasks. */
export function pipeMarkers(fd = MARKER_FD): Markers {
  const buf = Buffer.alloc(MARKER_BYTES);
  let ok = true;
  const write = (op: typeof MARKER_START | typeof MARKER_END, slot: number, timeout: number) => {
    if (!ok) return;
    encodeMarker(buf, op, slot, timeout);
    try {
      writeSync(fd, buf);
    } catch {
      ok = false;
    }
  };
  return { start: (s, t) => write(MARKER_START, s, t), end: (s) => write(MARKER_END, s, 0) };
}
