/**
 * A user actor's lifecycle (issue 14), as the scheduler sees it. One per actor (actors are few:
 * an xstate actor each is fine, unlike tasks).
 *
 *   placing ──PLACED──► running ──HOST_LOST (restarts left)──► restarting ──PLACED──► running …
 *     │  ▲                 │                                      │  ▲
 *     │  └ RETRY: waits     │ HOST_LOST (no restarts left)          │  └ RETRY: waits retryMs, places again
 *     │    retryMs, places  ▼                                      │
 *     └──FAILED / placeTimeout──► lost (final) ◄──FAILED / placeTimeout┘
 *   KILL from any state but the final ones ──► killed (final)
 *
 * Events:
 * - PLACED    {exec}: an executor constructed the actor (and restored its snapshot).
 * - RETRY     no executor could take it now (none running, or the one asked went away): try again.
 * - FAILED    {reason}: the constructor (or restore) threw: trying again would fail again.
 * - HOST_LOST {exec, reason}: an executor died; ignored unless it is the host.
 * - KILL      {reason}: client.killActor(), or the owning client's lease ended.
 *
 * Actions (supplied by the actor table with `provide`): `place` (ask an executor; answers come
 * back as events), `announce` (tell clients the state: `actor.<id>.status`). `inc` counts
 * incarnations: a call names the incarnation it is for, so no call reaches a later one.
 */
import { assign, setup } from "xstate";
import { armed, delay } from "../../runtime/machine-timers.ts";

export interface ActorLifeInput {
  /** Restarts allowed after host deaths (0: none). */
  restartMax: number;
  /** Give up placing (or re-placing) after this long: the actor is lost. Default 30 s. */
  placeTimeoutMs?: number;
  /** Wait between placement attempts when no executor could take it. Default 250 ms. */
  retryMs?: number;
}

export interface ActorLifeContext {
  restartMax: number;
  restarts: number;
  inc: number;
  /** The host executor's id ("" while not placed). */
  exec: string;
  reason: string;
  placeTimeoutMs: number;
  retryMs: number;
}

export type ActorLifeEvent =
  | { type: "PLACED"; exec: string }
  | { type: "RETRY" }
  | { type: "FAILED"; reason: string }
  | { type: "HOST_LOST"; exec: string; reason: string }
  | { type: "KILL"; reason: string };

/** Placement, shared by `placing` and `restarting`: try, or wait and try again. */
const placement = {
  initial: "trying",
  states: {
    trying: { entry: "place", on: { RETRY: "waiting" } },
    waiting: { after: { retry: "trying" } },
  },
} as const;

export const actorMachine = setup({
  types: {
    input: {} as ActorLifeInput,
    context: {} as ActorLifeContext,
    events: {} as ActorLifeEvent,
  },
  actions: {
    place: () => {},
    announce: (_, _params: { state: "running" | "restarting" | "lost" | "killed" }) => {},
  },
  guards: {
    isHost: ({ context, event }) => event.type === "HOST_LOST" && event.exec === context.exec,
    canRestart: ({ context, event }) => event.type === "HOST_LOST" && event.exec === context.exec && context.restarts < context.restartMax,
    placeArmed: ({ context }) => armed(context.placeTimeoutMs),
  },
  delays: {
    retry: ({ context }) => context.retryMs,
    placeTimeout: ({ context }) => delay(context.placeTimeoutMs),
  },
}).createMachine({
  id: "actor",
  context: ({ input }) => ({
    restartMax: Math.max(0, input.restartMax),
    restarts: 0,
    inc: 1,
    exec: "",
    reason: "",
    placeTimeoutMs: input.placeTimeoutMs ?? 30_000,
    retryMs: input.retryMs ?? 250,
  }),
  initial: "placing",
  states: {
    placing: {
      ...placement,
      on: {
        PLACED: { target: "running", actions: assign({ exec: ({ event }) => event.exec }) },
        FAILED: { target: "lost", actions: assign({ reason: ({ event }) => event.reason }) },
        KILL: { target: "killed", actions: assign({ reason: ({ event }) => event.reason }) },
      },
      after: {
        placeTimeout: { guard: "placeArmed", target: "lost", actions: assign({ reason: ({ context }) => `no executor took it within ${context.placeTimeoutMs} ms` }) },
      },
    },
    running: {
      entry: { type: "announce", params: { state: "running" } },
      on: {
        HOST_LOST: [
          {
            guard: "canRestart",
            target: "restarting",
            actions: assign({ restarts: ({ context }) => context.restarts + 1, inc: ({ context }) => context.inc + 1, reason: ({ event }) => event.reason, exec: "" }),
          },
          { guard: "isHost", target: "lost", actions: assign({ reason: ({ event }) => event.reason }) },
        ],
        KILL: { target: "killed", actions: assign({ reason: ({ event }) => event.reason }) },
      },
    },
    restarting: {
      ...placement,
      entry: { type: "announce", params: { state: "restarting" } },
      on: {
        PLACED: { target: "running", actions: assign({ exec: ({ event }) => event.exec }) },
        FAILED: { target: "lost", actions: assign({ reason: ({ event }) => event.reason }) },
        KILL: { target: "killed", actions: assign({ reason: ({ event }) => event.reason }) },
      },
      after: {
        placeTimeout: { guard: "placeArmed", target: "lost", actions: assign({ reason: ({ context }) => `not re-created within ${context.placeTimeoutMs} ms after: ${context.reason}` }) },
      },
    },
    lost: { type: "final", entry: { type: "announce", params: { state: "lost" } } },
    killed: { type: "final", entry: { type: "announce", params: { state: "killed" } } },
  },
});
