/**
 * Test utilities shared by every integration test.
 *
 * Rules of thumb (uvu has no per-test timeout and hangs on a never-settling promise):
 * - wrap every await that depends on another process in {@link withTimeout};
 * - start servers with {@link startTestNats} and call {@link cleanup} from the suite's `after` hook
 *   (`test.after(cleanup)`), so no handle keeps the process alive after the summary;
 * - await events (a child's 'exit', a 'ready' line, a NATS message). {@link waitFor} polls and is the
 *   last resort, for conditions with no event (e.g. "PID gone" for a process that is not our child).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { suite } from "uvu";
import { Client, type ClientOptions, type LocalClusterOptions } from "../../index.ts";
import { startNatsServer, type NatsServer, type NatsServerOptions } from "../../runtime/nats-server.ts";

/** `p`, or a rejection naming `label` if it has not settled within `ms`. The timer never outlives `p`. */
export function withTimeout<T>(p: Promise<T>, ms: number, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const e = new Error(`timed out after ${ms} ms waiting for: ${label}`);
      // Said here too: uvu drops an error thrown in a before hook without a word (its finally returns).
      console.error(`[withTimeout] ${e.message}`);
      reject(e);
    }, ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

type CleanupFn = () => unknown | Promise<unknown>;
const cleanups: CleanupFn[] = [];

/** Run `fn` at the next {@link cleanup} (last registered runs first). */
export function onCleanup(fn: CleanupFn): void {
  cleanups.push(fn);
}

/** Start a private nats-server (free loopback port) that {@link cleanup} stops. */
export async function startTestNats(opts: NatsServerOptions = {}): Promise<NatsServer> {
  const server = await withTimeout(startNatsServer(opts), 20_000, "nats-server to start");
  onCleanup(() => server.stop());
  return server;
}

/**
 * Stop everything registered (servers, connections, children), last first; each step bounded by
 * 10 s. Throws the first error after all steps ran. Use as `test.after(cleanup)`.
 */
export async function cleanup(): Promise<void> {
  const errors: unknown[] = [];
  while (cleanups.length) {
    const fn = cleanups.pop()!;
    try {
      await withTimeout(Promise.resolve().then(fn), 10_000, "a cleanup step");
    } catch (e) {
      errors.push(e);
    }
  }
  if (errors.length) throw errors[0];
}

/**
 * Resolve once `predicate()` is true; reject naming `label` after `timeoutMs` (default 5000).
 * POLLS (2 ms, doubling to 50 ms): a last resort for conditions that have no event. Prefer awaiting
 * an event — {@link childExit}, {@link waitForLine}, a subscription — whenever one exists.
 */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  { timeoutMs = 5000, label }: { timeoutMs?: number; label: string },
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 2;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${label}`);
    await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(1, deadline - Date.now()))));
    delay = Math.min(delay * 2, 50);
  }
}

/** Exit of a child process (an event; resolves at once if it already exited). */
export function childExit(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
}

/**
 * The first line of `stream` matching `re` (an event: no polling). Rejects if the stream ends first
 * or after `timeoutMs` (default 10000). Lines before the match are consumed.
 */
export function waitForLine(stream: Readable, re: RegExp, { timeoutMs = 10_000, label = `a line matching ${re}` } = {}): Promise<string> {
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  const seen: string[] = [];
  const found = new Promise<string>((resolve, reject) => {
    rl.on("line", (line) => {
      seen.push(line);
      if (re.test(line)) resolve(line);
    });
    rl.once("close", () => reject(new Error(`stream ended before ${label}; it said: ${seen.slice(-5).join(" | ") || "nothing"}`)));
  });
  return withTimeout(found, timeoutMs, label).finally(() => rl.close());
}

/** A uvu suite whose tests share one client of a private local cluster (started before, closed after). */
export function clusterSuite(name: string, local: LocalClusterOptions, opts: Omit<ClientOptions, "local"> = {}) {
  const t = suite<{ client: Client }>(name);
  t.before(async (ctx) => {
    ctx.client = await withTimeout(Client.connect(undefined, { ...opts, local }), 60_000, "embedded cluster start");
  });
  t.after(async (ctx) => {
    await ctx.client?.close();
  });
  return t;
}

/**
 * Runs a repository file as a user would (`node --import tsx <file> <args>` from the repository
 * root) and resolves with its output, stdout and stderr together; fails the test on a non-zero exit.
 */
export async function runExample(file: string, opts: { args?: string[]; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<string> {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", file, ...(opts.args ?? [])], { cwd: root, env: { ...process.env, ...opts.env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d));
  child.stderr!.on("data", (d: Buffer) => (out += d));
  const { code } = await withTimeout(childExit(child), opts.timeoutMs ?? 120_000, `${file} to finish`);
  if (code !== 0) throw new Error(`${file} exited with ${code}:\n${out}`);
  return out;
}
