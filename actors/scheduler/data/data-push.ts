/**
 * Broadcast scatters fanned out by NATS. Pulling a value chunk by chunk from the scheduler costs
 * the scheduler's one connection (size × executors) bytes out; instead, when a client scatters
 * with `broadcast`, the idle executors subscribe to `data.push.<hash>`, the scheduler does too,
 * and the client publishes each chunk there once: the server copies it to every listener, the
 * upload and every executor's download overlap, and the scheduler still stores the whole value
 * (so it survives any worker). Busy executors are not asked (a task blocking their event loop
 * would make them slow consumers); they fetch it the ordinary way when it is complete. A chunk
 * the scheduler missed is sent again by the client after its commit (`data.put` with `commit`).
 *
 * Flow control: every few chunks the client asks a `commit` with `through` (its last chunk so
 * far) and publishes the window after next only once it is answered; we answer once we and
 * every listening executor (`exec.<id>.control` op `pushed`) hold those chunks. So nats-server
 * never holds more than two windows for anyone: 40 MB at full speed to executors on a loaded
 * machine cut them off as slow consumers (its 10 s write deadline) before this.
 *
 * Same host (runtime/same-host.ts): a probe that names a drop directory (`DataPut.drop`) is
 * passed on with the invitations; an executor that shares the directory reads the value there and
 * answers `have` (it does not listen). When we share it too and every invited executor has it,
 * we store it from there and answer the probe `have`: nothing crosses NATS. Otherwise the push
 * goes on as above for us and the executors that listen.
 */
import type { DataPut, DataPutReply, ExecControl, ListenReply, Subjects } from "../../../runtime/protocol.ts";
import { takeSameHost } from "../../../runtime/same-host.ts";
import { CountWaiters } from "../../../runtime/count-waiters.ts";
import type { Sub, Transport } from "../../../runtime/transport.ts";

/** How long an executor may take to confirm it listens before the push starts without it. */
const LISTEN_TIMEOUT_MS = 500;
/** With a drop directory, an executor reads (and hashes) the value before it answers: this much longer per byte (~50 MB/s). */
const DROP_READ_MS_PER_BYTE = 1 / 50_000;
/** A push that stops arriving for this long is abandoned (the client falls back or fails). */
const IDLE_MS = 60_000;
/**
 * The longest a window's acknowledgement waits for the listeners to catch up. A listening
 * executor that has not caught up by then is paced no more (it pulls what it misses when its
 * push stalls), so one stuck executor cannot hold up the upload.
 */
const WINDOW_WAIT_MS = 5_000;

export interface PushDeps {
  tx: Transport;
  subjects: Subjects;
  /** Whether the store holds (some of) `hash` already. */
  knows(hash: string): boolean;
  /** Stores one chunk (through the caps and owners); with `whole`, the whole value, checked against its hash. */
  put(m: DataPut, whole?: Uint8Array): DataPutReply;
  /** Subscribes through the actor (decoding, bad-input counting). */
  listen(hash: string, handler: (m: DataPut) => void): Sub;
  /** Executors to invite: accepting and with nothing assigned. */
  idleExecutors(): { id: string; auth: string }[];
}

interface Push {
  sub: Sub;
  timer: NodeJS.Timeout;
  /** Chunks of this push that reached us. */
  received: number;
  /** Window acknowledgements waiting for `received` to grow. */
  waiters: CountWaiters;
  /** The executors that confirmed they listen, while they keep up. */
  listeners: { id: string; auth: string }[];
}

export class DataPushes {
  private readonly open = new Map<string, Push>();

  constructor(private readonly d: PushDeps) {}

  /** Whether a broadcast probe should become a push (the value is new and not arriving already). */
  wants(m: DataPut): boolean {
    return !!m.probe && !!m.broadcast && m.chunks > 1 && !this.d.knows(m.hash) && !this.open.has(m.hash);
  }

  /** Whether `m` acknowledges a window of a push under way (see {@link window}). */
  paces(m: DataPut): boolean {
    return !!m.commit && m.through !== undefined && this.open.has(m.hash);
  }

  /** Sets up the push of `m.hash`: the scheduler and the idle executors listen before the client publishes. */
  async prepare(m: DataPut): Promise<DataPutReply> {
    const hash = m.hash;
    const sub = this.d.listen(hash, (c) => {
      if (c.hash !== hash) return;
      const p = this.open.get(hash);
      if (!p) return;
      p.timer.refresh();
      p.received++;
      const r = this.d.put(c);
      if (r.ok && r.have) this.close(hash);
      else p.waiters.reached(p.received);
    });
    const push: Push = { sub, timer: setTimeout(() => this.close(hash), IDLE_MS), received: 0, waiters: new CountWaiters(), listeners: [] };
    this.open.set(hash, push);
    const invite: ExecControl = { op: "listen", hash, size: m.size, chunks: m.chunks, ...(m.drop ? { drop: m.drop } : {}) };
    const invited = this.d.idleExecutors();
    const wait = LISTEN_TIMEOUT_MS + (m.drop ? Math.ceil(m.size * DROP_READ_MS_PER_BYTE) : 0);
    const asked = Promise.allSettled(invited.map((e) => this.d.tx.request<ListenReply>(this.d.subjects.execControl(e.id), { ...invite, auth: e.auth }, wait)));
    // Meanwhile, our own copy from the drop directory when we share it.
    const local = m.drop ? await takeSameHost(m.drop, hash, m.size).catch(() => undefined) : undefined;
    const answers = await asked;
    push.listeners = invited.filter((_, i) => {
      const a = answers[i]!;
      return a.status === "fulfilled" && !a.value?.have;
    });
    if (local && push.listeners.length === 0) {
      this.close(hash);
      return this.d.put(m, local);
    }
    await this.d.tx.flush(); // our own subscription is at the server before the client publishes
    return { ok: true, have: false, push: true };
  }

  /**
   * A window's acknowledgement (`commit` with `through`): resolves once we and every listening
   * executor hold the chunks up to `through`, or after {@link WINDOW_WAIT_MS}; an executor
   * still behind then is dropped from the pacing. The caller then answers from the store.
   */
  async window(m: DataPut): Promise<void> {
    const p = this.open.get(m.hash);
    if (!p || m.through === undefined) return;
    const n = m.through + 1;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((res) => (timer = setTimeout(() => res("late"), WINDOW_WAIT_MS)));
    const ours = p.received >= n ? undefined : p.waiters.wait(n);
    const ask: ExecControl = { op: "pushed", hash: m.hash, through: m.through };
    const theirs = p.listeners.map((e) =>
      Promise.race([this.d.tx.request(this.d.subjects.execControl(e.id), { ...ask, auth: e.auth }, WINDOW_WAIT_MS).then(() => "ok" as const), late]).then(
        (r) => (r === "ok" ? undefined : e),
        () => e,
      ),
    );
    const [, behind] = await Promise.all([ours ? Promise.race([ours, late]) : undefined, Promise.all(theirs)]);
    clearTimeout(timer);
    const dropped = new Set(behind.filter((e) => e !== undefined));
    if (dropped.size) p.listeners = p.listeners.filter((e) => !dropped.has(e));
  }

  private close(hash: string) {
    const p = this.open.get(hash);
    if (!p) return;
    this.open.delete(hash);
    clearTimeout(p.timer);
    p.sub.unsubscribe();
    p.waiters.releaseAll();
  }

  stop(): void {
    for (const h of [...this.open.keys()]) this.close(h);
  }
}
