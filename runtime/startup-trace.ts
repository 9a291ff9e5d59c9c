/**
 * Start-up phase marks, for finding where a start spends its time (bench/startup prints them per
 * phase). Off unless `$TSDASK_STARTUP_TRACE` is set (children inherit it); then each mark is one
 * stderr line `ts-dask-startup <role> <pid> <phase> <epoch ms>`, the first of a process preceded by
 * its `node-start` (when Node began, from `performance.timeOrigin`). Clocks of the processes of one
 * machine agree, so the lines of all processes of a start make one timeline.
 */
const ON = !!process.env.TSDASK_STARTUP_TRACE;
let started = false;

/** Notes that this process (`role`: up, worker, executor, client…) reached `phase`; nothing unless tracing. */
export function startupMark(role: string, phase: string): void {
  if (!ON) return;
  const line = (p: string, at: number) => `ts-dask-startup ${role} ${process.pid} ${p} ${at.toFixed(1)}\n`;
  let out = "";
  if (!started) ((started = true), (out += line("node-start", performance.timeOrigin)));
  process.stderr.write(out + line(phase, performance.timeOrigin + performance.now()));
}
