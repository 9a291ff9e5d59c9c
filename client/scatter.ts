/**
 * client.scatter(): values stored once in the scheduler's data store (`data.put`, in chunks below
 * max_payload; a value the scheduler already holds costs one small probe; a broadcast is pushed
 * once to every idle executor, see runtime/data-transfer.ts). A client remembers what it
 * scattered: the same object scattered twice is sent once (identity cache), and every value it
 * still owns is uploaded again for a scheduler that restarted (which holds them in memory only).
 * Workload runs (the cluster backend of parallel(), best(), gridSearchCV) scatter through leases:
 * a value only runs scattered is released when the last run using it ends, one the user scattered
 * too stays until the user releases it.
 */
import { encodeLargeParts, findUnencodable } from "../runtime/codec.ts";
import { DataRef } from "../runtime/data-ref.ts";
import { bytesHash, bytesSize, chunkSizeFor, putBytes } from "../runtime/data-transfer.ts";
import { offerSameHost, withdrawSameHost } from "../runtime/same-host.ts";
import { Errors } from "../runtime/errors.ts";
import type { Subjects } from "../runtime/protocol.ts";
import type { Transport } from "../runtime/transport.ts";
import type { Logger } from "../runtime/actor.ts";

/**
 * Stores `value` in the scheduler's data store. A broadcast of more than one chunk is also offered
 * through the same-host drop directory while it is stored (runtime/same-host.ts), unless `sameHost` is false.
 */
export async function uploadValue(tx: Transport, subjects: Subjects, client: string, value: unknown, broadcast: boolean, auth?: string, sameHost = true): Promise<DataRef> {
  // A typed array travels from its own memory: its bytes are copied once, into the chunks sent.
  let bytes: Uint8Array[];
  try {
    bytes = encodeLargeParts(value);
  } catch (e) {
    throw Errors.NotSerializable("The scattered value", findUnencodable(value, "value") ?? (e as Error).message);
  }
  const hash = bytesHash(bytes);
  const size = bytesSize(bytes);
  const fail = (m: string, code: string, limit?: number) => (code === "ValueTooLarge" ? Errors.ValueTooLarge("The scattered value", size, limit ?? 0, true) : Errors.ScatterFailed(m));
  const drop = broadcast && sameHost && size > chunkSizeFor(tx) ? offerSameHost(hash, bytes) : undefined;
  try {
    await putBytes(tx, subjects, client, bytes, hash, { broadcast, fail, auth, drop });
  } finally {
    if (drop) withdrawSameHost(hash);
  }
  return new DataRef(hash, size);
}

/** The values one client scattered (see the module comment). */
export class ScatteredValues {
  /** The object scattered → its reference (scattering it again sends nothing). */
  private readonly byObject = new WeakMap<object, Promise<DataRef>>();
  /** Hash → the object scattered under it, so release() also forgets the identity cache. */
  private readonly objectOf = new Map<string, WeakRef<object>>();
  /** Hash → the value (kept strongly until release, to upload it again) and its broadcast flag. */
  private readonly owned = new Map<string, { value: unknown; broadcast: boolean }>();
  /** Hashes the user scattered (not only runs): never released by a lease's end. */
  private readonly userHeld = new Set<string>();
  /** Hash → runs holding a lease on it ({@link lease}). */
  private readonly leases = new Map<string, number>();

  constructor(
    private readonly tx: Transport,
    private readonly subjects: Subjects,
    private readonly client: string,
    private readonly log: Logger,
    /** The client's token: releases without it are ignored by the scheduler. */
    private readonly auth = "",
    /** See ClientOptions.sameHostScatter. */
    private readonly sameHost = true,
  ) {}

  /** The user's scatter: held until the user releases it. */
  scatter<T>(value: T, broadcast: boolean): Promise<DataRef<T>> {
    const p = this.put(value, broadcast);
    void p.then((ref) => this.userHeld.add(ref.hash), () => {});
    return p;
  }

  /** A workload run's scatter: held until {@link endLease} of its last run, unless the user scattered it too. */
  async lease<T>(value: T, broadcast: boolean): Promise<DataRef<T>> {
    const ref = await this.put(value, broadcast);
    this.leases.set(ref.hash, (this.leases.get(ref.hash) ?? 0) + 1);
    return ref;
  }

  /** A run no longer needs these (from {@link lease}; other refs are ignored). */
  endLease(refs: readonly DataRef[]): void {
    const done: DataRef[] = [];
    for (const r of refs) {
      const n = this.leases.get(r.hash);
      if (n === undefined) continue;
      if (n > 1) this.leases.set(r.hash, n - 1);
      else {
        this.leases.delete(r.hash);
        if (!this.userHeld.has(r.hash)) done.push(r);
      }
    }
    if (done.length) this.release(done);
  }

  private put<T>(value: T, broadcast: boolean): Promise<DataRef<T>> {
    const key = typeof value === "object" && value !== null ? (value as object) : undefined;
    const hit = key && this.byObject.get(key);
    if (hit && !broadcast) return hit as Promise<DataRef<T>>;
    const p = uploadValue(this.tx, this.subjects, this.client, value, broadcast, this.auth, this.sameHost).then((ref) => {
      this.owned.set(ref.hash, { value, broadcast: broadcast || !!this.owned.get(ref.hash)?.broadcast });
      if (key) this.objectOf.set(ref.hash, new WeakRef(key));
      return ref as DataRef<T>;
    });
    if (key) {
      this.byObject.set(key, p);
      p.catch(() => this.byObject.delete(key));
    }
    return p;
  }

  release(refs: readonly DataRef[]): void {
    for (const r of refs) {
      this.userHeld.delete(r.hash);
      const key = this.objectOf.get(r.hash)?.deref();
      if (key) this.byObject.delete(key);
      this.objectOf.delete(r.hash);
    }
    const hashes = refs.map((r) => r.hash).filter((h) => this.owned.delete(h));
    if (hashes.length) this.tx.send(this.subjects.dataRelease, { client: this.client, hashes, auth: this.auth });
  }

  /** Uploads every owned value again (the scheduler lost them); failures are logged, tasks then fail with DataUnavailable. */
  async uploadAgain(): Promise<void> {
    const values = [...this.owned.values()];
    const results = await Promise.allSettled(values.map((v) => uploadValue(this.tx, this.subjects, this.client, v.value, v.broadcast, this.auth, this.sameHost)));
    const failed = results.filter((r) => r.status === "rejected");
    if (values.length) this.log.info(`the scheduler lost its data: uploaded ${values.length - failed.length} scattered value(s) again`);
    for (const f of failed) this.log.warn(`could not upload a scattered value again: ${(f as PromiseRejectedResult).reason?.message ?? f}`);
  }
}
