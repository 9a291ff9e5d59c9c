/** Lifecycle machine tests (`*.machine.test.ts`): a machine run under a simulated clock, its actions recorded. */
import { createActor, SimulatedClock, type AnyStateMachine, type InputFrom } from "xstate";

/**
 * Starts `machine` under a simulated clock, each action in `actionNames` provided as one that
 * records its name: `calls` in order, `count(name)` how many times. `more` provides other
 * implementations (guards, delays) that may read the clock, as an owner provides them (e.g. a
 * runtime/silence.ts Silence on `clock.now()`).
 */
export function startRecorded<M extends AnyStateMachine>(
  machine: M,
  actionNames: readonly string[],
  input: InputFrom<M>,
  more?: (clock: SimulatedClock) => { guards?: object; delays?: object },
) {
  const clock = new SimulatedClock();
  const calls: string[] = [];
  const actions = Object.fromEntries(actionNames.map((n) => [n, () => void calls.push(n)]));
  const actor = createActor(machine.provide({ actions, ...more?.(clock) } as Parameters<M["provide"]>[0]) as M, { clock, input });
  actor.start();
  const count = (name: string) => calls.filter((c) => c === name).length;
  return { actor, clock, calls, count };
}
