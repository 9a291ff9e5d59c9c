/**
 * A client's connection to NATS and the scheduler, as data.
 *
 *   connecting ─CONNECTED─► connected ─DISCONNECTED─► reconnecting
 *        │                      ▲                         │
 *        │                      └─RECONNECTED | CONNECTED─┘ (resubmitPending)
 *        │ giveUp                                          │ giveUp
 *        └──────────────────────► closed (final; failPending) ◄──────┘
 *   CLOSE from any state ─────────► closed
 *
 * Events:
 * - CONNECTED     NATS is up and the scheduler accepted the client's registration.
 * - DISCONNECTED  NATS connection lost, or the scheduler went silent / restarted.
 * - RECONNECTED   both are back (the client re-registered); CONNECTED is accepted too.
 * - CLOSE         {reason?}: `client.close()`, or a fatal error (e.g. protocol mismatch).
 *
 * `giveUpAfterMs` (optional; 0, Infinity, absent, or more than ~24.8 days mean "never") bounds
 * the first connection and each reconnection; on expiry the machine closes with a reason.
 * The final snapshot's output is {reason}.
 */
import { assign, setup } from "xstate";
import { armed, delay } from "../runtime/machine-timers.ts";

export interface ConnectionInput {
  giveUpAfterMs?: number;
}

export interface ConnectionContext {
  giveUpAfterMs: number;
  /** Why it closed (null while open). */
  reason: string | null;
  /** Successful reconnections so far. */
  reconnects: number;
}

export type ConnectionEvent =
  | { type: "CONNECTED" }
  | { type: "DISCONNECTED" }
  | { type: "RECONNECTED" }
  | { type: "CLOSE"; reason?: string };

export interface ConnectionOutput {
  reason: string | null;
}


export const connectionMachine = setup({
  types: {
    input: {} as ConnectionInput,
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
    output: {} as ConnectionOutput,
  },
  // Placeholders: the client supplies them with `connectionMachine.provide({ actions })`.
  actions: {
    /** Back after a disconnection: resubmit what the scheduler may not have received. */
    resubmitPending: () => {},
    /** Closed: reject every pending future with context.reason. */
    failPending: () => {},
  },
  guards: {
    giveUpArmed: ({ context }) => armed(context.giveUpAfterMs),
  },
  delays: {
    giveUp: ({ context }) => delay(context.giveUpAfterMs),
  },
}).createMachine({
  id: "connection",
  context: ({ input }) => ({ giveUpAfterMs: input.giveUpAfterMs ?? Infinity, reason: null, reconnects: 0 }),
  initial: "connecting",
  output: ({ context }) => ({ reason: context.reason }),
  on: {
    CLOSE: { target: ".closed", actions: assign({ reason: ({ event }) => event.reason ?? "closed" }) },
  },
  states: {
    connecting: {
      after: {
        giveUp: {
          guard: "giveUpArmed",
          target: "closed",
          actions: assign({ reason: ({ context }) => `could not connect within ${context.giveUpAfterMs} ms` }),
        },
      },
      on: { CONNECTED: "connected" },
    },
    connected: {
      on: { DISCONNECTED: "reconnecting" },
    },
    reconnecting: {
      after: {
        giveUp: {
          guard: "giveUpArmed",
          target: "closed",
          actions: assign({ reason: ({ context }) => `gave up reconnecting after ${context.giveUpAfterMs} ms` }),
        },
      },
      on: {
        RECONNECTED: {
          target: "connected",
          actions: [assign({ reconnects: ({ context }) => context.reconnects + 1 }), "resubmitPending"],
        },
        CONNECTED: {
          target: "connected",
          actions: [assign({ reconnects: ({ context }) => context.reconnects + 1 }), "resubmitPending"],
        },
      },
    },
    closed: { type: "final", entry: "failPending" },
  },
});
