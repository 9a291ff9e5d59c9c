/**
 * The executor's own lifecycle (one per executor process, executor.ts), as data. Its supervisor
 * sees the same process from outside (actors/supervisor/executor.machine.ts); this is the inside.
 *
 *   live (parallel) ──STOP──► stopped (final)
 *     registration: idle ─REGISTER─► asking (askScheduler) ─ANSWERED─► registered
 *                                      │  ▲                               │ REGISTER (a new or
 *                            NO_ANSWER │  │ retryDelay                    │ forgetful scheduler)
 *                                      ▼  │                               ▼
 *                                    waiting                            asking …
 *                                    REFUSED (asking) ─► refused (the process exits)
 *     mode:         serving ─RETIRE─► retiring          (queued tasks handed back, running ones finish)
 *                   serving ─RECYCLE─► recycling        (retire, stop, restart: a newer upload)
 *     memory:       ok ⇄ paused                          (PAUSE / RESUME from its supervisor)
 *     arrival:      direct ⇄ chained                     (CHAIN / UNCHAIN: batches wait for an
 *                                                         import or data; later ones queue behind)
 *
 * Events:
 * - REGISTER   start(), a new scheduler's beat, the scheduler's `reregister` order: (re)register,
 *              unless an attempt is under way.
 * - ANSWERED   the scheduler accepted the registration (its uploads are applied); the executor
 *              then accepts the batches that arrived meanwhile, in order (after the transition,
 *              so each one sees the chain the one before it left).
 * - NO_ANSWER  no scheduler answered (or a held registration): try again after retryDelay.
 * - REFUSED    the scheduler refused it for good (a version or a name): the process ends.
 * - RETIRE / RECYCLE  `retire` from its supervisor / `recycle` from the scheduler.
 * - PAUSE / RESUME    its supervisor's memory pause.
 * - CHAIN / UNCHAIN   a batch entered / left the import-and-data chain (counted in context).
 * - STOP       stop(): nothing more; the connection closes.
 *
 * What the executor reads: task batches are accepted only while {@link registered} (before, they
 * wait in order); nothing new starts while {@link runnerPaused}; a batch waits behind the
 * chain while {@link chained}. Timer inputs are milliseconds; 0 or Infinity mean "at once" for the
 * retry (it must retry).
 */
import { assign, setup, type SnapshotFrom } from "xstate";

export interface ExecutorLifeInput {
  /** Wait after an unanswered registration before asking again. */
  retryMs: number;
}

export interface ExecutorLifeContext {
  retryMs: number;
  /** Batches in the chain (waiting for an import or data). */
  chained: number;
  /** The refusal's message (REFUSED). */
  refusal: string | null;
}

export type ExecutorLifeEvent =
  | { type: "REGISTER" }
  | { type: "ANSWERED" }
  | { type: "NO_ANSWER" }
  | { type: "REFUSED"; message: string }
  | { type: "RETIRE" }
  | { type: "RECYCLE" }
  | { type: "PAUSE" }
  | { type: "RESUME" }
  | { type: "CHAIN" }
  | { type: "UNCHAIN" }
  | { type: "STOP" };

export const executorLifeMachine = setup({
  types: {
    input: {} as ExecutorLifeInput,
    context: {} as ExecutorLifeContext,
    events: {} as ExecutorLifeEvent,
  },
  // Placeholders: the executor supplies them with `executorLifeMachine.provide({ actions })`.
  actions: {
    /** Send one `sched.register` and report ANSWERED, NO_ANSWER or REFUSED. */
    askScheduler: () => {},
  },
  guards: {
    lastInChain: ({ context }) => context.chained <= 1,
  },
  delays: {
    retryDelay: ({ context }) => (Number.isFinite(context.retryMs) && context.retryMs > 0 ? context.retryMs : 0),
  },
}).createMachine({
  id: "executor-life",
  context: ({ input }) => ({ retryMs: input.retryMs, chained: 0, refusal: null }),
  initial: "live",
  states: {
    live: {
      type: "parallel",
      on: { STOP: "stopped" },
      states: {
        registration: {
          initial: "idle",
          states: {
            idle: { on: { REGISTER: "asking" } },
            asking: {
              entry: "askScheduler",
              on: {
                ANSWERED: "registered",
                NO_ANSWER: "waiting",
                REFUSED: { target: "refused", actions: assign({ refusal: ({ event }) => event.message }) },
              },
            },
            waiting: {
              after: { retryDelay: "asking" },
              // Asked again meanwhile (a new scheduler's beat): at once.
              on: { REGISTER: "asking" },
            },
            registered: { on: { REGISTER: "asking" } },
            refused: {},
          },
        },
        mode: {
          initial: "serving",
          states: {
            serving: { on: { RETIRE: "retiring", RECYCLE: "recycling" } },
            retiring: {},
            recycling: {},
          },
        },
        memory: {
          initial: "ok",
          states: {
            ok: { on: { PAUSE: "paused" } },
            paused: { on: { RESUME: "ok" } },
          },
        },
        arrival: {
          initial: "direct",
          states: {
            direct: { on: { CHAIN: { target: "chained", actions: assign({ chained: 1 }) } } },
            chained: {
              on: {
                CHAIN: { actions: assign({ chained: ({ context }) => context.chained + 1 }) },
                UNCHAIN: [
                  { guard: "lastInChain", target: "direct", actions: assign({ chained: 0 }) },
                  { actions: assign({ chained: ({ context }) => context.chained - 1 }) },
                ],
              },
            },
          },
        },
      },
    },
    stopped: { type: "final" },
  },
});

export type ExecutorLifeSnapshot = SnapshotFrom<typeof executorLifeMachine>;

/** Task batches are accepted now (not held for replay): registered, not stopped. */
export const registered = (s: ExecutorLifeSnapshot): boolean => s.matches({ live: { registration: "registered" } });

/** Nothing new starts: memory pause, retiring, recycling or stopped (a resume does not undo a retire). */
export const runnerPaused = (s: ExecutorLifeSnapshot): boolean =>
  !s.matches({ live: { mode: "serving" } }) || !s.matches({ live: { memory: "ok" } });

/** A new batch must queue behind batches waiting for imports or data (arrival order). */
export const chained = (s: ExecutorLifeSnapshot): boolean => s.matches({ live: { arrival: "chained" } });

/** stop() ran (or began). */
export const stopped = (s: ExecutorLifeSnapshot): boolean => s.status === "done";
