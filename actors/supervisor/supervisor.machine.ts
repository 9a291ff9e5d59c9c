/**
 * Lifecycle of one worker supervisor (one per `ts-dask worker` process), as data.
 *
 *   ┌ offline ─── deathTimeout runs across all three children ───────────────────┐
 *   │ connecting ─CONNECTED─► registering ◄┐      reconnecting ◄┐                 │
 *   │     ▲                       │  └registerRetry     │  └registerRetry | CONNECTED
 *   │     └─────DISCONNECTED──────┘                     ▲                         │
 *   └──────────┬─────────────────────────────────────────┼────────────────────────┘
 *     REGISTERED│     deathTimeout ─► shuttingDown (reportDeathTimeout, exit 1)
 *              │     REGISTER_REFUSED ─► shuttingDown (reason, exit 1)
 *              ▼                                       │ DISCONNECTED
 *           running ─── schedulerSilence (the scheduler not heard) ──┘ | REREGISTER
 *              └ schedulerSilence, the scheduler heard meanwhile: re-enters running for the time
 *                left. Its `alive` beats are no events: the supervisor notes them in a Silence
 *                (runtime/silence.ts) and provides `schedulerHeard` and `schedulerSilence` from it,
 *                so the timer fires once per window instead of restarting on every beat.
 *
 *   SHUTDOWN (offline | running) ─► retiring (stopAcceptingWork) ─DRAINED | retireTimeout─► shuttingDown
 *   SHUTDOWN {immediate} (offline | running | retiring) ───────────────────────────────────► shuttingDown
 *   shuttingDown (stopExecutors) ─EXECUTORS_STOPPED─► exited (final; output {exitCode, reason})
 *
 * Events:
 * - CONNECTED          NATS connection is up (first connect or a NATS reconnect).
 * - DISCONNECTED       NATS connection lost (nats.js `disconnect` status).
 * - REGISTERED         the scheduler accepted `sched.register` (reply `ok: true`).
 * - REGISTER_REFUSED   the scheduler refused it (`ok: false`: name taken, protocol mismatch…).
 *   (The scheduler is declared gone by the machine itself, `schedulerSilence` after its last sign of life.)
 * - REREGISTER         the scheduler restarted / forgot us (new `alive` instance, `reregister`).
 * - SHUTDOWN           SIGTERM/SIGINT or a retire order; `immediate` skips draining.
 * - DRAINED            all executors finished their queued and running tasks.
 * - EXECUTORS_STOPPED  every executor process has exited (all executor machines `stopped`).
 *
 * The actor connects to NATS itself and reports CONNECTED; `sendRegister` may run many times
 * (every `registerRetry` while offline), so registration must be idempotent per `instance`.
 * Timer inputs are milliseconds; 0, Infinity, or more than ~24.8 days mean "never".
 */
import { assign, setup } from "xstate";
import { armed, delay } from "../../runtime/machine-timers.ts";

export interface SupervisorInput {
  /** `--death-timeout`: shut down after this long without reaching the scheduler. */
  deathTimeoutMs: number;
  /** Declare the scheduler silent after this long without a sign of life while running. */
  schedulerSilenceMs: number;
  /** Longest wait for DRAINED after SHUTDOWN before stopping executors anyway. */
  retireTimeoutMs: number;
  /** Interval between register attempts while offline (default 2000). */
  registerRetryMs?: number;
}

export interface SupervisorContext {
  deathTimeoutMs: number;
  schedulerSilenceMs: number;
  retireTimeoutMs: number;
  registerRetryMs: number;
  /** Process exit code once shutting down: 0 for a requested shutdown, 1 for a failure. */
  exitCode: number;
  /** Why the supervisor is shutting down (null while it is not). */
  reason: string | null;
  /** Successful registrations so far (1 after the first; more after reconnects). */
  registrations: number;
}

export type SupervisorEvent =
  | { type: "CONNECTED" }
  | { type: "DISCONNECTED" }
  | { type: "REGISTERED" }
  | { type: "REGISTER_REFUSED"; reason: string }
  | { type: "REREGISTER" }
  | { type: "SHUTDOWN"; reason?: string; immediate?: boolean }
  | { type: "DRAINED" }
  | { type: "EXECUTORS_STOPPED" };

export interface SupervisorOutput {
  exitCode: number;
  reason: string | null;
}


export const supervisorMachine = setup({
  types: {
    input: {} as SupervisorInput,
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
    output: {} as SupervisorOutput,
  },
  // Placeholders: the supervisor actor supplies them with `supervisorMachine.provide({ actions })`.
  actions: {
    /** Request `sched.register` (reply → REGISTERED / REGISTER_REFUSED). */
    sendRegister: () => {},
    /** First registration: spawn the `--nprocs` executor processes. */
    startExecutors: () => {},
    /** Registered again after reconnecting: re-announce executors, flush what was held back. */
    resumeWork: () => {},
    /** Running → offline: log it (the death-timeout clock now runs). */
    reportSchedulerLost: () => {},
    /** The death timeout expired: log it loudly (then executors are stopped, exit code 1). */
    reportDeathTimeout: () => {},
    /** SHUTDOWN: refuse new tasks, tell the scheduler we are retiring, let queues drain. */
    stopAcceptingWork: () => {},
    /** Stop every executor (each executor machine gets STOP). */
    stopExecutors: () => {},
  },
  guards: {
    firstRegistration: ({ context }) => context.registrations === 0,
    immediate: ({ event }) => event.type === "SHUTDOWN" && event.immediate === true,
    deathTimeoutArmed: ({ context }) => armed(context.deathTimeoutMs),
    schedulerSilenceArmed: ({ context }) => armed(context.schedulerSilenceMs),
    /** Provided by the supervisor: the scheduler was heard within the window (runtime/silence.ts). */
    schedulerHeard: () => false,
    retireTimeoutArmed: ({ context }) => armed(context.retireTimeoutMs),
  },
  delays: {
    deathTimeout: ({ context }) => delay(context.deathTimeoutMs),
    schedulerSilence: ({ context }) => delay(context.schedulerSilenceMs),
    retireTimeout: ({ context }) => delay(context.retireTimeoutMs),
    registerRetry: ({ context }) => delay(context.registerRetryMs),
  },
}).createMachine({
  id: "supervisor",
  context: ({ input }) => ({
    deathTimeoutMs: input.deathTimeoutMs,
    schedulerSilenceMs: input.schedulerSilenceMs,
    retireTimeoutMs: input.retireTimeoutMs,
    registerRetryMs: input.registerRetryMs ?? 2000,
    exitCode: 0,
    reason: null,
    registrations: 0,
  }),
  initial: "offline",
  output: ({ context }) => ({ exitCode: context.exitCode, reason: context.reason }),
  states: {
    offline: {
      initial: "connecting",
      after: {
        deathTimeout: {
          guard: "deathTimeoutArmed",
          target: "shuttingDown",
          actions: [
            assign({
              exitCode: 1,
              reason: ({ context }) => `death-timeout: no scheduler for ${context.deathTimeoutMs} ms`,
            }),
            "reportDeathTimeout",
          ],
        },
      },
      on: {
        REGISTERED: [
          {
            guard: "firstRegistration",
            target: "running",
            actions: [assign({ registrations: ({ context }) => context.registrations + 1 }), "startExecutors"],
          },
          {
            target: "running",
            actions: [assign({ registrations: ({ context }) => context.registrations + 1 }), "resumeWork"],
          },
        ],
        REGISTER_REFUSED: {
          target: "shuttingDown",
          actions: assign({ exitCode: 1, reason: ({ event }) => `registration refused: ${event.reason}` }),
        },
        SHUTDOWN: [
          { guard: "immediate", target: "shuttingDown", actions: assign({ reason: ({ event }) => event.reason ?? "shutdown" }) },
          { target: "retiring", actions: assign({ reason: ({ event }) => event.reason ?? "shutdown" }) },
        ],
      },
      states: {
        connecting: {
          on: { CONNECTED: "registering" },
        },
        registering: {
          entry: "sendRegister",
          after: { registerRetry: { target: "registering", reenter: true } },
          on: { DISCONNECTED: "connecting" },
        },
        reconnecting: {
          entry: "sendRegister",
          after: { registerRetry: { target: "reconnecting", reenter: true } },
          on: { CONNECTED: { target: "reconnecting", reenter: true } },
        },
      },
    },
    running: {
      after: {
        schedulerSilence: [
          { guard: "schedulerHeard", target: "running", reenter: true },
          { guard: "schedulerSilenceArmed", target: "offline.reconnecting", actions: "reportSchedulerLost" },
        ],
      },
      on: {
        DISCONNECTED: { target: "offline.reconnecting", actions: "reportSchedulerLost" },
        REREGISTER: { target: "offline.reconnecting", actions: "reportSchedulerLost" },
        SHUTDOWN: [
          { guard: "immediate", target: "shuttingDown", actions: assign({ reason: ({ event }) => event.reason ?? "shutdown" }) },
          { target: "retiring", actions: assign({ reason: ({ event }) => event.reason ?? "shutdown" }) },
        ],
      },
    },
    retiring: {
      entry: "stopAcceptingWork",
      after: { retireTimeout: { guard: "retireTimeoutArmed", target: "shuttingDown" } },
      on: {
        DRAINED: "shuttingDown",
        SHUTDOWN: { guard: "immediate", target: "shuttingDown" },
      },
    },
    shuttingDown: {
      entry: "stopExecutors",
      on: { EXECUTORS_STOPPED: "exited" },
    },
    exited: { type: "final" },
  },
});
