/**
 * What the scheduler keeps per executor (the dispatch unit): its identity, its figures from
 * heartbeats, what it was sent, its registration token and its liveness actor. The table that
 * holds these is executors.ts; the hot paths (placement, batches) read the plain fields.
 */
import type { ActorRefFrom } from "xstate";
import type { ExecutorInfo, Resources } from "../../runtime/protocol.ts";
import type { Silence } from "../../runtime/silence.ts";
import type { workerMachine } from "./worker.machine.ts";

export interface ExecutorRec {
  id: string;
  name: string;
  /** Small integer used in the task table (reused after the executor is gone). */
  index: number;
  worker: string;
  nthreads: number;
  pid: number;
  tasksSubject: string;
  /** Tasks assigned and not reported done. */
  assigned: number;
  done: number;
  running: number;
  queued: number;
  rss: number;
  dataFetches: number;
  dataPushed: number;
  dataBytes: number;
  cached?: { fns: number; mods: number; data: number };
  /** The executor said it takes no tasks (memory pressure, retiring). */
  paused?: boolean;
  fnsSent: Set<string>;
  modsSent: Set<string>;
  life: ActorRefFrom<typeof workerMachine>;
  /** What its supervisor reported when it died (see Bye). */
  crash?: { running?: Uint32Array; timedOut?: Uint32Array };
  /** The token of its registration (protocol.ts `Bound`); kept while the record lives. */
  auth: string;
  /** Number of the last task batch sent to it (TaskBatch.seq). */
  seq: number;
  /**
   * It sent a message with its token: it has the register reply. Until then a registration under
   * its id gets the same token again (its reply may have been lost, or not believed yet); after,
   * only a registration carrying the token does (RegistrationHeld).
   */
  confirmed?: boolean;
  /** client.restart() reached it before it confirmed: restart it then. */
  pendingRestart?: boolean;
  /** A reconciliation in progress (reconcile.ts): its nonce and the slots assigned when it was asked (slot → assignment number). */
  reconcile?: { nonce: number; at: number; slots: Map<number, number> };
  /** The NATS node it said it is on (registration, heartbeats). */
  nats?: string;
  /** Its machine is in `running` (kept from the machine's snapshots, so the hot path reads a field). */
  live: boolean;
  /** Takes new work: {@link live} and {@link confirmed} (see {@link ExecutorTable.accepting}). */
  open: boolean;
  /** The last pump that visited it (scheduler.ts): each executor once per pump. */
  pumpGen: number;
  /** Its worker's resources (what it offers) and what tasks assigned to it do not hold now (resources.ts). */
  resources?: Resources;
  free?: Resources;
  /** Its signs of life, noted without waking its machine (runtime/silence.ts; see {@link ExecutorTable.alive}). */
  heard: Silence;
}

/** A peer's NATS node as it said it (protocol.ts NatsNode): a string, kept short for the tables. */
export function natsNode(v: unknown): string | undefined {
  return typeof v === "string" && v ? v.slice(0, 100) : undefined;
}

/** An executor as `ts-dask info` and the dashboard list it. */
export function executorInfo(e: ExecutorRec): ExecutorInfo {
  return {
    id: e.id,
    name: e.name,
    state: e.paused ? "paused" : stateName(e.life.getSnapshot().value),
    nthreads: e.nthreads,
    pid: e.pid,
    running: e.running,
    queued: e.queued,
    assigned: e.assigned,
    done: e.done,
    rss: e.rss,
    dataFetches: e.dataFetches,
    dataPushed: e.dataPushed,
    dataBytes: e.dataBytes,
    ...(e.nats ? { nats: e.nats } : {}),
    ...(e.cached ? { cached: e.cached } : {}),
    ...(e.free ? { resourcesFree: { ...e.free } } : {}),
  };
}

/** The machine's state as a word (a nested state by its top level). */
function stateName(v: unknown): string {
  if (typeof v === "string") return v;
  if (v && typeof v === "object") return Object.keys(v)[0] ?? "?";
  return "?";
}
