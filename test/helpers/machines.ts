/** Lifecycle machine tests (`*.machine.test.ts`): a machine run under a simulated clock, its actions recorded. */
import { createActor, SimulatedClock, type AnyStateMachine, type InputFrom } from "xstate";

/**
 * Starts `machine` under a simulated clock, each action in `actionNames` provided as one that
 * records its name: `calls` in order, `count(name)` how many times.
 */
export function startRecorded<M extends AnyStateMachine>(machine: M, actionNames: readonly string[], input: InputFrom<M>) {
  const clock = new SimulatedClock();
  const calls: string[] = [];
  const actions = Object.fromEntries(actionNames.map((n) => [n, () => void calls.push(n)]));
  const actor = createActor(machine.provide({ actions } as Parameters<M["provide"]>[0]) as M, { clock, input });
  actor.start();
  const count = (name: string) => calls.filter((c) => c === name).length;
  return { actor, clock, calls, count };
}
