/**
 * A task group as the executor runs it: the group as it arrived (TaskGroup) with its rows'
 * arguments decoded, once, on arrival: one decode of the group's `rows` (the scheduler passed the
 * client's bytes on undecoded) and one of its shared arguments. Made in one literal with every
 * field, so the run loop meets one hidden class.
 */
import { decode } from "../../runtime/codec.ts";
import { Errors, type TsDaskError } from "../../runtime/errors.ts";
import type { TaskGroup } from "../../runtime/protocol.ts";
import { TICKET_WORDS } from "../../runtime/tickets.ts";

export interface RunGroup {
  client: string;
  fn: string;
  slots: Uint32Array;
  keys: Uint32Array;
  /** Row `i`'s own arguments; {@link consts} follow them. */
  args: unknown[][];
  consts: unknown[] | undefined;
  timeout: number | undefined;
  careful: boolean | undefined;
  tickets: Uint32Array | undefined;
  /** The arguments did not decode (bytes no ts-dask client wrote): every row fails with this. */
  error: TsDaskError | undefined;
}

/** Decodes a group's arguments. Never throws: arguments that do not decode fail the group's rows (its client's own), not the batch. */
export function openGroup(g: TaskGroup): RunGroup {
  const n = g.slots.length;
  let args: unknown[][];
  let consts: unknown[] | undefined;
  let error: TsDaskError | undefined;
  try {
    const rows = decode(g.rows);
    consts = g.consts ? decode<unknown[]>(g.consts) : undefined;
    if (!Array.isArray(rows) || rows.length !== n || !rows.every(Array.isArray) || (consts !== undefined && !Array.isArray(consts))) throw new Error("not one array of arguments per task");
    args = rows as unknown[][];
  } catch (e) {
    args = Array.from({ length: n }, () => []);
    consts = undefined;
    error = Errors.NotSerializable(`The arguments of ${n} task(s) of function ${g.fn.slice(0, 12)}…`, `they did not decode on the executor (${(e as Error).message})`);
  }
  return { client: g.client, fn: g.fn, slots: g.slots, keys: g.keys, args, consts, timeout: g.timeout, careful: g.careful, tickets: g.tickets, error };
}

/** The group's first `n` rows (the rest were stolen). */
export function firstRows(g: RunGroup, n: number): RunGroup {
  return {
    client: g.client,
    fn: g.fn,
    slots: g.slots.subarray(0, n),
    keys: g.keys.subarray(0, n),
    args: g.args.slice(0, n),
    consts: g.consts,
    timeout: g.timeout,
    careful: g.careful,
    tickets: g.tickets ? g.tickets.subarray(0, n * TICKET_WORDS) : undefined,
    error: g.error,
  };
}
