/**
 * Task batches, as plain functions over the task table: popping queued rows into a
 * {@link TaskBatch} for one executor (grouped by chunk, with the function and module definitions
 * that executor has not seen yet), and halving a batch that does not fit one NATS message.
 */
import type { FnDef, ModuleDef, TaskBatch, TaskGroup } from "../../runtime/protocol.ts";
import { TICKET_WORDS, type TicketKey } from "../../runtime/tickets.ts";
import type { ExecutorRec } from "./executor-rec.ts";
import { CAREFUL, type Lane, type TaskTable } from "./tasks.ts";

/** What batching reads from the scheduler. */
export interface BatchContext {
  tasks: TaskTable;
  /** Client index → id. */
  clientIds: readonly (string | undefined)[];
  /** Whether a client index belongs to a dropped client (its re-queued tasks are discarded, not run). */
  gone: (client: number) => boolean;
  /** The scheduler's instance id (stamped on every batch). */
  instance: string;
  fns: ReadonlyMap<string, FnDef>;
  mods: ReadonlyMap<string, ModuleDef>;
  /** Client index → its result-ticket key (trust.ts). */
  tickets: readonly (TicketKey | undefined)[];
}

/**
 * Pops up to `n` queued rows for `rec` (assigning them) into one batch; undefined when none. From
 * `lane` (a need lane, resources.ts) when given, else from the lanes in turn.
 */
export function takeBatch(c: BatchContext, rec: ExecutorRec, n: number, lane?: Lane): { msg: TaskBatch; count: number } | undefined {
  const t = c.tasks;
  const groups: (TaskGroup & { chunkId: number })[] = [];
  let g: (TaskGroup & { chunkId: number }) | undefined;
  const slots: number[] = [];
  let count = 0;
  const finishGroup = () => {
    if (!g) return;
    g.slots = Uint32Array.from(slots);
    g.keys = g.slots.map((s) => t.key[s]!);
    // One cipher call per group proves every row's result (runtime/tickets.ts).
    const tk = c.tickets[t.chunks.get(g.chunkId)!.client];
    if (tk) g.tickets = tk.issue(g.keys);
    groups.push(g);
    slots.length = 0;
  };
  // Lanes (clients, priorities) take turns, one batch each: fair shares of the cluster.
  if (!lane) t.rotate();
  while (count < n) {
    const s = lane ? t.popNeed(lane) : t.pop();
    if (s < 0) break;
    const chunkId = t.chunk[s]!;
    const ch = t.chunks.get(chunkId)!;
    if (!g || g.chunkId !== chunkId) {
      // A task of a client that left (re-queued after its executor died): nobody waits for it.
      if (c.gone(ch.client)) {
        t.discard(s);
        continue;
      }
      finishGroup();
      g = { chunkId, client: c.clientIds[ch.client]!, fn: ch.fn, slots: new Uint32Array(0), keys: new Uint32Array(0), cols: ch.cols.map(() => []) };
      if (ch.consts) g.consts = ch.consts;
      if (ch.timeout) g.timeout = ch.timeout;
    }
    const r = t.row[s]!;
    for (let j = 0; j < ch.cols.length; j++) g.cols[j]!.push(ch.cols[j]![r]);
    slots.push(s);
    if (t.flags[s]! & CAREFUL) g.careful = true;
    t.assign(s, rec.index);
    count++;
  }
  finishGroup();
  if (count === 0) return undefined;
  rec.assigned += count;
  const msg: TaskBatch = { sched: c.instance, auth: rec.auth, groups: groups.map(({ chunkId: _, ...grp }) => grp) };
  const fns: FnDef[] = [];
  const mods: ModuleDef[] = [];
  for (const grp of msg.groups) {
    if (rec.fnsSent.has(grp.fn)) continue;
    rec.fnsSent.add(grp.fn);
    const def = c.fns.get(grp.fn)!;
    fns.push(def);
    if (def.kind === "mod" && !rec.modsSent.has(def.module)) {
      rec.modsSent.add(def.module);
      mods.push(c.mods.get(def.module)!);
    }
  }
  if (fns.length) msg.fns = fns;
  if (mods.length) msg.mods = mods;
  return { msg, count };
}

export function concat(parts: Uint32Array[], total: number): Uint32Array {
  const out = new Uint32Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Halves a batch (by rows); function definitions travel with both halves. */
export function splitBatch(msg: TaskBatch): [TaskBatch, TaskBatch] {
  const rows: { g: TaskGroup; i: number }[] = [];
  for (const g of msg.groups) for (let i = 0; i < g.slots.length; i++) rows.push({ g, i });
  const half = rows.length >> 1;
  const build = (part: typeof rows): TaskBatch => {
    const groups: TaskGroup[] = [];
    let cur: TaskGroup | undefined;
    let src: TaskGroup | undefined;
    const slots: number[] = [];
    const keys: number[] = [];
    const tickets: number[] = [];
    const flush = () => {
      if (cur) {
        cur.slots = Uint32Array.from(slots);
        cur.keys = Uint32Array.from(keys);
        if (src?.tickets) cur.tickets = Uint32Array.from(tickets);
        groups.push(cur);
        slots.length = keys.length = tickets.length = 0;
      }
    };
    for (const { g, i } of part) {
      if (g !== src) {
        flush();
        src = g;
        cur = { client: g.client, fn: g.fn, slots: new Uint32Array(0), keys: new Uint32Array(0), cols: g.cols.map(() => []), ...(g.consts ? { consts: g.consts } : {}), ...(g.timeout ? { timeout: g.timeout } : {}), ...(g.careful ? { careful: true } : {}) };
      }
      slots.push(g.slots[i]!);
      keys.push(g.keys[i]!);
      if (g.tickets) for (let w = 0; w < TICKET_WORDS; w++) tickets.push(g.tickets[i * TICKET_WORDS + w]!);
      for (let j = 0; j < g.cols.length; j++) cur!.cols[j]!.push(g.cols[j]![i]);
    }
    flush();
    return { sched: msg.sched, auth: msg.auth, ...(msg.fns ? { fns: msg.fns } : {}), ...(msg.mods ? { mods: msg.mods } : {}), groups };
  };
  // Definitions travel with both halves: either may arrive first.
  return [build(rows.slice(0, half)), build(rows.slice(half))];
}
