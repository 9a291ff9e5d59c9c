/**
 * Worker resources (issue 15), as Dask's: a worker declares what each of its executors offers
 * (`ts-dask worker --resources GPU=1,MEM=8e9`), a task what it holds (`{ resources: { GPU: 1 } }`).
 * A task is assigned only to an executor whose free amounts cover its needs; it holds them while
 * assigned there (queued on the executor or running) and gives them back when its completion
 * arrives, or when it goes back to the queue (stolen, lost, its executor gone). Such tasks wait in
 * need lanes of the task table (tasks.ts), placed here by plain functions over small records;
 * everything else never looks at them.
 */
import type { Resources } from "../../runtime/protocol.ts";
import { NEEDS, type TaskTable } from "./tasks.ts";

/** How many tasks needing `needs` fit in `free` (Infinity for no needs). */
export function fits(free: Resources | undefined, needs: Resources): number {
  let k = Infinity;
  for (const r in needs) {
    const want = needs[r]!;
    const have = free?.[r] ?? 0;
    k = Math.min(k, Math.floor(have / want + 1e-9));
  }
  return k;
}

/** `free` less (`sign` 1) or plus (`sign` -1) `k` tasks' needs. */
export function hold(free: Resources, needs: Resources, k: number, sign = 1): void {
  for (const r in needs) free[r] = (free[r] ?? 0) - sign * k * needs[r]!;
}

/** Gives back what the NEEDS slots among `slots` held on an executor (before they are re-queued or dropped). */
export function releaseSlots(t: TaskTable, free: Resources | undefined, slots: ArrayLike<number>): void {
  if (!free) return;
  for (let i = 0; i < slots.length; i++) {
    const s = slots[i]!;
    if (!(t.flags[s]! & NEEDS)) continue;
    const needs = t.chunks.get(t.chunk[s]!)?.needs;
    if (needs) hold(free, needs, 1, -1);
  }
}

/** A group's resources as sent: names that are subject-safe words, finite amounts > 0; else undefined (a peer's odd value needs nothing). */
export function needsOf(v: unknown): Resources | undefined {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
  const out: Resources = {};
  let any = false;
  for (const [k, x] of Object.entries(v)) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(k) || typeof x !== "number" || !Number.isFinite(x) || x <= 0) continue;
    out[k] = x;
    any = true;
  }
  return any ? out : undefined;
}

/** `GPU=1, MEM=8e9` for messages. */
export function formatResources(r: Resources | undefined): string {
  if (!r || Object.keys(r).length === 0) return "none";
  return Object.entries(r)
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
}
