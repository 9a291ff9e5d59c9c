/**
 * The same-host shortcut of broadcast scatters (runtime/same-host.ts): the scheduler and the idle
 * executors on the client's machine read the value from the drop directory instead of NATS; an
 * executor that was busy gets it from the scheduler later; bytes in the directory are used only
 * when they are a regular file of the right size whose SHA-256 is the value's.
 */
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Client } from "../index.ts";
import { decode } from "../runtime/codec.ts";
import { dropDir } from "../runtime/platform.ts";
import { subjects, type DataGet } from "../runtime/protocol.ts";
import { takeSameHost } from "../runtime/same-host.ts";
import { Transport } from "../runtime/transport.ts";
import { waitFor, withTimeout } from "./helpers/cluster.ts";
import { occupyAnExecutor } from "./helpers/busy-executor.ts";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

test("a broadcast scatter reaches the scheduler and the idle executors through the drop directory: no chunk crosses NATS, and the file is gone after", async () => {
  // Over NATS (no in-process link): every probe and chunk would be seen by the listener.
  const client = await withTimeout(Client.connect(undefined, { local: { nprocs: 2, link: false } }), 60_000, "embedded cluster start");
  let rx: Transport | undefined;
  const dir = mkdtempSync(join(tmpdir(), "tsdask-same-host-"));
  try {
    const local = client.localCluster!;
    const S = subjects(local.cluster);
    rx = await Transport.connect({ servers: local.url, token: local.token, name: "listener" });
    let pushed = 0;
    const getsBy = new Map<string, number>();
    rx.subscribe(S.dataPush("*"), () => pushed++);
    rx.subscribe(S.dataGet, (b) => {
      const m = decode<DataGet>(b);
      getsBy.set(m.exec ?? "?", (getsBy.get(m.exec ?? "?") ?? 0) + 1);
    });
    await rx.flush();
    // One executor is busy (its event loop blocked) while the value is scattered: it is not invited.
    const blocker = await occupyAnExecutor(client, dir);
    const big = new Float64Array(1_000_000).map((_, i) => i * 0.25); // 8 MB: 8 chunks, so it would be pushed
    const ref = await withTimeout(client.scatter(big, { broadcast: true }), 30_000, "the scatter");
    const d = dropDir();
    assert.ok(d, "this machine has a drop directory");
    assert.not.ok(existsSync(join(d!.dir, ref.hash)), "the client removed its file once the value was stored");
    blocker.release();
    const busy = (await blocker.task.result()).id;
    // Both executors use it: the idle one read it from the drop, the busy one pulls it from the scheduler.
    const idx = [0, 1, 2, 3, 999_999];
    const seen = await withTimeout(client.gather(client.map((i: number, v: Float64Array) => v[i]!, idx, { args: [ref] })), 30_000, "tasks using it");
    assert.equal(seen, idx.map((i) => i * 0.25));
    // The scheduler asked every executor to prefetch it once it was stored: the busy one does when free.
    await waitFor(() => (getsBy.get(busy) ?? 0) > 0, { timeoutMs: 20_000, label: "the busy executor to pull the value from the scheduler" });
    await rx.flush();
    assert.is(pushed, 0, "no chunk was pushed over NATS (the scheduler read the file)");
    assert.equal([...getsBy.keys()].filter((e) => e !== busy), [], `only the busy executor pulled the value (data.get by ${JSON.stringify([...getsBy])})`);
    client.release([ref]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await rx?.close();
    await client.close();
  }
});

test("bytes in the drop directory are taken only as a regular file of the value's size that matches its hash, from our own directory", async () => {
  const d = dropDir();
  assert.ok(d, "this machine has a drop directory");
  const value = new Uint8Array(300_000).map((_, i) => i % 251);
  const hash = sha(value);
  const file = join(d!.dir, hash);
  const elsewhere = mkdtempSync(join(tmpdir(), "tsdask-same-host-"));
  try {
    writeFileSync(file, value);
    assert.equal(await takeSameHost(d!.id, hash, value.byteLength), value, "the right bytes are taken");
    assert.is(await takeSameHost("0".repeat(32), hash, value.byteLength), undefined, "not from another drop directory (another id)");
    assert.is(await takeSameHost(d!.id, hash, value.byteLength + 1), undefined, "not with another size");
    assert.is(await takeSameHost(d!.id, "../" + hash.slice(3), value.byteLength), undefined, "a name that is not a hash is never opened");
    const forged = value.slice();
    forged[12_345] ^= 1;
    writeFileSync(file, forged);
    assert.is(await takeSameHost(d!.id, hash, value.byteLength), undefined, "bytes that do not match the hash are not taken");
    rmSync(file);
    if (process.platform !== "win32") {
      // A link to the right bytes elsewhere is not followed; a FIFO does not hang the reader.
      const target = join(elsewhere, "value");
      writeFileSync(target, value);
      symlinkSync(target, file);
      assert.is(await takeSameHost(d!.id, hash, value.byteLength), undefined, "a symbolic link is not followed");
      rmSync(file);
      execFileSync("mkfifo", [file]);
      assert.is(await withTimeout(takeSameHost(d!.id, hash, value.byteLength), 5_000, "a FIFO read"), undefined, "a FIFO is not read");
    }
  } finally {
    rmSync(file, { force: true });
    rmSync(elsewhere, { recursive: true, force: true });
  }
});

test.run();
