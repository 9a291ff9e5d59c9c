/** Messages between a {@link LocalPool} and its child processes (Node IPC, "advanced" serialization). */
import type { FnDef, ModuleDef } from "../../runtime/protocol.ts";
import type { BatchOutput, BatchPayload } from "../run-rows.ts";

/** Parent → child. `fn` and `data` come once per child, before the first `run` that needs them. */
export type ToChild =
  | { t: "fn"; id: number; def: FnDef; module?: ModuleDef }
  | { t: "data"; id: number; value: unknown }
  | { t: "drop"; ids: number[] }
  | { t: "run"; id: number; fn: number; p: BatchPayload; refs: number[] };

/** Child → parent. */
export type FromChild =
  | { t: "ready"; pid: number }
  | { t: "done"; id: number; out: BatchOutput }
  | { t: "fail"; id: number; name: string; message: string; stack: string };
