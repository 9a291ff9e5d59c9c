/**
 * Broadcast scatters fanned out by NATS. Pulling a value chunk by chunk from the scheduler costs
 * the scheduler's one connection (size × executors) bytes out; instead, when a client scatters
 * with `broadcast`, the idle executors subscribe to `data.push.<hash>`, the scheduler does too,
 * and the client publishes each chunk there once: the server copies it to every listener, the
 * upload and every executor's download overlap, and the scheduler still stores the whole value
 * (so it survives any worker). Busy executors are not asked (a task blocking their event loop
 * would make them slow consumers); they fetch it the ordinary way when it is complete. A chunk
 * the scheduler missed is sent again by the client after its commit (`data.put` with `commit`).
 */
import type { DataPut, DataPutReply, ExecControl, Subjects } from "../../../runtime/protocol.ts";
import type { Sub, Transport } from "../../../runtime/transport.ts";

/** How long an executor may take to confirm it listens before the push starts without it. */
const LISTEN_TIMEOUT_MS = 500;
/** A push that stops arriving for this long is abandoned (the client falls back or fails). */
const IDLE_MS = 60_000;

export interface PushDeps {
  tx: Transport;
  subjects: Subjects;
  /** Whether the store holds (some of) `hash` already. */
  knows(hash: string): boolean;
  /** Stores one chunk (through the caps and owners). */
  put(m: DataPut): DataPutReply;
  /** Subscribes through the actor (decoding, bad-input counting). */
  listen(hash: string, handler: (m: DataPut) => void): Sub;
  /** Executors to invite: accepting and with nothing assigned. */
  idleExecutors(): { id: string; auth: string }[];
}

export class DataPushes {
  private readonly open = new Map<string, { sub: Sub; timer: NodeJS.Timeout }>();

  constructor(private readonly d: PushDeps) {}

  /** Whether a broadcast probe should become a push (the value is new and not arriving already). */
  wants(m: DataPut): boolean {
    return !!m.probe && !!m.broadcast && m.chunks > 1 && !this.d.knows(m.hash) && !this.open.has(m.hash);
  }

  /** Sets up the push of `m.hash`: the scheduler and the idle executors listen before the client publishes. */
  async prepare(m: DataPut): Promise<DataPutReply> {
    const hash = m.hash;
    const sub = this.d.listen(hash, (c) => {
      if (c.hash !== hash) return;
      this.touch(hash);
      const r = this.d.put(c);
      if (r.ok && r.have) this.close(hash);
    });
    this.open.set(hash, { sub, timer: setTimeout(() => this.close(hash), IDLE_MS) });
    const invite: ExecControl = { op: "listen", hash, size: m.size, chunks: m.chunks };
    await Promise.allSettled(this.d.idleExecutors().map((e) => this.d.tx.request(this.d.subjects.execControl(e.id), { ...invite, auth: e.auth }, LISTEN_TIMEOUT_MS)));
    await this.d.tx.flush(); // our own subscription is at the server before the client publishes
    return { ok: true, have: false, push: true };
  }

  private touch(hash: string) {
    const p = this.open.get(hash);
    if (p) p.timer.refresh();
  }

  private close(hash: string) {
    const p = this.open.get(hash);
    if (!p) return;
    this.open.delete(hash);
    clearTimeout(p.timer);
    p.sub.unsubscribe();
  }

  stop(): void {
    for (const h of [...this.open.keys()]) this.close(h);
  }
}
