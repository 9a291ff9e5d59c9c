/**
 * Which scheduler a client, worker or executor follows, decided calmly (issue 11), as data:
 *
 *   unbound ─ADOPT─► following ──deadAfter without ALIVE(current)──► silent
 *                     ▲  │ ALIVE(current): restarts the timer            │ ALIVE(current)
 *                     │  │ ALIVE(other): a rival, counted, nothing moves │ ALIVE(other): may move
 *                     │  └───────────────────────────────────────────────┤
 *                     └────────────── ADOPT (from any state) ◄───────────┘
 *
 * - ADOPT {instance}: the peer follows `instance` now (it answered a registration the peer may
 *   follow: anything while unbound, the current one, or another only while silent).
 * - ALIVE {instance}: an `alive` beat. The current scheduler's restarts the dead window; another
 *   instance's while following is a rival (or a stranger's forgery) and changes nothing; while
 *   silent it is a scheduler the peer may register with (its owner decides, see scheduler-watch.ts).
 * - HEARTBEAT_MS {ms}: the period the followed scheduler announced; the dead window becomes
 *   max(3 s, 6 beats) and restarts.
 *
 * Timer input: milliseconds; the dead window is never shorter than 3 s once a period is known.
 *
 * The handle (scheduler-watch.ts) does not send ours' ALIVE while following: it notes it in a
 * runtime/silence.ts Silence, and provides `heardLately` and `deadAfter` from it, so the dead
 * timer fires once per window and re-arms for the time left instead of restarting on every beat.
 * The defaults here (never heard, the whole window) keep events sent directly working as drawn.
 */
import { assign, setup } from "xstate";
import { armed, delay } from "./machine-timers.ts";

export interface WatchInput {
  /** Silence of the current scheduler after which it counts as gone. */
  deadMs: number;
}

export interface WatchContext {
  /** The instance followed ("" while unbound). */
  current: string;
  deadMs: number;
  /** `alive` beats heard from other instances while following (ignored). */
  rivalBeats: number;
  /** Moves to another instance so far (a first adoption is not a move). */
  moves: number;
}

export type WatchEvent = { type: "ADOPT"; instance: string } | { type: "ALIVE"; instance: string } | { type: "HEARTBEAT_MS"; ms: number };

/** The dead window for an announced heartbeat period (unchanged for a bad one). */
export const deadWindow = (ms: number, current: number): number => (Number.isFinite(ms) && ms > 0 ? Math.max(3000, ms * 6) : current);

export const schedulerWatchMachine = setup({
  types: {
    input: {} as WatchInput,
    context: {} as WatchContext,
    events: {} as WatchEvent,
  },
  guards: {
    ours: ({ context, event }) => event.type === "ALIVE" && event.instance === context.current,
    deadArmed: ({ context }) => armed(context.deadMs),
    /** Provided by the handle: ours was heard within the dead window (runtime/silence.ts). */
    heardLately: () => false,
  },
  actions: {
    adopt: assign(({ context, event }) => {
      if (event.type !== "ADOPT") return {};
      const moved = context.current !== "" && context.current !== event.instance;
      return { current: event.instance, moves: context.moves + (moved ? 1 : 0) };
    }),
    rival: assign({ rivalBeats: ({ context }) => context.rivalBeats + 1 }),
    period: assign({ deadMs: ({ context, event }) => (event.type === "HEARTBEAT_MS" ? deadWindow(event.ms, context.deadMs) : context.deadMs) }),
  },
  delays: {
    /** The handle provides the time left since ours was last heard. */
    deadAfter: ({ context }) => delay(context.deadMs),
  },
}).createMachine({
  id: "schedulerWatch",
  context: ({ input }) => ({ current: "", deadMs: input.deadMs, rivalBeats: 0, moves: 0 }),
  initial: "unbound",
  on: {
    ADOPT: { target: ".following", reenter: true, actions: "adopt" },
  },
  states: {
    unbound: {
      on: { HEARTBEAT_MS: { actions: "period" } },
    },
    following: {
      after: {
        deadAfter: [
          { guard: "heardLately", target: "following", reenter: true },
          { guard: "deadArmed", target: "silent" },
        ],
      },
      on: {
        ALIVE: [{ guard: "ours", target: "following", reenter: true }, { actions: "rival" }],
        HEARTBEAT_MS: { target: "following", reenter: true, actions: "period" },
      },
    },
    silent: {
      on: {
        ALIVE: { guard: "ours", target: "following" },
        HEARTBEAT_MS: { actions: "period" },
      },
    },
  },
});
