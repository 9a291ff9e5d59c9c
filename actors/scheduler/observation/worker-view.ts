/**
 * The workers as the dashboard, `ts-dask info` and the worker events show them: per-executor CPU,
 * pause and NATS bytes (from heartbeats), per-worker totals and restarts, departed workers kept as
 * "gone" for a while, and worker deaths judged from the executor table's liveness
 * (ExecutorTable.workerSilentPastDead). One of the monitor's parts (monitor.ts calls it).
 */
import type { ClusterEvent, ExecutorInfo, Heartbeat, RegisterWorker, WorkerInfo } from "../../../runtime/protocol.ts";
import type { Transport } from "../../../runtime/transport.ts";
import type { Logger } from "../../../runtime/actor.ts";
import type { ExecutorRec } from "../executor-rec.ts";
import type { ExecutorTable } from "../executors.ts";

interface ExecExtra {
  cpu: number;
  paused: boolean;
  bytesIn: number;
  bytesOut: number;
}

interface WorkerExtra {
  done: number;
  restarts: number;
  memoryRestarts: number;
  died: boolean;
}

export class WorkerView {
  private readonly execExtra = new Map<string, ExecExtra>();
  /** NATS bytes of executors that are gone, so totals never go down. */
  private goneBytesIn = 0;
  private goneBytesOut = 0;
  private readonly workerExtra = new Map<string, WorkerExtra>();
  private readonly departed = new Map<string, { info: WorkerInfo; at: number }>();
  /** Instances listed by the last {@link workerInfo} (so a departed one is not listed twice). */
  private present = new Set<string>();

  constructor(
    private readonly host: { readonly executors: ExecutorTable; readonly tx: Transport },
    private readonly emit: (e: ClusterEvent) => void,
    private readonly keepGoneMs: number,
    private readonly log: Logger | undefined,
  ) {}

  /** One `sched.heartbeat`. */
  heartbeat(m: Heartbeat): void {
    if (m.kind === "worker") return;
    let x = this.execExtra.get(m.id);
    if (!x) this.execExtra.set(m.id, (x = { cpu: 0, paused: false, bytesIn: 0, bytesOut: 0 }));
    if (typeof m.cpu === "number" && Number.isFinite(m.cpu)) x.cpu = m.cpu;
    x.paused = m.paused === true;
    if (typeof m.bytesIn === "number") x.bytesIn = m.bytesIn;
    if (typeof m.bytesOut === "number") x.bytesOut = m.bytesOut;
  }

  /** `finished` tasks more done on the worker `instance`. */
  done(instance: string, finished: number): void {
    this.worker(instance).done += finished;
  }

  /** A worker registered (publishes `worker-joined`). */
  joined(reg: RegisterWorker): void {
    for (const [k, d] of this.departed) if (d.info.name === reg.name) this.departed.delete(k);
    this.worker(reg.instance).died = false;
    this.emit({ type: "worker-joined", name: reg.name, host: reg.host, nprocs: reg.nprocs, nthreads: reg.nthreads, memoryLimit: reg.memoryLimit });
  }

  /** A worker said goodbye (call before it is removed from the table): `worker-left`, and a log line. */
  leaving(instance: string, reason: string): void {
    const info = this.host.executors.info().find((w) => w.instance === instance);
    if (!info) return;
    this.log?.info(reason === "left" ? `worker ${info.name} left` : `worker ${info.name} left: ${reason}`); // a plain goodbye says no more
    this.departed.set(instance, { info: { ...info, state: "gone", executors: [], done: this.worker(instance).done, restarts: this.worker(instance).restarts }, at: Date.now() });
    this.emit({ type: "worker-left", name: info.name, reason });
  }

  /** An executor is gone: its bytes go to the totals; a restart (`memory`: over its limit) counts for its worker. */
  executorGone(rec: ExecutorRec, restarted: boolean, memory: boolean): void {
    const x = this.execExtra.get(rec.id);
    if (x) {
      this.goneBytesIn += x.bytesIn;
      this.goneBytesOut += x.bytesOut;
      this.execExtra.delete(rec.id);
    }
    if (!restarted) return;
    const w = this.worker(rec.worker);
    w.restarts++;
    if (memory) w.memoryRestarts++;
  }

  private worker(instance: string): WorkerExtra {
    let w = this.workerExtra.get(instance);
    if (!w) this.workerExtra.set(instance, (w = { done: 0, restarts: 0, memoryRestarts: 0, died: false }));
    return w;
  }

  /**
   * Workers silent past the dead window, as the executor table judges them
   * (ExecutorTable.workerSilentPastDead): `worker-died` (once), and kept as gone.
   */
  checkWorkers(now: number): void {
    const table = this.host.executors;
    for (const w of table.info()) {
      const x = this.worker(w.instance);
      const silent = table.workerSilentMs(w.instance, now);
      const dead = table.workerSilentPastDead(w.instance, now);
      if (!x.died && dead) {
        x.died = true;
        this.departed.set(w.instance, { info: { ...w, state: "gone", executors: [], done: x.done, restarts: x.restarts }, at: now });
        this.emit({ type: "worker-died", name: w.name, host: w.host, silentMs: silent });
        this.log?.warn(`worker ${w.name} (${w.host}) died: silent for ${(silent / 1000).toFixed(1)} s`);
      } else if (x.died && !dead) {
        x.died = false;
        this.departed.delete(w.instance);
      }
    }
  }

  /** Departed workers listed longer than the keep-gone window are forgotten. */
  prune(now: number): void {
    for (const [k, d] of this.departed) if (now - d.at > this.keepGoneMs) this.departed.delete(k);
  }

  /** The live executors' mean CPU, their resident memory and their workers' memory limits, summed. */
  load(): { cpu: number; rss: number; limit: number } {
    let cpu = 0;
    let rss = 0;
    let limit = 0;
    let n = 0;
    for (const w of this.host.executors.info()) {
      for (const e of w.executors as ExecutorInfo[]) {
        cpu += this.execExtra.get(e.id)?.cpu ?? 0;
        rss += e.rss;
        limit += w.memoryLimit;
        n++;
      }
    }
    return { cpu: n ? cpu / n : 0, rss, limit };
  }

  /** `sched.info`'s workers with states (running / paused / restarting / gone), CPU and totals. */
  workerInfo(workers: WorkerInfo[]): WorkerInfo[] {
    const now = Date.now();
    this.present = new Set(workers.map((w) => w.instance));
    for (const w of workers) {
      const x = this.worker(w.instance);
      let paused = w.executors.length > 0;
      for (const e of w.executors) {
        const ex = this.execExtra.get(e.id);
        e.cpu = ex?.cpu ?? 0;
        e.paused = ex?.paused ?? false;
        if (!e.paused) paused = false;
        if (e.paused) e.state = "paused";
      }
      w.done = x.done;
      w.restarts = x.restarts;
      if (this.host.executors.workerSilentPastDead(w.instance, now)) w.state = "gone";
      else if (w.executors.length === 0 && x.restarts === 0) w.state = "starting";
      else if (w.nprocs > 0 && w.executors.filter((e) => e.state === "running" || e.state === "paused").length < w.nprocs) w.state = "restarting";
      else if (paused) w.state = "paused";
      else w.state = "running";
    }
    return workers;
  }

  /** Workers that left or died recently and are no longer in the table (state "gone"). */
  departedWorkers(): WorkerInfo[] {
    return [...this.departed].filter(([instance]) => !this.present.has(instance)).map(([, d]) => d.info);
  }

  /** NATS bytes in and out: the scheduler's own and its executors' (those gone included). */
  bytes(): { in: number; out: number; schedulerIn: number; schedulerOut: number; executorsIn: number; executorsOut: number } {
    const s = this.host.tx.stats();
    let ein = this.goneBytesIn;
    let eout = this.goneBytesOut;
    for (const x of this.execExtra.values()) (ein += x.bytesIn), (eout += x.bytesOut);
    return { in: s.inBytes + ein, out: s.outBytes + eout, schedulerIn: s.inBytes, schedulerOut: s.outBytes, executorsIn: ein, executorsOut: eout };
  }
}
