/**
 * Timer inputs of the lifecycle machines (`*.machine.ts`): milliseconds, where 0, Infinity or
 * more than setTimeout's ceiling (~24.8 days) mean "never". A longer timer would fire at once, so
 * such timers are set to the ceiling and blocked by an `armed` guard.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Whether a timer of `ms` should run at all. */
export const armed = (ms: number): boolean => Number.isFinite(ms) && ms > 0 && ms <= MAX_TIMER_MS;

/** The delay to give xstate for `ms` (the ceiling when it is not armed). */
export const delay = (ms: number): number => (armed(ms) ? ms : MAX_TIMER_MS);
