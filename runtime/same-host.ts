/**
 * The same-host shortcut of broadcast scatters (issue 10 item 5). A client scattering a large value
 * with `broadcast` also writes its bytes to the drop directory (runtime/platform/drop.ts) and
 * names that directory in its probe (`DataPut.drop`); the scheduler and every invited executor
 * that share the directory read the value there instead of receiving ~1 MiB NATS messages (on a
 * 2-core machine, 10 MB cost ~0.4 CPU-s across client, nats-server, scheduler and two executors,
 * and ~250 ms before the first task could start). Whoever cannot read it (another machine, another
 * user, the file already gone) gets the value as before: by push, or from the scheduler later.
 * Bytes read from the directory are used only when they match the value's SHA-256.
 */
import { bytesHashOffThread } from "./data-transfer.ts";
import { dropDir, readDrop, removeDrop, writeDrop } from "./platform.ts";

/**
 * Offers `parts` (their concatenation is the value whose SHA-256 is `hash`) to this machine's
 * readers: the drop id to send with the probe, or undefined when there is no drop directory.
 * {@link withdrawSameHost} it once the scatter is over.
 */
export function offerSameHost(hash: string, parts: readonly Uint8Array[]): string | undefined {
  const d = dropDir();
  return d && writeDrop(d, hash, parts) ? d.id : undefined;
}

/** Removes a value {@link offerSameHost} offered (later readers get it from the scheduler). */
export function withdrawSameHost(hash: string): void {
  const d = dropDir();
  if (d) removeDrop(d, hash);
}

/**
 * The value `hash` of `size` bytes from the drop directory `id` when this process shares it and the
 * bytes there match the hash; undefined otherwise (the caller takes the ordinary way). Read and
 * hashed off the event loop.
 */
export async function takeSameHost(id: string | undefined, hash: string, size: number): Promise<Uint8Array | undefined> {
  const d = id ? dropDir() : undefined;
  if (!d || d.id !== id) return undefined;
  const bytes = await readDrop(d, hash, size);
  if (!bytes) return undefined;
  return (await bytesHashOffThread(bytes)) === hash ? bytes : undefined;
}
