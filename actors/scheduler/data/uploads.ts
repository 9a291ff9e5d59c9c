/**
 * The scheduler's list of uploads and installs (client.uploadFile / client.install), replayed to
 * every executor and worker that joins or restarts later. Handlers, by subject:
 *   sched.upload → onUpload    sched.install → onInstall
 *
 * Bytes (archives, package files) stay in the data store under owners `@uploads` / `@installs`,
 * so they outlive the client that sent them and every worker. Only the newest version of each
 * upload name is kept. An upload is fanned out to the running executors (`exec.<id>.upload`); one
 * that answers `replaced` is then recycled gracefully (`exec.<id>.control` `recycle`), so old
 * versions do not pile up in its memory. An install goes to every live worker's supervisor
 * (`worker.<instance>.install`), which runs npm once per local directory.
 */
import type { Logger } from "../../../runtime/actor.ts";
import { Transport } from "../../../runtime/transport.ts";
import type { ExecUploadReply, InstallJob, InstallOutcome, InstallReply, InstallRequest, Subjects, UploadDef, UploadOutcome, UploadReply, UploadRequest } from "../../../runtime/protocol.ts";
import type { DataStore } from "./data-store.ts";
import type { ExecutorTable } from "../executors.ts";

const UPLOADS = "@uploads";
const INSTALLS = "@installs";
/** An executor fetches and unpacks an archive: generous. */
const UPLOAD_TIMEOUT_MS = 120_000;
/** npm may download a lot. */
const INSTALL_TIMEOUT_MS = 15 * 60_000;

export class UploadRegistry {
  private readonly uploads = new Map<string, UploadDef>();
  private readonly installs = new Map<string, InstallJob>();

  constructor(
    private readonly tx: Transport,
    private readonly subjects: Subjects,
    private readonly data: DataStore,
    private readonly executors: ExecutorTable,
    private readonly log: Logger,
    /** The scheduler's silence verdict (suspect + dead windows, 2.25 s by default). */
    private readonly silenceMs = 2250,
  ) {}

  /**
   * A fan-out request to a member that may be leaving: its answer, `leftAs(reason)` if it leaves the
   * table first, or a failure. "No responders" means its connection is closed or closing (recycled,
   * retiring, stopping) and its departure (its supervisor's report, or its silence) is on the way:
   * wait for that, up to twice the silence verdict (at least 10 s), before calling it a failure.
   */
  private async askUnlessLeaving<T, L>(asked: Promise<T>, gone: { left: Promise<string>; cancel(): void }, leftAs: (why: string) => L, noAnswer: string): Promise<T | L | { ok: false; error: string }> {
    const left = gone.left.then(leftAs);
    try {
      return await Promise.race<T | L>([asked, left]);
    } catch (e) {
      if (!Transport.isNoResponders(e)) return { ok: false, error: Transport.isNoAnswer(e) ? noAnswer : (e as Error).message };
      const graceMs = Math.max(10_000, 2 * this.silenceMs);
      const failed = { ok: false as const, error: `not listening (NATS: no responders), yet still registered after ${graceMs / 1000} s` };
      return await Promise.race([left, new Promise<typeof failed>((resolve) => setTimeout(() => resolve(failed), graceMs).unref())]);
    } finally {
      gone.cancel();
    }
  }

  /** What a registering executor (its uploads) or worker (its installs) must catch up on. */
  replayFor(kind: "executor" | "worker"): { uploads?: UploadDef[]; installs?: InstallJob[] } {
    if (kind === "executor") return this.uploads.size ? { uploads: [...this.uploads.values()] } : {};
    return this.installs.size ? { installs: [...this.installs.values()] } : {};
  }

  async onUpload(m: UploadRequest): Promise<UploadReply> {
    const def = m.upload;
    // One owner per name: two names with byte-identical archives must not release each other's bytes.
    const owner = `${UPLOADS}:${def.name}`;
    if (!this.data.retain(def.hash, owner)) return { ok: false, code: "BadUpload", message: `the bytes of upload '${def.name}' never reached the scheduler; upload it again` };
    const old = this.uploads.get(def.name);
    this.uploads.set(def.name, def);
    // Confirmed or not: one that registered before this upload but has not confirmed yet got a
    // replay without it, and would take work without ever having it.
    const execs = this.executors.running();
    this.log.info(`upload '${def.name}' (${def.kind}, ${def.size} bytes, ${def.hash.slice(0, 12)}): to ${execs.length} executor(s)`);
    const outcomes: Record<string, UploadOutcome> = {};
    await Promise.all(
      execs.map(async (rec) => {
        // An executor that exits before answering (recycled, crashed, killed) leaves the table: its
        // replacement gets this upload when it registers, so that is not a failure to wait 2 min for.
        const r = await this.askUnlessLeaving(
          this.tx.request<ExecUploadReply>(this.subjects.execUpload(rec.id), { uploads: [def], auth: rec.auth }, UPLOAD_TIMEOUT_MS),
          this.executors.whenGone(rec),
          (why) => ({ left: why }),
          "no answer (the executor stopped or is busy in a synchronous task)",
        );
        if ("left" in r) return void (outcomes[rec.name] = { ok: true, left: r.left });
        outcomes[rec.name] = r.ok ? { ok: true } : r;
        if (r.ok && r.replaced) this.tx.send(this.subjects.execControl(rec.id), { op: "recycle", auth: rec.auth });
      }),
    );
    // Failed everywhere (a bad archive): not replayed to later executors; the previous version stays.
    const current = this.uploads.get(def.name) === def;
    if (current && execs.length && Object.values(outcomes).every((o) => !o.ok)) {
      if (old) this.uploads.set(def.name, old);
      else this.uploads.delete(def.name);
      if (old?.hash !== def.hash) this.data.release(owner, [def.hash]);
    } else if (old && old.hash !== def.hash && this.uploads.get(def.name) !== old) {
      this.data.release(owner, [old.hash]); // replaced: the old bytes are no longer needed
    }
    return { ok: true, executors: sortKeys(outcomes) };
  }

  async onInstall(m: InstallRequest): Promise<InstallReply> {
    for (const s of m.specs) {
      if (s.tgz && !this.data.retain(s.tgz.hash, INSTALLS)) return { ok: false, code: "InstallFailed", message: `the package file ${s.tgz.file} never reached the scheduler; install again` };
    }
    const job: InstallJob = { specs: m.specs, ...(m.offline ? { offline: true } : {}), ...(m.npmArgs?.length ? { npmArgs: m.npmArgs } : {}) };
    const key = JSON.stringify([job.specs.map((s) => s.tgz?.hash ?? s.spec), job.offline ?? false, job.npmArgs ?? []]);
    if (!this.installs.has(key)) this.installs.set(key, job);
    const workers = this.executors.liveWorkers();
    this.log.info(`install ${m.specs.map((s) => s.spec).join(" ")}: on ${workers.length} worker(s)`);
    const outcomes: Record<string, InstallOutcome> = {};
    await Promise.all(
      workers.map(async (w) => {
        // As for uploads: a worker that stops mid-install is not a failure, it installs when it rejoins.
        outcomes[w.name] = await this.askUnlessLeaving(
          this.tx.request<InstallOutcome>(this.subjects.workerInstall(w.instance), { ...job, auth: this.executors.workerAuth(w.instance) }, INSTALL_TIMEOUT_MS),
          this.executors.whenWorkerGone(w.instance),
          (why): InstallOutcome => ({ ok: true, npm: false, versions: {}, left: why }),
          "no answer from the worker",
        );
      }),
    );
    // Failed everywhere (a typo, a missing file): not worth replaying to workers that join later.
    if (workers.length && Object.values(outcomes).every((o) => !o.ok)) this.installs.delete(key);
    return { ok: true, workers: sortKeys(outcomes) };
  }
}

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}
