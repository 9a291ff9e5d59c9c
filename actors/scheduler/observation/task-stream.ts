/**
 * The dashboard's task stream: one bar per executor per run of completions, over a sliding
 * window. Fed once per `sched.done` message (never per task); consecutive completions of one
 * function on one executor are coalesced into one bar while it stays short, so a million tiny
 * tasks make a few hundred bars, and the browser never gets one message per task.
 */
import type { StreamEntry } from "./dashboard/views.ts";

const MAX_STREAM = 50_000;
/** Consecutive completions of one function on one executor closer than this are one bar. */
const COALESCE_GAP_MS = 5;
/** … as long as the bar is shorter than this (so the stream keeps moving while busy). */
const COALESCE_MAX_MS = 250;

export class TaskStream {
  private readonly entries: StreamEntry[] = [];
  private readonly lastEntry = new Map<string, StreamEntry>();
  private nextEntry = 1;
  /** Bumped whenever an entry is created or extended (see Snapshot.seq). */
  version = 0;

  /** `fn` is the function's short id (as in snapshots). */
  add(exec: string, fn: string, start: number, end: number, count: number, errors: number, busy: number, threads: number): void {
    const last = this.lastEntry.get(exec);
    if (last && last.fn === fn && start - last.end < COALESCE_GAP_MS && end - last.start < COALESCE_MAX_MS && (errors > 0) === (last.errors > 0)) {
      last.end = Math.max(last.end, end);
      last.v = ++this.version;
      last.count += count;
      last.errors += errors;
      last.busy = Math.round((last.busy + busy) * 100) / 100;
      return;
    }
    const e: StreamEntry = { id: this.nextEntry++, v: ++this.version, exec, fn, start: Math.max(start, last?.end ?? start), end, count, errors, busy, threads };
    this.entries.push(e);
    this.lastEntry.set(exec, e);
    if (this.entries.length > MAX_STREAM) this.entries.splice(0, this.entries.length - MAX_STREAM);
  }

  /** An executor left: its next bar starts a new entry. */
  forget(exec: string): void {
    this.lastEntry.delete(exec);
  }

  /** Drops bars that ended before `cut` (ms). */
  prune(cut: number): void {
    let drop = 0;
    while (drop < this.entries.length && this.entries[drop]!.end < cut) drop++;
    if (drop) this.entries.splice(0, drop);
  }

  /** Bars created or extended after version `since`. */
  changedSince(since: number): StreamEntry[] {
    return this.entries.filter((e) => e.v > since);
  }

  /** Bars that ended at or after `cut` (ms). */
  endingAfter(cut: number): StreamEntry[] {
    return this.entries.filter((e) => e.end >= cut);
  }
}
