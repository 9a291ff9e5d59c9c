/**
 * The scheduler's view of ONE executor (the dispatch unit), as data. The scheduler groups these
 * by worker; per-task state never goes through this machine.
 *
 *   joining ─REGISTERED─► running ──────── suspectAfter without HEARTBEAT ────────► suspect
 *                          (parallel)                                              │  │
 *                          liveness: beating  (HEARTBEAT restarts the timer)       │  │
 *                          load:     idle ⇄ saturated  (LOAD)                      │  │
 *                          steal:    none ─STEAL_START─► stealing                  │  │
 *                                        ◄─STEAL_REPLY | stealTimeout─┘            │  │
 *                          ▲─────────────────── HEARTBEAT ─────────────────────────┘  │
 *                          │ RETIRE                                          deadAfter│
 *                          ▼                                                          ▼
 *                       retiring (stopAssigning) ─silent suspectAfter+deadAfter─► dead (final:
 *                          │ DRAINED | BYE                                  requeueTasks, announceDeath)
 *                          ▼                                                          ▲
 *   BYE (joining | running | suspect) ─► gone (final; requeueTasks)      LOST (any live state)
 *
 * Events:
 * - REGISTERED   the executor's `sched.register` was accepted.
 * - HEARTBEAT    a `sched.heartbeat` from this executor (the only liveness signal).
 * - LOAD         {assigned, capacity}: send per heartbeat / dispatch batch, never per task;
 *                saturated when assigned >= capacity.
 * - STEAL_START  {max}: the scheduler wants up to `max` queued tasks back (`exec.<id>.steal`).
 * - STEAL_REPLY  {slots}: the tasks the executor released (only ones it had not started).
 *                Applied whenever the executor is not dead: also late (after stealTimeout), and
 *                while suspect or retiring, because the executor really did drop those tasks.
 *                Ignored once dead (requeueTasks already re-queued everything).
 * - RETIRE       stop assigning to this executor and let it drain.
 * - DRAINED      (retiring) nothing is assigned to it any more.
 * - BYE          `sched.bye`: the executor left cleanly.
 * - LOST         the executor is known dead (its supervisor reported the process exit).
 *
 * Timer inputs are milliseconds; 0, Infinity, or more than ~24.8 days mean "never".
 * `context.reason` says why the machine ended (read it in requeueTasks / announceDeath).
 */
import { assign, setup } from "xstate";
import { armed, delay } from "../../runtime/machine-timers.ts";

export interface WorkerInput {
  /** Silence (no HEARTBEAT) before the executor becomes suspect. */
  suspectAfterMs: number;
  /** Further silence, once suspect, before it is declared dead. */
  deadAfterMs: number;
  /** Wait for a STEAL_REPLY before giving up on it (default 2000). */
  stealTimeoutMs?: number;
}

export interface WorkerContext {
  suspectAfterMs: number;
  deadAfterMs: number;
  stealTimeoutMs: number;
  /** Why it is dead or gone (null while live). */
  reason: string | null;
}

export type WorkerEvent =
  | { type: "REGISTERED" }
  | { type: "HEARTBEAT" }
  | { type: "LOAD"; assigned: number; capacity: number }
  | { type: "STEAL_START"; max: number }
  | { type: "STEAL_REPLY"; slots: Uint32Array }
  | { type: "RETIRE" }
  | { type: "DRAINED" }
  | { type: "BYE" }
  | { type: "LOST"; reason: string };


export const workerMachine = setup({
  types: {
    input: {} as WorkerInput,
    context: {} as WorkerContext,
    events: {} as WorkerEvent,
  },
  // Placeholders: the scheduler supplies them with `workerMachine.provide({ actions })`.
  actions: {
    /** Load went from below capacity to full: drop it from the "has room" set. */
    markSaturated: () => {},
    /** Load fell below capacity: it takes work again. */
    markIdle: () => {},
    /** Missed heartbeats: stop assigning to it for now. */
    markSuspect: () => {},
    /** A heartbeat came back while suspect: assign to it again. */
    clearSuspect: () => {},
    /** Send `exec.<id>.steal` with the STEAL_START event's `max`. */
    sendStealRequest: () => {},
    /** Re-queue the STEAL_REPLY event's `slots` (they left this executor's queue). */
    applyStolen: () => {},
    /** No reply within stealTimeout (informational: a late reply is still applied). */
    stealTimedOut: () => {},
    /** RETIRE: assign nothing more to it. */
    stopAssigning: () => {},
    /** Retirement finished (DRAINED): tell its supervisor it may stop the process. */
    retired: () => {},
    /** Re-queue every task still assigned to it (dead, or BYE with tasks left). */
    requeueTasks: () => {},
    /** Publish the death on `events` (with context.reason). */
    announceDeath: () => {},
  },
  guards: {
    full: ({ event }) => event.type === "LOAD" && event.assigned >= event.capacity,
    hasRoom: ({ event }) => event.type === "LOAD" && event.assigned < event.capacity,
    suspectArmed: ({ context }) => armed(context.suspectAfterMs),
    deadArmed: ({ context }) => armed(context.deadAfterMs),
    stealTimeoutArmed: ({ context }) => armed(context.stealTimeoutMs),
  },
  delays: {
    suspectAfter: ({ context }) => delay(context.suspectAfterMs),
    deadAfter: ({ context }) => delay(context.deadAfterMs),
    stealTimeout: ({ context }) => delay(context.stealTimeoutMs),
  },
}).createMachine({
  id: "worker",
  context: ({ input }) => ({
    suspectAfterMs: input.suspectAfterMs,
    deadAfterMs: input.deadAfterMs,
    stealTimeoutMs: input.stealTimeoutMs ?? 2000,
    reason: null,
  }),
  initial: "joining",
  on: {
    // Root-level, so every live state has them; final states take no events.
    LOST: { target: ".dead", actions: assign({ reason: ({ event }) => event.reason }) },
    BYE: { target: ".gone", actions: [assign({ reason: "left (bye)" }), "requeueTasks"] },
  },
  states: {
    joining: {
      on: { REGISTERED: "running" },
    },
    running: {
      type: "parallel",
      on: {
        RETIRE: "retiring",
      },
      states: {
        // A one-state region that only hosts the liveness timer, so that a HEARTBEAT can
        // restart it without resetting the load and steal regions.
        liveness: {
          initial: "beating",
          states: {
            beating: {
              after: { suspectAfter: { guard: "suspectArmed", target: "#worker.suspect" } },
              on: { HEARTBEAT: { target: "beating", reenter: true } },
            },
          },
        },
        load: {
          initial: "idle",
          states: {
            idle: { on: { LOAD: { guard: "full", target: "saturated", actions: "markSaturated" } } },
            saturated: { on: { LOAD: { guard: "hasRoom", target: "idle", actions: "markIdle" } } },
          },
        },
        steal: {
          initial: "none",
          states: {
            none: {
              on: {
                STEAL_START: { target: "stealing", actions: "sendStealRequest" },
                STEAL_REPLY: { actions: "applyStolen" }, // late reply
              },
            },
            stealing: {
              after: { stealTimeout: { guard: "stealTimeoutArmed", target: "none", actions: "stealTimedOut" } },
              on: { STEAL_REPLY: { target: "none", actions: "applyStolen" } },
            },
          },
        },
      },
    },
    suspect: {
      entry: "markSuspect",
      after: {
        deadAfter: {
          guard: "deadArmed",
          target: "dead",
          actions: assign({
            reason: ({ context }) => `no heartbeat for ${context.suspectAfterMs + context.deadAfterMs} ms`,
          }),
        },
      },
      on: {
        HEARTBEAT: { target: "running", actions: "clearSuspect" },
        STEAL_REPLY: { actions: "applyStolen" },
        RETIRE: "retiring",
      },
    },
    retiring: {
      entry: "stopAssigning",
      initial: "draining",
      on: {
        DRAINED: { target: "gone", actions: [assign({ reason: "retired" }), "retired"] },
        STEAL_REPLY: { actions: "applyStolen" },
      },
      // A retiring executor that dies still has tasks: it keeps its liveness timers.
      states: {
        draining: {
          after: { suspectAfter: { guard: "suspectArmed", target: "silent" } },
          on: { HEARTBEAT: { target: "draining", reenter: true } },
        },
        silent: {
          after: {
            deadAfter: {
              guard: "deadArmed",
              target: "#worker.dead",
              actions: assign({
                reason: ({ context }) => `no heartbeat for ${context.suspectAfterMs + context.deadAfterMs} ms (retiring)`,
              }),
            },
          },
          on: { HEARTBEAT: "draining" },
        },
      },
    },
    dead: { type: "final", entry: ["requeueTasks", "announceDeath"] },
    gone: { type: "final" },
  },
});
