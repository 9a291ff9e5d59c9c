/**
 * client.runOnScheduler() (`sched.run`): runs a shipped function once in the scheduler process,
 * outside the task queue, and answers with its value or its error (with the stack as thrown here).
 * The only user code the scheduler ever runs, and only when a client asks for it. Functions are
 * materialised as on executors: by source (compileSource) or as a module export (loadModule, the
 * bundle written to a private temporary directory), cached by hash.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encode } from "../../runtime/codec.ts";
import { Errors, remoteErrorInfo } from "../../runtime/errors.ts";
import type { FnDef, ModuleDef, RunReply, RunRequest } from "../../runtime/protocol.ts";
// Not from shipping/index.ts: that one also loads the client's function checks (acorn, ~50 ms at start).
import { compileSource } from "../../runtime/shipping/compile.ts";
import { installResolveHook, loadModule } from "../../runtime/shipping/load-module.ts";
import { PACKAGE_ROOT as TSDASK_ROOT } from "../../runtime/self.ts";

export class SchedulerRunner {
  private readonly fns = new Map<string, Promise<Function>>();
  private dir: string | undefined;

  constructor(private readonly maxPayload: number) {}

  async run(m: RunRequest): Promise<RunReply> {
    try {
      const fn = await this.load(m.fn, m.module);
      const value = await (fn as (...a: unknown[]) => unknown)(...m.args);
      const size = encode(value).byteLength; // unencodable values fail here, with their own error
      if (size > this.maxPayload - 1024) return { ok: false, error: remoteErrorInfo(Errors.PayloadTooLarge("The value returned by runOnScheduler()", size, this.maxPayload - 1024)) };
      return { ok: true, value };
    } catch (e) {
      const err = e instanceof Error ? e : new Error(`a non-Error value was thrown: ${String(e)}`);
      return { ok: false, error: { code: "", name: err.name, message: err.message, stack: err.stack ?? "" } };
    }
  }

  private load(def: FnDef, module: ModuleDef | undefined): Promise<Function> {
    let p = this.fns.get(def.hash);
    if (!p) {
      p = this.materialise(def, module);
      this.fns.set(def.hash, p);
      p.catch(() => this.fns.delete(def.hash));
    }
    return p;
  }

  private async materialise(def: FnDef, module: ModuleDef | undefined): Promise<Function> {
    if (def.kind === "src") return compileSource(def);
    if (!module || module.hash !== def.module) throw Errors.DefinitionNotSent("module", def.module, "the scheduler with the request");
    if (!this.dir) {
      this.dir = mkdtempSync(join(tmpdir(), "ts-dask-scheduler-"));
      installResolveHook([this.dir, process.cwd(), TSDASK_ROOT]);
    }
    const ns = await loadModule(module, this.dir);
    const f = ns[def.exportName];
    if (typeof f !== "function") throw Errors.ExportNotAFunction(def.exportName, module.file);
    return f;
  }

  /** Removes the temporary directory of loaded modules. */
  stop(): void {
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }
}
