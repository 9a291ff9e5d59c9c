/**
 * What the scheduler trusts (issue 11): the token of each registered client, executor and worker,
 * each client's ticket key, and counters of what was dropped as not bound to this scheduler.
 * Also notices a second live scheduler on the cluster (its `alive` beats) and says so loudly.
 * Checks are one string comparison per message; tickets are one cipher call per task group.
 */
import { randomId } from "../../runtime/ids.ts";
import type { Logger } from "../../runtime/actor.ts";
import type { ClusterEvent, RegisterClient } from "../../runtime/protocol.ts";
import { TicketKey } from "../../runtime/tickets.ts";
import { PeerTotals } from "./observation/peer-totals.ts";

/** A rival not heard from for this long is forgotten. */
const RIVAL_FORGET_MS = 60_000;
/** Rivals remembered at most (forged beats may invent a new instance each time). */
const MAX_RIVALS = 16;
/** At most one loud log line per this period (the event and the count say the rest). */
const RIVAL_LOG_MS = 10_000;

export class Trust {
  /** Messages this scheduler dropped as not bound to it. */
  dropped = 0;
  /** Client index → its ticket key (absent: the client registered without one). */
  readonly tickets: (TicketKey | undefined)[] = [];
  private readonly clientAuth = new Map<string, string>();
  /** Client id → number of its last submit message (Submit.seq). */
  private readonly clientSeq = new Map<string, number>();
  /** Forgeries counted by executors (their heartbeats; a gone executor's entry is dropped, its count kept) and clients (their lease renewals). */
  private readonly byExecutor = new PeerTotals();
  private readonly byClient = new Map<string, number>();
  /** Forgeries counted by clients that have left (their entries in byClient are gone). */
  private byGoneClients = 0;
  /**
   * Clients dropped here (closed or lease expired), newest few thousand: their token and last
   * submit number, so one that comes back must still show its token and cannot be replayed.
   */
  private readonly gone = new Map<string, { auth: string; seq: number | undefined; forged: number }>();
  private readonly rivals = new Map<string, number>();
  private reported = { scheduler: 0, executors: 0, clients: 0 };
  private rivalLoggedAt = -Infinity;
  /** Beats heard from other scheduler instances. */
  rivalBeats = 0;

  constructor(
    readonly instance: string,
    private readonly log: Logger,
    private readonly emit: (e: ClusterEvent) => void,
  ) {}

  /** A fresh token for a worker's or executor's registration. */
  newToken(): string {
    return randomId(16);
  }

  /**
   * A client registers (or renews its lease): the first token seen for an id owns it for this
   * scheduler's life. Returns false when another token already owns the id (an impostor).
   */
  registerClient(m: RegisterClient, index: number): boolean {
    const known = this.clientAuth.get(m.id);
    if (known !== undefined && known !== m.auth) return false;
    if (known === undefined) {
      const back = this.gone.get(m.id);
      if (back && back.auth !== m.auth) return false;
      if (back) {
        this.gone.delete(m.id);
        if (back.seq !== undefined) this.clientSeq.set(m.id, back.seq);
        // Its count is cumulative: it reports it again now.
        this.byGoneClients -= back.forged;
      }
      this.clientAuth.set(m.id, m.auth);
      this.tickets[index] = new TicketKey(m.secret);
    }
    if (typeof m.forged === "number" && m.forged > 0) this.byClient.set(m.id, m.forged);
    return true;
  }

  /** A client was dropped (closed, or its lease expired): its token and counters leave the tables. */
  forgetClient(id: string): void {
    const auth = this.clientAuth.get(id);
    if (auth === undefined) return;
    this.clientAuth.delete(id);
    const forged = this.byClient.get(id) ?? 0;
    this.gone.set(id, { auth, seq: this.clientSeq.get(id), forged });
    // The oldest is forgotten for good (its count stays in the total).
    if (this.gone.size > 4096) this.gone.delete(this.gone.keys().next().value!);
    this.clientSeq.delete(id);
    this.byGoneClients += forged;
    this.byClient.delete(id);
  }

  /** A client index was freed (clients.ts): its ticket key goes. */
  freeIndex(index: number): void {
    this.tickets[index] = undefined;
  }

  /** Per-client entries held, for info. */
  counts(): { tokens: number; tickets: number; remembered: number; executors: number } {
    let tickets = 0;
    for (const k of this.tickets) if (k) tickets++;
    return { tokens: this.clientAuth.size, tickets, remembered: this.gone.size, executors: this.byExecutor.size };
  }

  /** Whether a client message carries its client's token. */
  isClient(id: string, auth: unknown): boolean {
    // A client dropped here (cut off past its grace period) still holds its token: its messages
    // in flight until it registers again (a scatter's chunks, say) are its own, as before it left.
    const known = this.clientAuth.get(id) ?? this.gone.get(id)?.auth;
    return known !== undefined && known === auth;
  }

  /**
   * Whether a client holds a live registration with that token (not only a remembered one): work is
   * taken only from such a client, as its results need the ticket key its registration gives. A
   * submit in flight when the client was dropped is refused (UnknownClient) and comes again after
   * the client registers anew (client/submitter.ts).
   */
  isRegisteredClient(id: string, auth: unknown): boolean {
    const known = this.clientAuth.get(id);
    return known !== undefined && known === auth;
  }

  /** Whether a client's submit is new (not a replay of an older message); records it. */
  freshSubmit(id: string, seq: unknown): boolean {
    if (typeof seq !== "number") return true;
    if (seq <= (this.clientSeq.get(id) ?? 0)) return false;
    this.clientSeq.set(id, seq);
    return true;
  }

  /** Counts a dropped message (the actor's badInput map has the per-kind detail). */
  drop(): void {
    this.dropped++;
  }

  executorForged(id: string, n: number | undefined): void {
    this.byExecutor.report(id, n);
  }

  /** An executor left: its entry goes (what it counted stays in the total). */
  forgetExecutor(id: string): void {
    this.byExecutor.forget(id);
  }

  /** Another scheduler's `alive`: two live schedulers on one cluster is a misconfiguration, said loudly. */
  onAlive(instance: string): void {
    if (instance === this.instance) return;
    this.rivalBeats++;
    const now = Date.now();
    const first = !this.rivals.has(instance);
    if (first && this.rivals.size >= MAX_RIVALS) this.rivals.delete(this.rivals.keys().next().value!);
    this.rivals.set(instance, now);
    if (!first) return;
    this.emit({ type: "rival-scheduler", instance });
    if (now - this.rivalLoggedAt < RIVAL_LOG_MS) return;
    this.rivalLoggedAt = now;
    this.log.warn(`ANOTHER SCHEDULER (instance ${instance}) is announcing itself on this cluster (${this.rivals.size} heard recently). Clients and workers stay with the one they have; stop the other one.`);
  }

  /** Called on the scheduler's beat: forgets silent rivals, reports new drops as one event. */
  tick(now = Date.now()): void {
    for (const [i, seen] of this.rivals) if (now - seen > RIVAL_FORGET_MS) this.rivals.delete(i);
    const s = this.stats();
    for (const where of ["scheduler", "executors", "clients"] as const) {
      const n = s[where] - this.reported[where];
      if (n > 0) this.emit({ type: "forged", where, count: n });
    }
    this.reported = { scheduler: s.scheduler, executors: s.executors, clients: s.clients };
  }

  stats(): { scheduler: number; executors: number; clients: number; rivals: string[] } {
    const executors = this.byExecutor.total;
    let clients = this.byGoneClients;
    for (const n of this.byClient.values()) clients += n;
    return { scheduler: this.dropped, executors, clients, rivals: [...this.rivals.keys()] };
  }
}
