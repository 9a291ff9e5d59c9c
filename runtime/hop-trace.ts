/**
 * Per-message timeline, for finding where a task's round trip spends its time (bench/embedded
 * prints it per hop). Off unless `$TSDASK_HOP_TRACE` names a directory (children inherit it); then
 * every process records each message it publishes and receives (epoch ms, subject, bytes, and for a
 * received one how long its handler ran) and writes them to `<dir>/<pid>.hops.json` when it exits.
 * Clocks of the processes of one machine agree, so the files of a run make one timeline.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";

const DIR = process.env.TSDASK_HOP_TRACE;
/** Whether hop tracing is on (checked on the hot path before anything else is done). */
export const HOP_TRACE = !!DIR;
const rows: (string | number)[][] = [];
const now = () => performance.timeOrigin + performance.now();

if (DIR) process.on("exit", () => writeFileSync(path.join(DIR, `${process.pid}.hops.json`), JSON.stringify({ pid: process.pid, argv: process.argv.slice(1, 3), rows })));

/** A message this process sends on `subject` (`via`: nats or link). */
export function hopSent(subject: string, bytes: number, via = "nats"): void {
  rows.push([now(), "pub", subject, bytes, via]);
}

/** A message arrived on `subject`; call the returned function when its handler returned. */
export function hopReceived(subject: string, bytes: number, via = "nats"): () => void {
  const row: (string | number)[] = [now(), "recv", subject, bytes, via, 0];
  rows.push(row);
  return () => void (row[5] = now() - (row[0] as number));
}

/** A mark of this process's own (e.g. `run` when a task body starts). */
export function hopMark(what: string): void {
  rows.push([now(), "mark", what, 0, ""]);
}
