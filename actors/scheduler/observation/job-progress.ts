/**
 * Job progress for the dashboard, `/metrics` and the `job-started` / `job-finished` events: which
 * job each chunk of the task table belongs to, how many of its rows are done (read from the table's
 * chunks at each tick, never per task), its rate and its end. One of the monitor's parts (monitor.ts
 * calls submitted / update / views; the scheduler never calls this directly).
 */
import type { ClusterEvent, FnDef, Submit } from "../../../runtime/protocol.ts";
import type { TaskTable } from "../tasks.ts";
import type { JobView } from "./dashboard/views.ts";
import { fnLabel } from "./fn-label.ts";

export interface JobRec {
  key: string;
  client: string;
  job: number;
  fn: string;
  name: string;
  kind: "map" | "submit";
  total: number;
  received: number;
  /** Rows of chunks known finished. */
  doneRows: number;
  /** Chunks not finished yet: [chunk id, rows]. */
  chunks: [number, number][];
  errors: number;
  startedAt: number;
  finishedAt?: number;
  lastActive: number;
  rate: number;
  lastDone: number;
  lastRateAt: number;
  /** Rows were re-submitted after a reconnect: `total` may never be reached here, finish on idle. */
  resynced?: boolean;
}

const KEEP_FINISHED_JOBS = 20;

export class JobProgress {
  /** Ids of pooled single-submit jobs. */
  private nextPooledJob = 1;
  private readonly jobs = new Map<string, JobRec>();
  /** Chunk id → its job, while the chunk has unfinished rows. */
  private readonly chunkJob = new Map<number, JobRec>();
  /** Pooled single submits: (client, fn) → the open job. */
  private readonly pooled = new Map<string, JobRec>();
  /** Jobs not finished at the last {@link update}. */
  active = 0;

  constructor(
    private readonly host: { readonly tasks: TaskTable },
    private readonly fnDef: (hash: string) => FnDef | undefined,
    private readonly emit: (e: ClusterEvent) => void,
  ) {}

  /** One accepted `sched.submit`; `slots[i]` are the slots of `m.groups[i]`. */
  submitted(m: Submit, slots: Uint32Array[], now: number): void {
    for (let i = 0; i < m.groups.length; i++) {
      const g = m.groups[i]!;
      const s = slots[i];
      if (!s || s.length === 0) continue;
      const chunkCol = this.host.tasks.chunk;
      // A re-submit after a reconnect (`resync`) mixes rows held already with new ones: count only
      // the rows of chunks not tracked yet (rare, so the per-row walk is fine).
      const fresh = new Map<number, number>();
      if (m.resync) {
        for (let r = 0; r < s.length; r++) {
          const c = chunkCol[s[r]!]!;
          if (!this.chunkJob.has(c)) fresh.set(c, (fresh.get(c) ?? 0) + 1);
        }
      } else fresh.set(chunkCol[s[0]!]!, s.length);
      if (fresh.size === 0) continue;
      const job = this.jobFor(m.client, g.fn, typeof g.job === "number" ? g.job : undefined, typeof g.total === "number" ? g.total : 0, s.length, now);
      if (m.resync) job.resynced = true;
      for (const [chunk, rows] of fresh) {
        job.received += rows;
        job.chunks.push([chunk, rows]);
        this.chunkJob.set(chunk, job);
      }
      if (job.kind === "submit") job.total = job.received;
      job.lastActive = now;
    }
  }

  private jobFor(client: string, fn: string, id: number | undefined, total: number, rows: number, now: number): JobRec {
    const asMap = id !== undefined && total > 1;
    const key = asMap ? `${client}:${id}` : `${client}:submit:${fn}`;
    let j = asMap ? this.jobs.get(key) : this.pooled.get(key);
    if (j && j.finishedAt === undefined) return j;
    const name = fnLabel(this.fnDef(fn), fn);
    const jobId = asMap ? id! : this.nextPooledJob++;
    j = {
      key: asMap ? key : `${key}:${jobId}`,
      client,
      job: jobId,
      fn,
      name,
      kind: asMap ? "map" : "submit",
      total: asMap ? total : 0,
      received: 0,
      doneRows: 0,
      chunks: [],
      errors: 0,
      startedAt: now,
      lastActive: now,
      rate: 0,
      lastDone: 0,
      lastRateAt: now,
    };
    this.jobs.set(j.key, j);
    if (!asMap) this.pooled.set(key, j);
    this.emit({ type: "job-started", client, job: j.job, name, kind: j.kind, total: asMap ? total : rows });
    return j;
  }

  /** The job of the task in slot `s` (its chunk's), while the chunk has unfinished rows. */
  ofSlot(s: number): JobRec | undefined {
    const chunkCol = this.host.tasks.chunk;
    return s < chunkCol.length ? this.chunkJob.get(chunkCol[s]!) : undefined;
  }

  /** Entries held, for info (a long-lived scheduler's state must not grow with every client). */
  counts(): { jobs: number; chunkJobs: number; pooled: number } {
    let open = 0;
    for (const j of this.jobs.values()) if (j.finishedAt === undefined) open++;
    // Finished jobs are kept for the dashboard, the newest KEEP_FINISHED_JOBS only: not counted.
    return { jobs: open, chunkJobs: this.chunkJob.size, pooled: this.pooled.size };
  }

  /** Job progress from the task table's chunks: a chunk gone from the table is finished. */
  update(now: number): void {
    const chunks = this.host.tasks.chunks;
    let finished = 0;
    for (const j of this.jobs.values()) {
      if (j.finishedAt !== undefined) {
        finished++;
        continue;
      }
      let w = 0;
      for (const c of j.chunks) {
        if (chunks.has(c[0])) j.chunks[w++] = c;
        else {
          j.doneRows += c[1];
          this.chunkJob.delete(c[0]);
        }
      }
      j.chunks.length = w;
      const done = this.jobDone(j);
      const dt = (now - j.lastRateAt) / 1000;
      if (dt >= 0.9) {
        const r = (done - j.lastDone) / dt;
        j.rate = j.lastDone === 0 && j.rate === 0 ? r : 0.5 * j.rate + 0.5 * r;
        j.lastDone = done;
        j.lastRateAt = now;
      }
      const complete = j.resynced ? j.chunks.length === 0 && now - j.lastActive > 1000 : done > 0 && done >= j.total && j.received >= j.total;
      if (complete) {
        j.finishedAt = now;
        finished++;
        if (j.kind === "submit") this.pooled.delete(`${j.client}:submit:${j.fn}`);
        this.emit({ type: "job-finished", client: j.client, job: j.job, name: j.name, kind: j.kind, total: j.total, errors: j.errors, ms: now - j.startedAt });
      }
    }
    this.active = this.jobs.size - finished;
    if (finished > KEEP_FINISHED_JOBS) {
      const old = [...this.jobs.values()].filter((j) => j.finishedAt !== undefined).sort((a, b) => a.finishedAt! - b.finishedAt!);
      for (const j of old.slice(0, old.length - KEEP_FINISHED_JOBS)) this.jobs.delete(j.key);
    }
  }

  private jobDone(j: JobRec): number {
    let done = j.doneRows;
    const chunks = this.host.tasks.chunks;
    for (const [id, rows] of j.chunks) {
      const c = chunks.get(id);
      done += c ? rows - c.remaining : rows;
    }
    return done;
  }

  /** The jobs as the dashboard and `/metrics` show them: running first (oldest first), then finished (newest first). */
  views(): JobView[] {
    const out: JobView[] = [];
    for (const j of this.jobs.values()) {
      const done = j.finishedAt !== undefined ? j.total : Math.min(j.total || Infinity, this.jobDone(j));
      const rate = j.finishedAt !== undefined ? (j.total / Math.max(0.001, (j.finishedAt - j.startedAt) / 1000)) : j.rate;
      const left = j.total - done;
      out.push({
        key: j.key,
        client: j.client,
        job: j.job,
        name: j.name,
        kind: j.kind,
        total: j.total,
        done,
        errors: j.errors,
        state: j.finishedAt !== undefined ? "finished" : "running",
        startedAt: j.startedAt,
        ...(j.finishedAt !== undefined ? { finishedAt: j.finishedAt } : {}),
        rate,
        ...(j.finishedAt === undefined && rate > 0 ? { eta: left / rate } : j.finishedAt !== undefined ? { eta: 0 } : {}),
      });
    }
    // Running first (oldest first), then finished (newest first).
    return out.sort((a, b) => (a.state !== b.state ? (a.state === "running" ? -1 : 1) : a.state === "running" ? a.startedAt - b.startedAt : b.finishedAt! - a.finishedAt!));
  }
}
