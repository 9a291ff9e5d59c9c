/**
 * Task batches, as plain functions over the task table: popping queued rows into a
 * {@link TaskBatch} for one executor (grouped by chunk, with the function and module definitions
 * that executor has not seen yet), and halving a batch that does not fit one NATS message. A
 * group's arguments are the client's bytes, copied from its chunk (row-bytes.ts), never decoded.
 */
import type { Encoded } from "../../runtime/codec.ts";
import type { FnDef, ModuleDef, TaskBatch, TaskGroup } from "../../runtime/protocol.ts";
import { TICKET_WORDS, type TicketKey } from "../../runtime/tickets.ts";
import type { ExecutorRec } from "./executor-rec.ts";
import { arrayOfRows } from "./row-bytes.ts";
import { CAREFUL, type Chunk, type Lane, type TaskTable } from "./tasks.ts";

/**
 * A {@link TaskGroup} as the scheduler writes it: its rows' and shared arguments' bytes as `bin`
 * values written into the message as they are (codec.ts binOf, encodeOmittingUndefined); the
 * executor reads them as TaskGroup.rows / consts.
 */
export type OutGroup = Omit<TaskGroup, "rows" | "consts"> & { rows: Encoded; consts: Encoded | undefined };
export type OutBatch = Omit<TaskBatch, "groups"> & { groups: OutGroup[] };

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
 * A group of `slots` (rows of chunk `ch`, in that order), made in one literal with every field
 * (undefined ones are left out of the message, codec.ts encodeOmittingUndefined): V8 keeps one
 * hidden class for every group, where adding optional fields afterwards deoptimised takeBatch.
 */
function groupOf(c: BatchContext, ch: Chunk, slots: Uint32Array, careful: boolean, tickets?: Uint32Array): OutGroup {
  const t = c.tasks;
  const n = slots.length;
  const keys = new Uint32Array(n);
  const rows = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    keys[i] = t.key[slots[i]!]!;
    rows[i] = t.row[slots[i]!]!;
  }
  // One cipher call per group proves every row's result (runtime/tickets.ts).
  const tk = tickets === undefined ? c.tickets[ch.client] : undefined;
  return {
    client: c.clientIds[ch.client]!,
    fn: ch.fn,
    slots,
    keys,
    rows: arrayOfRows(ch.rows, ch.ends, rows),
    consts: ch.consts,
    timeout: ch.timeout || undefined,
    careful: careful || undefined,
    tickets: tickets ?? (tk ? tk.issue(keys) : undefined),
  };
}

/** Slots taken for the group being built (reused: takeBatch runs for every batch). */
const taken: number[] = [];

/** The group {@link popRows} is building when it returns: its chunk, and whether a row of it is careful. */
interface OpenGroup {
  ch: Chunk | undefined;
  careful: boolean;
}
const open: OpenGroup = { ch: undefined, careful: false };

/**
 * Pops up to `n` queued rows for `rec` (assigning them), closing a group into `groups` at each new
 * chunk; the last group is left open in {@link open} and {@link taken}. Returns how many rows. The
 * loop is a function of its own with nothing after it but the return: V8 (Node 20) compiles a long
 * loop on the stack (OSR) during a big dispatch and keeps that code after it bails out, so code
 * after the loop that the OSR'd version had not seen yet (the definitions' part of takeBatch)
 * bailed out of it on every later call (bench/embedded `--trace-deopt`: 241–317 deopts in 2 of 12
 * cold runs), as the client's settleRows and the scheduler's finishSlots did.
 */
function popRows(c: BatchContext, rec: ExecutorRec, n: number, lane: Lane | undefined, groups: OutGroup[]): number {
  const t = c.tasks;
  let count = 0;
  let chId = -1;
  while (count < n) {
    const s = lane ? t.popNeed(lane) : t.pop();
    if (s < 0) break;
    const chunkId = t.chunk[s]!;
    if (chId !== chunkId) {
      const next = t.chunks.get(chunkId)!;
      // A task of a client that left (re-queued after its executor died): nobody waits for it.
      if (c.gone(next.client)) {
        t.discard(s);
        continue;
      }
      if (open.ch !== undefined) groups.push(groupOf(c, open.ch, Uint32Array.from(taken), open.careful));
      open.ch = next;
      open.careful = false;
      chId = chunkId;
      taken.length = 0;
    }
    taken.push(s);
    if (t.flags[s]! & CAREFUL) open.careful = true;
    t.assign(s, rec.index);
    count++;
  }
  return count;
}

/**
 * Pops up to `n` queued rows for `rec` (assigning them) into one batch; undefined when none. From
 * `lane` (a need lane, resources.ts) when given, else from the lanes in turn.
 */
export function takeBatch(c: BatchContext, rec: ExecutorRec, n: number, lane?: Lane): { msg: OutBatch; count: number } | undefined {
  const groups: OutGroup[] = [];
  open.ch = undefined;
  open.careful = false;
  taken.length = 0;
  // Lanes (clients, priorities) take turns, one batch each: fair shares of the cluster.
  if (!lane) c.tasks.rotate();
  const count = popRows(c, rec, n, lane, groups);
  if (open.ch !== undefined) groups.push(groupOf(c, open.ch, Uint32Array.from(taken), open.careful));
  open.ch = undefined;
  taken.length = 0;
  if (count === 0) return undefined;
  rec.assigned += count;
  const msg: OutBatch = { sched: c.instance, auth: rec.auth, seq: 0, fns: undefined, mods: undefined, groups };
  const fns: FnDef[] = [];
  const mods: ModuleDef[] = [];
  for (const grp of groups) {
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

/**
 * Halves a batch (by rows); function definitions travel with both halves. The rows' bytes are
 * copied again from their chunks (still held: the rows are assigned).
 */
export function splitBatch(c: BatchContext, msg: OutBatch): [OutBatch, OutBatch] {
  const total = msg.groups.reduce((a, g) => a + g.slots.length, 0);
  const half = total >> 1;
  const parts: [OutGroup[], OutGroup[]] = [[], []];
  let seen = 0;
  for (const g of msg.groups) {
    const n = g.slots.length;
    // Rows [0, cut) of this group go to the first half, [cut, n) to the second.
    const cut = Math.max(0, Math.min(n, half - seen));
    seen += n;
    const ch = c.tasks.chunks.get(c.tasks.chunk[g.slots[0]!]!)!;
    const piece = (from: number, to: number) =>
      groupOf(c, ch, g.slots.slice(from, to), g.careful === true, g.tickets ? g.tickets.slice(from * TICKET_WORDS, to * TICKET_WORDS) : undefined);
    if (cut > 0) parts[0].push(piece(0, cut));
    if (cut < n) parts[1].push(piece(cut, n));
  }
  // Definitions travel with both halves: either may arrive first.
  const build = (groups: OutGroup[]): OutBatch => ({ sched: msg.sched, auth: msg.auth, seq: 0, fns: msg.fns, mods: msg.mods, groups });
  return [build(parts[0]), build(parts[1])];
}
