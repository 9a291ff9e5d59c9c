/**
 * The `ts-dask` command line: scheduler, worker, up, info. Thin: reads the flags (args.ts) and
 * starts actors. A mistake on the command line: one `ts-dask:` line saying what, the usage of that
 * command, exit code 2. A failure after start: one `ts-dask:` line, exit code 1.
 * Each command loads only its own modules (a start is faster for it: bench/startup).
 */
import { TsDaskError } from "../runtime/errors.ts";
import { startupMark } from "../runtime/startup-trace.ts";
import { TSDASK_VERSION } from "../runtime/version.ts";
import { parseCommandLine, UsageError, type Invocation } from "./args.ts";

startupMark("cli", "modules-loaded");
let inv: Invocation;
try {
  inv = parseCommandLine(process.argv.slice(2));
} catch (e) {
  if (!(e instanceof UsageError)) throw e;
  console.error(`ts-dask: ${e.message}\n\n${e.usage}`);
  process.exit(2);
}

try {
  if (inv.command === "version") console.log(TSDASK_VERSION);
  else if (inv.command === "help") console.log(inv.text);
  else if (inv.command === "scheduler") await (await import("./run.ts")).runScheduler(inv);
  else if (inv.command === "worker") await (await import("./run.ts")).runWorker(inv);
  else if (inv.command === "up") await (await import("./run.ts")).runUp(inv);
  else await (await import("./info.ts")).runInfo(inv);
} catch (e) {
  console.error(e instanceof TsDaskError ? `ts-dask: ${e.message}` : ((e as Error).stack ?? String(e)));
  process.exit(1);
}
// Open connections or timers of a stopped actor must not keep the command alive.
process.exit(process.exitCode ?? 0);
