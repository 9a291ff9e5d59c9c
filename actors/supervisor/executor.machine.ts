/**
 * The supervisor's view of ONE executor child process (the nanny role), as data.
 *
 *   starting (spawnExecutor) ─READY─► ready (executorReady)
 *      │                                │   memory: ok ⇄ paused          (MEMORY_HIGH: pauseExecutor,
 *      │                                │                                 MEMORY_OK: resumeExecutor)
 *      │                                │   stableAfter in ready: restarts count back to 0
 *      │ EXITED ─────────────┬──────────┘ EXITED
 *      │ MEMORY_CRITICAL,    │            MEMORY_CRITICAL
 *      │ startTimeout        ▼
 *      └──────────► restarting (reportExit; restarts+1, backoff computed)
 *                     killing (killExecutor) ─EXITED | stopTimeout─► backoff ─restartBackoff─► starting
 *
 *   STOP: starting | ready | restarting.killing ─► stopping (stopExecutor) ─EXITED─► stopped (final)
 *                                                     └─ stopTimeout: killExecutor ─► stopped
 *         restarting.backoff ─► stopped (no process to stop)
 *
 * Events (the actor forwards only events of the CURRENT child process):
 * - READY            the child connected and registered with the scheduler.
 * - MEMORY_HIGH      RSS above the pause threshold: stop taking tasks.
 * - MEMORY_OK        RSS back below it.
 * - MEMORY_CRITICAL  RSS above the terminate threshold: kill and restart.
 * - EXITED           {code, signal}: the child process exited.
 * - STOP             stop this executor for good (worker shutdown).
 *
 * Backoff before restart n (n = consecutive restarts): restartBackoffMs × 2^(n-1), capped at
 * maxBackoffMs. After a kill the machine waits for EXITED (at most stopTimeoutMs) before the
 * backoff, so an old process never overlaps its replacement and a stale EXITED cannot hit it.
 * Timeout inputs are milliseconds; 0, Infinity, or more than ~24.8 days mean "never".
 */
import { assign, setup } from "xstate";
import { armed, delay, MAX_TIMER_MS } from "../../runtime/machine-timers.ts";

export interface ExecutorInput {
  /** First restart backoff; doubles per consecutive restart. 0: restart at once. */
  restartBackoffMs: number;
  maxBackoffMs: number;
  /** Time in `ready` after which the consecutive-restart count resets. */
  stableAfterMs: number;
  /** Longest wait for READY after spawning. */
  startTimeoutMs: number;
  /** Longest wait for EXITED after stopExecutor or killExecutor. */
  stopTimeoutMs: number;
}

export type ExitReason = "exited" | "memory" | "start-timeout" | "stopped" | "stop-timeout";

export interface ExitInfo {
  code: number | null;
  signal: string | null;
  reason: ExitReason;
}

export interface ExecutorContext extends ExecutorInput {
  /** Consecutive restarts (drives the backoff; reset after stableAfterMs in ready). */
  restarts: number;
  /** All restarts since the supervisor started. */
  totalRestarts: number;
  /** The backoff of the current / latest restart, ms. */
  backoff: number;
  lastExit: ExitInfo | null;
}

export type ExecutorEvent =
  | { type: "READY" }
  | { type: "MEMORY_HIGH" }
  | { type: "MEMORY_OK" }
  | { type: "MEMORY_CRITICAL" }
  | { type: "EXITED"; code: number | null; signal: string | null }
  | { type: "STOP" };


/** Backoff before the `restarts`-th consecutive restart (1-based). */
export function restartBackoff(restarts: number, baseMs: number, maxMs: number): number {
  return Math.max(0, Math.min(baseMs * 2 ** (restarts - 1), maxMs, MAX_TIMER_MS));
}

type Exited = Extract<ExecutorEvent, { type: "EXITED" }>;
const exitInfo = (e: Exited, reason: ExitReason): ExitInfo => ({ code: e.code, signal: e.signal, reason });

export const executorMachine = setup({
  types: {
    input: {} as ExecutorInput,
    context: {} as ExecutorContext,
    events: {} as ExecutorEvent,
    output: {} as ExitInfo | null,
  },
  // Placeholders: the supervisor actor supplies them with `executorMachine.provide({ actions })`.
  actions: {
    /** Spawn the child process (entry of `starting`). */
    spawnExecutor: () => {},
    /** The child is READY: count it as up (e.g. tell the supervisor it can report ready). */
    executorReady: () => {},
    /** SIGKILL the child. */
    killExecutor: () => {},
    /** Ask the child to stop (control message / SIGTERM). */
    stopExecutor: () => {},
    /** Tell the child to stop taking tasks (memory pause). */
    pauseExecutor: () => {},
    /** Tell the child it may take tasks again. */
    resumeExecutor: () => {},
    /** Report the unexpected loss (context.lastExit) to the scheduler: it re-queues at once. */
    reportExit: () => {},
  },
  guards: {
    startTimeoutArmed: ({ context }) => armed(context.startTimeoutMs),
    stopTimeoutArmed: ({ context }) => armed(context.stopTimeoutMs),
    stableAfterArmed: ({ context }) => armed(context.stableAfterMs),
  },
  delays: {
    startTimeout: ({ context }) => delay(context.startTimeoutMs),
    stopTimeout: ({ context }) => delay(context.stopTimeoutMs),
    stableAfter: ({ context }) => delay(context.stableAfterMs),
    restartBackoff: ({ context }) => context.backoff,
  },
}).createMachine({
  id: "executor",
  context: ({ input }) => ({ ...input, restarts: 0, totalRestarts: 0, backoff: 0, lastExit: null }),
  initial: "starting",
  output: ({ context }) => context.lastExit,
  states: {
    starting: {
      entry: "spawnExecutor",
      after: {
        startTimeout: {
          guard: "startTimeoutArmed",
          target: "restarting.killing",
          actions: assign({ lastExit: { code: null, signal: null, reason: "start-timeout" } }),
        },
      },
      on: {
        READY: { target: "ready", actions: "executorReady" },
        EXITED: { target: "restarting.backoff", actions: assign({ lastExit: ({ event }) => exitInfo(event, "exited") }) },
        MEMORY_CRITICAL: {
          target: "restarting.killing",
          actions: assign({ lastExit: { code: null, signal: null, reason: "memory" } }),
        },
        STOP: "stopping",
      },
    },
    ready: {
      type: "parallel",
      // One region today (the executor's own machine, executor.machine.ts in actors/executor, tracks its work).
      after: {
        stableAfter: { guard: "stableAfterArmed", actions: assign({ restarts: 0 }) },
      },
      on: {
        EXITED: { target: "restarting.backoff", actions: assign({ lastExit: ({ event }) => exitInfo(event, "exited") }) },
        MEMORY_CRITICAL: {
          target: "restarting.killing",
          actions: assign({ lastExit: { code: null, signal: null, reason: "memory" } }),
        },
        STOP: "stopping",
      },
      states: {
        memory: {
          initial: "ok",
          states: {
            ok: { on: { MEMORY_HIGH: { target: "paused", actions: "pauseExecutor" } } },
            paused: { on: { MEMORY_OK: { target: "ok", actions: "resumeExecutor" } } },
          },
        },
      },
    },
    restarting: {
      entry: [
        assign(({ context }) => {
          const restarts = context.restarts + 1;
          return {
            restarts,
            totalRestarts: context.totalRestarts + 1,
            backoff: restartBackoff(restarts, context.restartBackoffMs, context.maxBackoffMs),
          };
        }),
        "reportExit",
      ],
      initial: "backoff",
      states: {
        killing: {
          entry: "killExecutor",
          after: { stopTimeout: { guard: "stopTimeoutArmed", target: "backoff" } },
          on: {
            // Keep the kill's reason, add how the process actually ended.
            EXITED: {
              target: "backoff",
              actions: assign({ lastExit: ({ context, event }) => exitInfo(event, context.lastExit?.reason ?? "exited") }),
            },
            STOP: "#executor.stopping",
          },
        },
        backoff: {
          after: { restartBackoff: "#executor.starting" },
          on: { STOP: "#executor.stopped" },
        },
      },
    },
    stopping: {
      entry: "stopExecutor",
      after: {
        stopTimeout: {
          guard: "stopTimeoutArmed",
          target: "stopped",
          actions: [assign({ lastExit: { code: null, signal: null, reason: "stop-timeout" } }), "killExecutor"],
        },
      },
      on: {
        EXITED: {
          target: "stopped",
          actions: assign({ lastExit: ({ event }) => exitInfo(event, "stopped") }),
        },
        MEMORY_CRITICAL: { actions: "killExecutor" },
      },
    },
    stopped: { type: "final" },
  },
});
