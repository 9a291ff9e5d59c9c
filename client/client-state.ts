/**
 * The client's state (the first of its layers; client.ts lists them): the job index, the submitter,
 * scattered values, large arguments and results, outputs, deduplication, tokens and tickets, and what
 * a Future asks of its client (rowValue, releaseRow, cancelRows). Serves no route.
 *   client-state.ts    this file
 *   client-session.ts  registration and lease, results.<clientId> and log.<clientId>, reconnects, close
 *   client-tasks.ts    submit / map / with / gather / asCompleted / wait / cancel / flush (futures)
 *   client.ts          the Client: connect, modules, uploads and installs, scatter, run, restart, info, actors
 */
import { Actor, warningsLogger } from "../runtime/actor.ts";
import { Errors, TaskError } from "../runtime/errors.ts";
import { randomId } from "../runtime/ids.ts";
import { clientIdOf } from "../runtime/protocol.ts";
import { Outputs } from "./outputs.ts";
import { Transport } from "../runtime/transport.ts";
import { ERROR, Job, JobIndex } from "./jobs.ts";
import { type LocalClusterHandle } from "../runtime/local-cluster.ts";
import { Submitter } from "./submitter.ts";
import { ScatteredValues } from "./scatter.ts";
import type { ClientOptions } from "./options.ts";
import { LargeArgs, LargeResults } from "./large-values.ts";
import { DedupTable } from "./dedup.ts";
import { newTicketSecret, TicketKey } from "../runtime/tickets.ts";
import { SchedulerWatch } from "../runtime/scheduler-watch.ts";
import { actorSubjects } from "../runtime/protocol.ts";
import { ActorClient } from "./actors.ts";


/** The client's state; the layers above add what it does (see the list at the top). */
export abstract class ClientState extends Actor {
  /** `<random>`, or `<scope>.<random>` (protocol.ts clientIdOf; {@link ClientOptions.scope}). */
  readonly id: string;
  protected readonly jobs = new JobIndex();
  protected readonly submitter: Submitter;
  protected nextKey = 0;
  protected closed = false;
  /** Values scattered by this client (scatter.ts): identity cache, and what to upload again. */
  protected readonly scattered: ScatteredValues;
  /** Large results held by the scheduler until gathered; `pure`/`key` deduplication. */
  protected readonly largeResults: LargeResults;
  /** Named outputs (`{ publish }`): settled rows published for any subscriber (outputs.ts). */
  protected readonly outputs: Outputs;
  /** Large arguments stored apart (their shared ones are restored for a restarted scheduler). */
  protected readonly largeArgs: LargeArgs;
  protected readonly dedup = new DedupTable();
  /** Functions already warned about an undefined argument (once each). */
  protected readonly warnedUndefined = new Set<string>();
  /** Results received for futures already settled (re-runs after a failure): dropped, counted. */
  duplicates = 0;
  /** Set when the scheduler runs another ts-dask version (same protocol): the warning printed at connect ({@link Errors.VersionMismatch}). */
  versionWarning: string | undefined;
  /** Result rows that settled a future (each future's one result). */
  resolved = 0;
  /** Result rows received on this client's results subject, whatever became of them: each is then counted once as
   * {@link resolved}, {@link duplicates}, {@link forged}, or re-submitted under the call's `retries`. */
  received = 0;
  /** Result rows dropped for a missing or wrong ticket (forged, or not dispatched by our scheduler). */
  forged = 0;
  /** This client's token and result-ticket key, given to the scheduler at registration (issue 11). */
  protected readonly auth = randomId(16);
  protected readonly ticketSecret = newTicketSecret();
  protected readonly tickets = new TicketKey(this.ticketSecret);
  protected ticketBad = new Uint8Array(64);
  /** The scheduler followed; another one's beats are ignored while it lives (scheduler-watch.ts). */
  protected readonly watch = new SchedulerWatch(3000);
  /** User actors this client created or looked up (actors.ts). */
  protected readonly actorClient: ActorClient;

  protected constructor(
    tx: Transport,
    cluster: string,
    protected readonly local: LocalClusterHandle | undefined,
    /** The cap on one encoded value (see {@link ClientOptions.maxValueBytes}). */
    readonly maxValueBytes: number,
    scope: string | undefined,
    /** See {@link ClientOptions.sameHostScatter}. */
    sameHostScatter = true,
  ) {
    // What the user must know (a bad message dropped, a durable output that fell back to at-most-once,
    // an upload not repeated for a new scheduler) goes to stderr; routine recoveries stay quiet.
    super(tx, cluster, warningsLogger("ts-dask client:"));
    this.id = clientIdOf(randomId(), scope);
    const largeArgs = (this.largeArgs = new LargeArgs(tx, this.subjects, this.id, maxValueBytes, this.auth));
    this.largeResults = new LargeResults(tx, this.subjects, this.id, this.auth);
    this.outputs = new Outputs(tx, this.subjects, this.id, this.log);
    this.scattered = new ScatteredValues(tx, this.subjects, this.id, this.log, this.auth, sameHostScatter);
    this.actorClient = new ActorClient({ tx, subjects: actorSubjects(cluster), clientId: this.id, auth: this.auth, serve: (r, handler) => this.serve(r, handler) });
    this.submitter = new Submitter({
      offload: (p, size) => largeArgs.offload(p, size),
      rowBudget: largeArgs.budget,
      tx,
      subject: this.subjects.submit,
      clientId: this.id,
      auth: this.auth,
      accepts: (instance) => this.watch.accepts(instance),
      cancelRows: (job, rows) => this.cancelRows(job, rows),
      onUnsent: (rows, err) => {
        for (const { job, row } of rows) job.settle(row, ERROR, undefined, new TaskError(err.code ?? "TaskFailed", err.message, job.keyName(row), ""));
      },
    });
  }

  /**
   * Uploads and installs made through this client, in order, to be made again for a scheduler
   * that restarted (it keeps them in memory only, to replay them to workers that join later).
   */
  protected readonly replays = new Map<string, () => Promise<unknown>>();

  /** @internal A settled row's value; a large result is fetched from the scheduler (once). */
  rowValue(job: Job, row: number): unknown {
    return this.largeResults.value(job, row);
  }

  /** @internal future.release(). */
  releaseRow(job: Job, row: number): void {
    this.largeResults.release(job, row);
    this.dedup.drop(job, row);
  }

  /** @internal Cancels rows whose futures were already settled as cancelled. */
  cancelRows(job: Job, rows: number[]): void {
    const known = rows.filter((r) => job.slots[r] !== 0xffffffff);
    if (!known.length || this.closed) return;
    this.tx.send(this.subjects.cancel, {
      client: this.id,
      auth: this.auth,
      slots: Uint32Array.from(known, (r) => job.slots[r]!),
      keys: Uint32Array.from(known, (r) => job.base + r),
    });
  }

  protected assertOpen() {
    if (this.closed) throw Errors.ClientClosed("(new task)");
  }
}
