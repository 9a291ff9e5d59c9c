/**
 * Entry point of a {@link LocalPool} child process: receives functions (by source or as bundled
 * modules, the project's shipping), scattered values and batches over IPC; runs one batch at a time.
 * Exits when the parent's IPC channel closes, so it never outlives the pool.
 */
import { serialize } from "node:v8";
// Not from shipping/index.ts: that one also loads the client's function checks (acorn, ~50 ms at start).
import { compileSource } from "../../runtime/shipping/compile.ts";
import { installResolveHook, loadModule } from "../../runtime/shipping/load-module.ts";
import { PACKAGE_ROOT as TSDASK_ROOT } from "../../runtime/self.ts";
import { runRows, type BatchOutput } from "../run-rows.ts";
import type { FromChild, ToChild } from "./protocol.ts";
import { Errors } from "../../runtime/errors.ts";
import { packNumberArrays } from "../../runtime/packed-arrays.ts";

const dir = process.env.TSDASK_LOCAL_DIR ?? process.cwd();
process.setSourceMapsEnabled(true);
installResolveHook([dir, process.cwd(), TSDASK_ROOT]);

const fns = new Map<number, Promise<Function>>();
const data = new Map<number, unknown>();
let chain: Promise<void> = Promise.resolve();

const send = (m: FromChild) => process.send!(m);

function onMessage(m: ToChild) {
  if (m.t === "fn") {
    const p: Promise<Function> =
      m.def.kind === "src"
        ? Promise.resolve().then(() => compileSource(m.def as Extract<typeof m.def, { kind: "src" }>))
        : loadModule(m.module!, dir).then((ns) => {
            const exportName = (m.def as { exportName: string }).exportName;
            const f = ns[exportName];
            if (typeof f !== "function") throw Errors.ExportNotAFunction(exportName, m.module!.file);
            return f as Function;
          });
    p.catch(() => {}); // reported by the batches that use it
    fns.set(m.id, p);
  } else if (m.t === "data") {
    data.set(m.id, packNumberArrays(m.value)); // see packNumberArrays: IPC arrays hold boxed numbers
  } else if (m.t === "drop") {
    for (const id of m.ids) data.delete(id);
  } else if (m.t === "run") {
    chain = chain.then(() => run(m));
  }
}

async function run(m: Extract<ToChild, { t: "run" }>) {
  let out: BatchOutput;
  try {
    const fn = await fns.get(m.fn)!;
    out = await runRows(fn as (...a: unknown[]) => unknown, packNumberArrays(m.p), m.refs.map((id) => data.get(id)));
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    send({ t: "fail", id: m.id, name: err.name, message: `could not load the function: ${err.message}`, stack: err.stack ?? "" });
    return;
  }
  try {
    send({ t: "done", id: m.id, out });
  } catch (e) {
    // A value that cannot be cloned (a function, a symbol…): that row fails, the others arrive.
    for (let i = 0; i < out.v.length; i++) {
      try {
        serialize(out.v[i]);
      } catch (err) {
        out.v[i] = null;
        (out.e ??= []).push([i, "ResultNotSerializable", `the result cannot be sent back: ${(err as Error).message}`, ""]);
        out.w ??= process.env.TSDASK_WORKER_NAME;
      }
    }
    send({ t: "done", id: m.id, out });
  }
}

process.on("message", (m) => onMessage(m as ToChild));
process.on("disconnect", () => process.exit(0));
send({ t: "ready", pid: process.pid });
