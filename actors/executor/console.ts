/**
 * Console output of tasks goes to the client that submitted them (`log.<client>`), prefixed there
 * with the executor's name, as Ray does. Output outside tasks stays on the executor's own stdout.
 * Lines are batched per turn of the event loop.
 */
import { format } from "node:util";
import type { LogLines, Subjects } from "../../runtime/protocol.ts";
import type { Transport } from "../../runtime/transport.ts";
import { taskClient } from "./runner.ts";

const STDOUT = 1;
const STDERR = 2;

/** Patches the console; returns a function that sends buffered lines now (call before results). */
export function forwardTaskConsole(tx: Transport, subjects: Subjects, worker: string): () => void {
  const pending = new Map<string, [number, string][]>();
  let scheduled = false;
  const flush = () => {
    for (const [client, lines] of pending) {
      const msg: LogLines = { worker, lines };
      try {
        tx.send(subjects.log(client), msg);
      } catch {
        /* a log line is never worth failing a task */
      }
    }
    pending.clear();
  };
  const wrap = (stream: number, original: (...a: unknown[]) => void) =>
    (...args: unknown[]) => {
      const client = taskClient.getStore();
      if (client === undefined) return original(...args);
      let l = pending.get(client);
      if (!l) pending.set(client, (l = []));
      l.push([stream, format(...args)]);
      if (!scheduled) {
        scheduled = true;
        setImmediate(() => {
          scheduled = false;
          flush();
        });
      }
    };
  const c = console as unknown as Record<string, (...a: unknown[]) => void>;
  for (const m of ["log", "info", "debug"]) c[m] = wrap(STDOUT, c[m]!.bind(console));
  for (const m of ["warn", "error", "trace"]) c[m] = wrap(STDERR, c[m]!.bind(console));
  return () => pending.size && flush();
}
