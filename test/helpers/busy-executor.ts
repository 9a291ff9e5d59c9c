/** A task that keeps one executor busy (its event loop blocked), for tests of what a busy executor is not sent. */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Client, Future } from "../../index.ts";
import { waitFor } from "./cluster.ts";

/**
 * Submits a task that blocks its executor's event loop (a CPU-bound wait on a file in `dir`) and
 * resolves once it runs. `release()` lets it finish; the task then returns its executor's `id` and `name`.
 */
export async function occupyAnExecutor(client: Client, dir: string): Promise<{ task: Future<{ id: string; name: string }>; release(): void }> {
  const started = join(dir, "started");
  const go = join(dir, "go");
  const task = client.submit(async (startedFile: string, goFile: string) => {
    const fs = await import("node:fs");
    fs.writeFileSync(startedFile, "");
    while (!fs.existsSync(goFile));
    const { id, name } = JSON.parse(process.env.TSDASK_EXECUTOR!) as { id: string; name: string };
    return { id, name };
  }, started, go);
  await waitFor(() => existsSync(started), { timeoutMs: 20_000, label: "the blocking task to start" });
  return { task, release: () => writeFileSync(go, "") };
}
