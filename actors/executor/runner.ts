/**
 * The executor's run loop: a FIFO of task groups (as they arrived, never split into per-task
 * objects), at most `nthreads` tasks in flight. A synchronous task holds its thread while it runs;
 * an async one holds it until it settles. Synchronous runs are sliced so messages are heard
 * (cancels, steals, beats) and sent between slices: a slice ends after {@link SLICE_MS}, or as soon
 * as the outbox wants to send (a refill request, a linger that is due: {@link Outbox.wantsTurn}), so
 * results and completions leave when outbox.ts decides, not a slice later.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { firstRows, type RunGroup } from "./run-group.ts";
import type { Outbox } from "./outbox.ts";
import type { Markers } from "./markers.ts";
import { Errors, TsDaskError, remoteErrorInfo, type ErrorCode } from "../../runtime/errors.ts";

type RemoteErrorInfo = ReturnType<typeof remoteErrorInfo>;
import { packNumberArrays } from "../../runtime/packed-arrays.ts";

/** Which client the running code works for (console lines are forwarded to it). */
export const taskClient = new AsyncLocalStorage<string>();

interface Queued {
  g: RunGroup;
  /** Next row to start. */
  pos: number;
  /** The loaded function, or the error that prevented loading it. */
  fn: Function | Error;
}

/**
 * The longest run of synchronous tasks between two turns of the event loop. Every turn costs a
 * busy executor 30-50 µs on the 2-vCPU VM this project is measured on (bench/task-overhead), one
 * per task at 5 ms when tasks take 10 ms; at 50 ms, one per five such tasks (executors' overhead
 * per 10 ms task 105 -> 88 µs, per 1 ms task 21 -> 15, 4 rounds alternated; DESIGN.md, Slices). The price: what
 * arrives meanwhile (a cancel, a steal request) waits for the running slice, so a slice is also
 * at most {@link SLICE_SHARE} of the work still queued here (at least {@link MIN_SLICE_MS}): at the
 * end of a map, when another executor runs dry and asks to steal, this one answers within a
 * sixteenth of what is left to share instead of up to 50 ms late.
 */
const SLICE_MS = 50;
const MIN_SLICE_MS = 5;
const SLICE_SHARE = 1 / 16;

export class Runner {
  private readonly queue: Queued[] = [];
  private head = 0;
  /** Tasks queued and not started. */
  queued = 0;
  /** Tasks started and not finished (sync ones only while they run). */
  running = 0;
  /** slot → client key of rows to drop when reached. */
  private readonly cancelled = new Map<number, number>();
  private scheduled = false;
  /** Set while paused (memory pressure, retiring): nothing new starts. */
  paused = false;
  /** Called whenever the last running async task settles. */
  onIdle: () => void = () => {};

  constructor(
    private readonly nthreads: number,
    private readonly out: Outbox,
    private readonly worker: string,
    /** Where careful and timed tasks report their start and end (absent outside a supervisor). */
    private readonly markers?: Markers,
  ) {
    out.queued = () => this.queued;
  }

  /** Queues a group; call {@link kick} after the last group of a batch. */
  enqueue(g: RunGroup, fn: Function | Error): void {
    this.queue.push({ g, pos: 0, fn });
    this.queued += g.slots.length;
    this.out.refilled();
  }

  /** Runs now (not at the next turn): a lone task's latency is one hop shorter. */
  kick(): void {
    if (this.scheduled || this.pumping) return;
    this.pump();
  }

  /** Cancels tasks not started yet; started ones finish and their results are ignored. */
  cancel(slots: Uint32Array, keys: Uint32Array): void {
    for (let i = 0; i < slots.length; i++) this.cancelled.set(slots[i]!, keys[i]!);
  }

  /** Removes up to `max` queued (not started) tasks from the back of the queue, for stealing. */
  steal(max: number): number[] {
    const out: number[] = [];
    for (let q = this.queue.length - 1; q >= this.head && out.length < max; q--) {
      const e = this.queue[q]!;
      const keep = Math.max(e.pos, e.g.slots.length - (max - out.length));
      for (let i = keep; i < e.g.slots.length; i++) out.push(e.g.slots[i]!);
      this.queued -= e.g.slots.length - keep;
      e.g = firstRows(e.g, keep);
    }
    return out;
  }

  /** Slots queued or running here (for a resync after a reconnect). */
  held(): number[] {
    const out = [...this.inflight];
    for (let q = this.head; q < this.queue.length; q++) {
      const e = this.queue[q]!;
      for (let i = e.pos; i < e.g.slots.length; i++) out.push(e.g.slots[i]!);
    }
    return out;
  }

  /** Async tasks in flight (sync ones never are when another message is handled). */
  private readonly inflight = new Set<number>();

  /** Drops every queued task (the scheduler that assigned them is gone); returns how many. */
  clear(): number {
    const n = this.queued;
    this.queue.length = 0;
    this.head = 0;
    this.queued = 0;
    return n;
  }

  soon(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pumping = false;

  private pump(): void {
    this.pumping = true;
    try {
      this.pumpSlice();
    } finally {
      this.pumping = false;
    }
    // Nothing queued: remaining cancels were for tasks already started, and can never match.
    if (this.queued === 0 && this.cancelled.size) this.cancelled.clear();
    // Idle again: what finished leaves now instead of at the next turn.
    if (this.running === 0 && !this.scheduled) this.out.flush();
  }

  private pumpSlice(): void {
    const deadline = performance.now() + Math.min(SLICE_MS, Math.max(MIN_SLICE_MS, this.queued * this.out.meanTaskMs * SLICE_SHARE));
    while (!this.paused && this.running < this.nthreads && this.head < this.queue.length) {
      const e = this.queue[this.head]!;
      taskClient.run(e.g.client, () => this.runGroup(e, deadline));
      if (e.pos >= e.g.slots.length) {
        this.queue[this.head++] = undefined as unknown as Queued;
        if (this.head > 1024 && this.head * 2 > this.queue.length) {
          this.queue.splice(0, this.head);
          this.head = 0;
        }
      }
      if (this.sliceOver(deadline)) {
        this.soon();
        return;
      }
    }
  }

  /** Runs rows of one group until it is exhausted, the threads are busy or the slice is over. */
  private runGroup(e: Queued, deadline: number): void {
    const { g, fn } = e;
    const consts = g.consts;
    while (e.pos < g.slots.length && this.running < this.nthreads && !this.paused) {
      const i = e.pos++;
      this.queued--;
      const slot = g.slots[i]!;
      if (this.cancelled.size && this.cancelled.get(slot) === g.keys[i]) {
        this.cancelled.delete(slot);
        this.out.drop(slot);
        continue;
      }
      if (fn instanceof Error) {
        this.out.fail(g.client, slot, g.keys[i]!, errorInfo(fn, fn instanceof TsDaskError ? fn.code : "FunctionLoadFailed"), g.fn, 0, g.tickets, i);
        continue;
      }
      // The row's own array (decoded for this run alone): the shared arguments join it.
      const args = g.args[i]!;
      if (consts) for (let j = 0; j < consts.length; j++) args.push(consts[j]);
      const mark = g.careful || g.timeout ? this.markers : undefined;
      mark?.start(slot, g.timeout ?? 0);
      const start = performance.now();
      let r: unknown;
      this.running++;
      try {
        r = fn(...args);
      } catch (err) {
        this.running--;
        mark?.end(slot);
        this.out.fail(g.client, slot, g.keys[i]!, errorInfo(err, ""), g.fn, performance.now() - start, g.tickets, i);
        continue;
      }
      if (r !== null && typeof r === "object" && typeof (r as PromiseLike<unknown>).then === "function") {
        this.awaitTask(g, i, start, r as PromiseLike<unknown>, mark);
      } else {
        this.running--;
        mark?.end(slot);
        this.out.ok(g.client, slot, g.keys[i]!, r, g.fn, performance.now() - start, g.tickets, i);
      }
      if (this.sliceOver(deadline)) return;
    }
  }

  /** The slice ends at its deadline, or at once when the outbox wants a turn to send. */
  private sliceOver(deadline: number): boolean {
    const now = performance.now();
    return now > deadline || this.out.wantsTurn(now);
  }

  /** An async task holds its thread until it settles, or until its timeout (then it is abandoned). */
  private awaitTask(g: RunGroup, i: number, start: number, p: PromiseLike<unknown>, mark: Markers | undefined) {
    let open = true;
    let timer: NodeJS.Timeout | undefined;
    const slot = g.slots[i]!;
    this.inflight.add(slot);
    const settle = (value: unknown, err: unknown, remote?: RemoteErrorInfo) => {
      if (!open) return;
      open = false;
      this.inflight.delete(slot);
      clearTimeout(timer);
      mark?.end(g.slots[i]!);
      this.settled(g, i, start, value, err, remote);
    };
    if (g.timeout) {
      // Abandoned: the client sees the table's TaskTimeout (as when a synchronous task's process is replaced).
      timer = setTimeout(() => settle(undefined, undefined, remoteErrorInfo(Errors.TaskTimeout(String(g.keys[i]), this.worker, g.timeout!))), g.timeout);
    }
    p.then(
      (v) => settle(v, undefined),
      (err) => settle(undefined, err ?? new Error("rejected with " + String(err))),
    );
  }

  /** A task ended: with `value`, or thrown `err`, or `remote` (an error of ts-dask's own: a timeout). */
  private settled(g: RunGroup, i: number, start: number, value: unknown, err: unknown, remote?: RemoteErrorInfo) {
    this.running--;
    const ms = performance.now() - start;
    if (remote) this.out.fail(g.client, g.slots[i]!, g.keys[i]!, remote, g.fn, ms, g.tickets, i);
    else if (err !== undefined) this.out.fail(g.client, g.slots[i]!, g.keys[i]!, errorInfo(err, ""), g.fn, ms, g.tickets, i);
    else this.out.ok(g.client, g.slots[i]!, g.keys[i]!, value, g.fn, ms, g.tickets, i);
    // Start the next task now, not at the next turn of the event loop.
    this.kick();
    if (this.running === 0) this.onIdle();
  }
}

/** A thrown value as a {@link RemoteError} (without its index). */
export function errorInfo(err: unknown, code: ErrorCode | ""): { code: ErrorCode | ""; name: string; message: string; stack: string } {
  if (err instanceof Error) return { code, name: err.name, message: err.message, stack: err.stack ?? "" };
  return { code, name: "Error", message: `a non-Error value was thrown: ${safeString(err)}`, stack: "" };
}

function safeString(v: unknown): string {
  try {
    return typeof v === "string" ? JSON.stringify(v) : String(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/**
 * Rebuilds the arrays of numbers in a batch's arguments (row values and constants, not the rows'
 * own arrays) as packed arrays, once on arrival: see {@link packNumberArrays} for why (decoded
 * arrays hold boxed numbers; a task's hot loop over them ran ~5 % slower than a plain loop's).
 * Call it before scattered values are substituted (they are packed once, when decoded).
 */
export function packArgs(groups: readonly RunGroup[]): void {
  for (const g of groups) {
    for (const row of g.args) {
      for (let i = 0; i < row.length; i++) {
        const v = row[i];
        if (v !== null && typeof v === "object") row[i] = packNumberArrays(v);
      }
    }
    if (g.consts) for (let i = 0; i < g.consts.length; i++) g.consts[i] = packNumberArrays(g.consts[i]);
  }
}
