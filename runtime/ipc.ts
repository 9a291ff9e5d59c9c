/**
 * The channels between a worker supervisor and its executor processes, in one place (as
 * workloads/local/protocol.ts is for the local pool): the executor's settings, passed in the
 * environment ($TSDASK_EXECUTOR, JSON); the Node IPC messages each way; and the task marker pipe's
 * record format. The supervisor and the executor both import this module, never each other.
 */
import type { NatsAuth } from "./nats-auth.ts";

/** What the supervisor passes to each executor process (in $TSDASK_EXECUTOR). */
export interface ExecutorProcessConfig {
  servers: string;
  token?: string;
  /** NATS credentials and TLS: file paths and secrets, passed in the environment, never on the command line. */
  auth?: NatsAuth;
  cluster: string;
  id: string;
  name: string;
  /** The supervisor's instance id (how the scheduler knows the worker). */
  worker: string;
  /** The worker's name (`--name`), for getWorker(). */
  workerName: string;
  index: number;
  nthreads: number;
  localDirectory: string;
  /** How often to report memory to the supervisor (ms); 0: never (it has no memory limit to enforce). */
  memoryReportMs?: number;
}

/** A standby's settings: only its local directory, until `activate` brings the rest (actors/supervisor/standby.ts). */
export type StandbyConfig = Pick<ExecutorProcessConfig, "localDirectory">;

/**
 * The environment variables of an executor process: its config, the marker pipe switch, and, for
 * a standby (no `config`), `TSDASK_STANDBY=1`.
 */
export function executorEnv(base: StandbyConfig, config?: ExecutorProcessConfig): Record<string, string> {
  return { TSDASK_EXECUTOR: JSON.stringify(config ?? base), TSDASK_MARKERS: "1", ...(config ? {} : { TSDASK_STANDBY: "1" }) };
}

/** Inside an executor process: whether it was started as a standby, and whether its marker pipe is open. */
export const isStandby = (env: NodeJS.ProcessEnv = process.env): boolean => env.TSDASK_STANDBY === "1";
export const hasMarkerPipe = (env: NodeJS.ProcessEnv = process.env): boolean => env.TSDASK_MARKERS === "1";

/**
 * The config of the executor this process is (or, for a standby, its local directory), or
 * undefined outside an executor. Tasks read who they run on from here (getWorker()).
 */
export function readExecutorConfig(env: NodeJS.ProcessEnv = process.env): ExecutorProcessConfig | undefined {
  const raw = env.TSDASK_EXECUTOR;
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as ExecutorProcessConfig;
  } catch {
    return undefined;
  }
}

/** A standby that became an executor records its config where tasks read it, and stops being a standby. */
export function adoptExecutorConfig(cfg: ExecutorProcessConfig, env: NodeJS.ProcessEnv = process.env): void {
  env.TSDASK_EXECUTOR = JSON.stringify(cfg);
  delete env.TSDASK_STANDBY;
}

/**
 * Supervisor → executor over IPC. `activate`: become this executor (a standby); `stop`: exit now;
 * `retire`: hand back queued tasks, finish running ones, then say `drained`; `pause`/`resume`:
 * stop/start taking tasks (memory above the pause threshold).
 */
export type ToExecutor =
  | { type: "activate"; config: ExecutorProcessConfig }
  | { type: "stop" }
  | { type: "retire" }
  | { type: "pause" }
  | { type: "resume" };

/**
 * Executor → supervisor over IPC. `standby`: waiting for `activate`; `ready`: registered;
 * `refused`: the scheduler refused it (its message); `mem`: its RSS (only with a memory limit);
 * `drained`: a retire is done.
 */
export type FromExecutor =
  | { type: "standby" }
  | { type: "ready"; id: string; pid: number }
  | { type: "refused"; message: string }
  | { type: "mem"; rss: number }
  | { type: "drained" };

const TO_EXECUTOR: ReadonlySet<string> = new Set<ToExecutor["type"]>(["activate", "stop", "retire", "pause", "resume"]);
const FROM_EXECUTOR: ReadonlySet<string> = new Set<FromExecutor["type"]>(["standby", "ready", "refused", "mem", "drained"]);
const typed = (m: unknown): m is { type: string } => typeof m === "object" && m !== null && typeof (m as { type?: unknown }).type === "string";

/** A message from the supervisor (an `activate` only with its config). */
export const isToExecutor = (m: unknown): m is ToExecutor =>
  typed(m) && TO_EXECUTOR.has(m.type) && (m.type !== "activate" || typeof (m as { config?: unknown }).config === "object");
/** A message from an executor. */
export const isFromExecutor = (m: unknown): m is FromExecutor => typed(m) && FROM_EXECUTOR.has(m.type);

// ---------------------------------------------------------------------------------------------
// The marker pipe (fd 4 of the executor process): start/end of careful and timed tasks, written
// synchronously so that when the process dies its supervisor knows exactly which were running.
// Record: [op u8: 1 start, 2 end][slot u32 LE][timeout ms u32 LE] (9 bytes).

export const MARKER_FD = 4;
export const MARKER_BYTES = 9;
export const MARKER_START = 1;
export const MARKER_END = 2;

/** Writes one record into `buf` (at least {@link MARKER_BYTES} long). */
export function encodeMarker(buf: Buffer, op: typeof MARKER_START | typeof MARKER_END, slot: number, timeoutMs: number): void {
  buf[0] = op;
  buf.writeUInt32LE(slot, 1);
  buf.writeUInt32LE(Math.min(timeoutMs, 0xffffffff), 5);
}

/** Reads the whole records of `b` in order; returns how many bytes they took (the rest is a partial record). */
export function decodeMarkers(b: Buffer, each: (op: number, slot: number, timeoutMs: number) => void): number {
  let o = 0;
  for (; o + MARKER_BYTES <= b.length; o += MARKER_BYTES) each(b[o]!, b.readUInt32LE(o + 1), b.readUInt32LE(o + 5));
  return o;
}
