/**
 * The client's session (its connection layer): registration and the lease (start, renewLease), the
 * connection's lifecycle (connection.machine.ts: re-submit on reconnect, fail on give-up), and the
 * two routes a client serves for its tasks: results.<clientId> (→ onResults) and log.<clientId>
 * (→ onLog); `alive` (the scheduler's beat) is handled in start(). close() ends it all.
 */
import { Errors, TsDaskError, taskErrorOf } from "../runtime/errors.ts";
import type { LogLines, RegisterClient, RegisterReply, Results } from "../runtime/protocol.ts";
import { redactUrl } from "../runtime/nats-auth.ts";
import { routes } from "../runtime/routes.ts";
import { Transport } from "../runtime/transport.ts";
import { everyBeat } from "../runtime/beat-clock.ts";
import { hello, versionWarning } from "../runtime/version.ts";
import { ERROR, FINISHED } from "./jobs.ts";
import { type LocalClusterHandle } from "../runtime/local-cluster.ts";
import { createActor, type ActorRefFrom } from "xstate";
import { connectionMachine } from "./connection.machine.ts";
import type { ClientOptions } from "./options.ts";
import { ClientState } from "./client-state.ts";
import { LostResultsWatch } from "./lost-results.ts";

export abstract class ClientSession extends ClientState {
  /** The client's logger is silent (bad input is only counted), but a lost subscription is said aloud. */
  protected override onSubscriptionError(e: TsDaskError): void {
    super.onSubscriptionError(e);
    console.error(e.message);
  }

  protected async start(servers: string, opts: ClientOptions) {
    this.serve(routes.results.at(this.id), (m) => this.onResults(m));
    this.serve(routes.alive, (m) => {
      // Another instance, ours silent for the dead window: register there now. The move (and its
      // one re-submission) happens when it answers (renewLease); a rival's beats change nothing.
      if (this.watch.alive(m.instance) === "new" && this.watch.current) this.renewLease();
    });
    this.tx.onStatus((st) => {
      if (st === "disconnected") this.connection?.send({ type: "DISCONNECTED" });
      if (st === "reconnected") this.connection?.send({ type: "RECONNECTED" });
    });
    if (opts.forwardLogs !== false) this.serve(routes.log.at(this.id), (m) => this.onLog(m));
    let r: RegisterReply;
    try {
      r = await this.tx.request<RegisterReply>(this.subjects.register, this.registration(), opts.connectTimeoutMs ?? 5000);
    } catch (e) {
      await this.tx.close();
      if (Transport.isNoAnswer(e)) throw Errors.NoScheduler(this.cluster, redactUrl(servers));
      throw e;
    }
    if (!r.ok) {
      await this.tx.close();
      // The scheduler's refusal, under its own code (ProtocolMismatch, ClientIdTaken…).
      throw new TsDaskError(r.code, r.message);
    }
    this.watch.adopt(r.scheduler);
    this.watch.heartbeat(r.heartbeatMs);
    this.versionWarning = versionWarning("This client", hello(), r.hello);
    if (this.versionWarning) console.warn(this.versionWarning);
    // Created only once registered: a machine left running after a failed connect would keep
    // its (never firing) give-up timer, and the process, alive.
    this.connection = createActor(
      connectionMachine.provide({
        actions: {
          resubmitPending: () => this.resubmitPending("reconnected"),
          failPending: ({ context }) => this.failPending(context.reason),
        },
      }),
      { input: { giveUpAfterMs: opts.giveUpAfterMs } },
    );
    this.connection.subscribe({ complete: () => void this.close() });
    this.connection.start();
    this.connection.send({ type: "CONNECTED" });
    this.leaseEvery(r.leaseMs);
  }

  /**
   * Renews the lease a few times within the scheduler's grace period (every second for the default
   * 5 s, every 15 s for a private cluster's 60 s): each renewal is a round trip that wakes three
   * processes. A scheduler's restart is heard from its `alive` beats at once, not from a renewal.
   */
  protected leaseEvery(graceMs: number | undefined) {
    const ms = Math.min(MAX_LEASE_RENEW_MS, Math.max(LEASE_RENEW_MS, Math.floor((graceMs ?? 0) / 4)));
    if (this.leaseTimer && ms === this.leaseMs) return;
    this.leaseTimer?.();
    clearTimeout(this.reportTimer);
    this.leaseMs = ms;
    // On the wall clock's grid (runtime/beat-clock.ts): it reaches the scheduler with its own beat.
    this.leaseTimer = everyBeat(ms, this.renewFn);
  }

  protected reportTimer: NodeJS.Timeout | undefined;
  /**
   * Renews within a second when there is news for the scheduler (forged rows: info, metrics and
   * events show them), however long the lease's period.
   */
  protected reportSoon() {
    if (this.reportTimer || this.closed) return;
    this.reportTimer = setTimeout(() => {
      this.reportTimer = undefined;
      this.renewLease();
    }, LEASE_RENEW_MS);
    this.reportTimer.unref();
  }

  /** Re-registers (the client's lease). A scheduler that did not know us lost our work: re-submit it. */
  protected renewLease() {
    if (this.closed) return;
    this.tx
      // Only our scheduler's answer, or a new one's once ours is silent, is believed.
      .requestWhere<RegisterReply>(this.subjects.register, this.registration(), LEASE_RENEW_MS * 2, (r) => r?.ok === true && this.watch.accepts(r.scheduler))
      .then((r) => {
        if (!r.ok) return;
        // A move re-submits even if the new scheduler already saw us: its `fresh` may have gone
        // to an answer we did not believe yet (while the old one still beat).
        const moved = this.watch.adopt(r.scheduler);
        this.watch.heartbeat(r.heartbeatMs);
        this.leaseEvery(r.leaseMs);
        // A new scheduler knows none of the actors: their hosts ended them when they followed it.
        if (moved && !this.closed) this.actorClient.endAll("the scheduler restarted (actors do not survive it)");
        if (!moved && !r.fresh && this.lostResults.observe(this.waitingRows(), typeof r.held === "number" ? r.held : undefined, this.submitter.isIdle)) {
          this.resubmitPending("results the scheduler sent never arrived (it holds fewer of our tasks than we wait for)");
        }
        if ((moved || r.fresh) && !this.closed) {
          this.submitter.forgetDefinitions();
          this.largeArgs.restoreShared();
          void this.scattered.uploadAgain().then(() => {
            this.resubmitPending("the scheduler did not know this client (restarted, or the lease had expired)");
            // Executors keep what they have; this is for workers that join the new scheduler later.
            return this.replayUploads();
          });
        }
      })
      .catch(() => {}); // no scheduler right now: the next renewal tries again
  }

  /** Stops the lease renewals' beat (runtime/beat-clock.ts). */
  protected leaseTimer: (() => void) | undefined;
  private readonly renewFn = () => this.renewLease();
  protected leaseMs = LEASE_RENEW_MS;

  protected registration(): RegisterClient {
    return { kind: "client", hello: hello(), id: this.id, auth: this.auth, secret: this.ticketSecret, maxValueBytes: this.maxValueBytes, nats: this.tx.node, ...(this.forged ? { forged: this.forged } : {}), ...(this.tx.requests.lateReplies ? { lateReplies: this.tx.requests.lateReplies } : {}) };
  }

  /** The private cluster started by `connect()` with no address (undefined otherwise). */
  get localCluster(): LocalClusterHandle | undefined {
    return this.local;
  }

  /** The NATS address of the cluster (the embedded one's when started by connect()). */
  get address(): string {
    return this.local?.url ?? this.tx.server;
  }

  // --- results --------------------------------------------------------------------------------

  protected onResults(m: Results) {
    // Every row must carry the ticket our scheduler issued for it (runtime/tickets.ts): one cipher call per message.
    const n = m.keys.length;
    this.received += n;
    if (this.ticketBad.length < n) this.ticketBad = new Uint8Array(n);
    const bad = this.ticketBad;
    const failures = this.tickets.verify(m.keys, m.tickets, bad);
    if (failures < 0) {
      this.forged += n;
      this.reportSoon();
      return this.dropped("results: no valid tickets");
    }
    if (failures > 0) {
      this.forged += failures;
      this.reportSoon();
      this.dropped("results: rows with a wrong ticket");
    }
    const errs = m.errors?.length ? new Map(m.errors.map((e) => [e.i, e])) : undefined;
    if (this.settleRows(m, failures, bad, errs)) this.jobs.prune();
  }

  /**
   * Settles the rows of one results message; true when a job has no row left. The loop is a
   * function of its own, with nothing after it but the return: V8 (Node 20) compiles a long loop
   * on the stack (OSR) during a big map and keeps that code after it bails out, so a rare branch
   * after the loop in the same function (the prune above, taken by every lone submit's result,
   * never during a map) bailed out of it on every later message (bench/embedded, `--trace-deopt`:
   * 301 deopts in 300 submits, in some cold runs).
   */
  private settleRows(m: Results, failures: number, bad: Uint8Array, errs: Map<number, NonNullable<Results["errors"]>[number]> | undefined): boolean {
    const n = m.keys.length;
    let settledJobs = false;
    for (let i = 0; i < n; i++) {
      if (failures > 0 && bad[i]) {
        bad[i] = 0;
        continue;
      }
      const key = m.keys[i]!;
      const job = this.jobs.find(key);
      if (!job) {
        this.duplicates++;
        if (m.large?.includes(i)) this.largeResults.discard(key, m.values[i]);
        continue;
      }
      const row = key - job.base;
      const e = errs?.get(i);
      if (e && (e.code === "" || e.code === "TaskTimeout") && job.status[row] === 0 && job.takeRetry(row)) {
        this.submitter.add({ ...job.piece!, from: row, to: row + 1 });
        continue;
      }
      const ok = e
        ? job.settle(row, ERROR, undefined, taskErrorOf(job.keyName(row), m.worker, e))
        : job.settle(row, FINISHED, m.large && m.large.includes(i) && job.status[row] === 0 ? this.largeResults.adopt(job, row, m.values[i]) : m.values[i]);
      if (!ok) {
        this.duplicates++;
        if (m.large?.includes(i)) this.largeResults.discard(key, m.values[i]);
      } else this.resolved++;
      if (job.remaining === 0) settledJobs = true;
    }
    return settledJobs;
  }

  protected onLog(m: LogLines) {
    for (const [stream, text] of m.lines) {
      const line = `(${m.worker}) ${text}`;
      if (stream === 2) process.stderr.write(line + "\n");
      else process.stdout.write(line + "\n");
    }
  }

  /** Repeats this client's uploadFile/install calls for a new scheduler (executors that have them skip them). */
  protected async replayUploads() {
    for (const [what, send] of this.replays) {
      try {
        await send();
      } catch (e) {
        this.log.warn(`could not repeat ${what.replace(":", " ")} for the new scheduler: ${(e as Error).message}`);
      }
    }
  }

  /**
   * After a connection loss or a scheduler restart, results or submissions may have been lost:
   * every row without a result is submitted again, marked so the scheduler skips rows it still
   * holds. A row may then run twice; its future still resolves once (the later result is dropped
   * and counted in {@link duplicates}).
   */
  protected resubmitPending(why: string) {
    if (this.closed) return;
    let n = 0;
    for (const job of this.jobs.pending()) {
      if (!job.piece) continue;
      for (let i = 0; i < job.size; ) {
        if (job.status[i] !== 0) {
          i++;
          continue;
        }
        let j = i;
        while (j < job.size && job.status[j] === 0) j++;
        this.submitter.add({ ...job.piece, from: i, to: j, resync: true });
        n += j - i;
        i = j;
      }
    }
    this.resubmitted += n;
    if (n) this.log.info(`${why}: re-submitted ${n} pending task(s)`);
  }

  /** The connection's lifecycle (client/connection.machine.ts). */
  protected connection: ActorRefFrom<typeof connectionMachine> | undefined;

  protected failPending(reason: string | null) {
    for (const job of this.jobs.pending()) {
      job.failPending((i) => Errors.ClientClosed(job.keyName(i), reason ?? undefined));
    }
  }

  /** Rows re-submitted after connection losses, scheduler restarts or lost results. */
  resubmitted = 0;
  protected readonly lostResults = new LostResultsWatch();

  /** Rows of submitted jobs without a result yet (what {@link resubmitPending} would send again). */
  protected waitingRows(): number {
    let n = 0;
    for (const job of this.jobs.pending()) if (job.piece) n += job.remaining;
    return n;
  }

  /** Fails pending futures, disconnects, and stops the private cluster if this client started one. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.actorClient.endAll("this client closed");
    // The scheduler hears first: failing millions of pending futures takes seconds here.
    try {
      this.tx.send(this.subjects.bye, { id: this.id, kind: "client", auth: this.auth });
    } catch {
      /* gone already */
    }
    await null; // nats.js writes it out in a microtask: before the synchronous failPending below
    this.connection?.send({ type: "CLOSE" }); // → failPending
    this.submitter.close();
    this.leaseTimer?.();
    this.leaseTimer = undefined;
    this.stopListening();
    this.outputs.flush();
    await this.outputs.drain(); // durable outputs: every stored row acknowledged
    this.watch.stop();
    await this.tx.close();
    await this.local?.stop();
  }

}

/** How often a client renews its lease with the scheduler. */
const LEASE_RENEW_MS = 1000;
/** The longest between two renewals, whatever the grace period. */
const MAX_LEASE_RENEW_MS = 15_000;

