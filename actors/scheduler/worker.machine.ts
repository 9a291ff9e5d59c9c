/**
 * The scheduler's view of ONE executor (the dispatch unit), as data: what the scheduler drives
 * (executors.ts, scheduler.ts), nothing more. The scheduler groups these by worker; per-task state
 * never goes through this machine.
 *
 *   joining ─REGISTERED─► running ──────── suspectAfter without HEARTBEAT ────────► suspect
 *                          (parallel)                                              │  │
 *                          liveness: beating  (HEARTBEAT restarts the timer)       │  │
 *                          steal:    none ─STEAL_START─► stealing                  │  │
 *                                        ◄─STEAL_REPLY | stealTimeout─┘            │  │
 *                          ▲─────────────────── HEARTBEAT ─────────────────────────┘  │
 *                          │ RETIRE                                          deadAfter│
 *                          ▼                                                          ▼
 *                       retiring ─────────── silent suspectAfter+deadAfter ─────► dead (final:
 *                                                                              requeueTasks)
 *                                                                                     ▲
 *                                                                     LOST (any live state)
 *
 * Events:
 * - REGISTERED   the executor's `sched.register` was accepted.
 * - HEARTBEAT    a sign of life of this executor (ExecutorTable.alive).
 * - STEAL_START  {max}: the scheduler wants up to `max` queued tasks back (`exec.<id>.steal`).
 * - STEAL_REPLY  {slots}: the tasks the executor released (only ones it had not started).
 *                Applied whenever the executor is not dead: also late (after stealTimeout), and
 *                while suspect or retiring, because the executor really did drop those tasks.
 *                Ignored once dead (requeueTasks already re-queued everything).
 * - RETIRE       `sched.retire`: the executor drains; the scheduler assigns nothing more to it
 *                (only `running` takes work). It leaves by LOST (its bye) or by silence.
 * - LOST         the executor is gone (its bye, its supervisor's report of the process exit,
 *                a replaced worker).
 *
 * The scheduler reads the state (ExecutorRec.live is "in running"; stealing victims are in
 * `running.steal.none`); the machine's only actions are the steal's two and requeueTasks.
 * Timer inputs are milliseconds; 0, Infinity, or more than ~24.8 days mean "never".
 * The scheduler does not send HEARTBEAT while running or draining (executors.ts `alive`): it
 * notes signs of life in a Silence (runtime/silence.ts) and provides `heardLately` and
 * `suspectAfter`, so the silence timer fires once per window and re-arms for the time left
 * instead of restarting on every beat. The defaults here behave as drawn.
 * `context.reason` says why the machine ended (read it in requeueTasks).
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
  /** Why it is dead (null while live). */
  reason: string | null;
}

export type WorkerEvent =
  | { type: "REGISTERED" }
  | { type: "HEARTBEAT" }
  | { type: "STEAL_START"; max: number }
  | { type: "STEAL_REPLY"; slots: Uint32Array }
  | { type: "RETIRE" }
  | { type: "LOST"; reason: string };


export const workerMachine = setup({
  types: {
    input: {} as WorkerInput,
    context: {} as WorkerContext,
    events: {} as WorkerEvent,
  },
  // Placeholders: the scheduler supplies them with `workerMachine.provide({ actions })`.
  actions: {
    /** Send `exec.<id>.steal` with the STEAL_START event's `max`. */
    sendStealRequest: () => {},
    /** Re-queue the STEAL_REPLY event's `slots` (they left this executor's queue). */
    applyStolen: () => {},
    /** Re-queue every task still assigned to it and forget it (context.reason says why). */
    requeueTasks: () => {},
  },
  guards: {
    suspectArmed: ({ context }) => armed(context.suspectAfterMs),
    deadArmed: ({ context }) => armed(context.deadAfterMs),
    stealTimeoutArmed: ({ context }) => armed(context.stealTimeoutMs),
    /** Provided by the scheduler: a sign of life came within suspectAfter (runtime/silence.ts). */
    heardLately: () => false,
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
        // restart it without resetting the steal region.
        liveness: {
          initial: "beating",
          states: {
            beating: {
              after: {
                suspectAfter: [
                  { guard: "heardLately", target: "beating", reenter: true },
                  { guard: "suspectArmed", target: "#worker.suspect" },
                ],
              },
              on: { HEARTBEAT: { target: "beating", reenter: true } },
            },
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
              after: { stealTimeout: { guard: "stealTimeoutArmed", target: "none" } },
              on: { STEAL_REPLY: { target: "none", actions: "applyStolen" } },
            },
          },
        },
      },
    },
    suspect: {
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
        HEARTBEAT: "running",
        STEAL_REPLY: { actions: "applyStolen" },
        RETIRE: "retiring",
      },
    },
    retiring: {
      initial: "draining",
      on: {
        STEAL_REPLY: { actions: "applyStolen" },
      },
      // A retiring executor that dies still has tasks: it keeps its liveness timers.
      states: {
        draining: {
          after: {
            suspectAfter: [
              { guard: "heardLately", target: "draining", reenter: true },
              { guard: "suspectArmed", target: "silent" },
            ],
          },
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
    dead: { type: "final", entry: "requeueTasks" },
  },
});
