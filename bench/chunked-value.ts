/**
 * bench/chunked-value: what checking stored values against their SHA-256 costs (issue 11). Every
 * value the scheduler stores, every pushed value an executor assembles and every `data.get` read
 * goes through runtime/chunked-value.ts, which hashes the chunks as they arrive. Measured: CPU
 * per MiB to assemble a value from 1 MiB chunks (in order, and with each window of 8 reversed, as
 * 8 lanes in flight deliver them) with the hash, against the copy alone (what the store did
 * before), and the CPU of the longest single `place` call (the event loop's longest pause, without
 * other processes' share). CPU time (process.cpuUsage), so other load on the machine matters less
 * than for wall-clock figures (a fresh buffer's page faults are in both).
 *   BENCH_MB (default 256), BENCH_RUNS (default 5)
 */
import { randomFillSync } from "node:crypto";
import { ChunkedValue } from "../runtime/chunked-value.ts";
import { bytesHash } from "../runtime/data-transfer.ts";
import { median, report, runs } from "./lib.ts";

const MB = Number(process.env.BENCH_MB ?? 256);
const CHUNK = 2 ** 20;
const size = MB * CHUNK;
const value = randomFillSync(new Uint8Array(size));
const hash = bytesHash(value);
const chunks = Math.ceil(size / CHUNK);
const order = (shuffled: boolean) => Array.from({ length: chunks }, (_, i) => (shuffled ? Math.floor(i / 8) * 8 + (7 - (i % 8)) : i)).filter((i) => i < chunks);

const cpuUs = (f: () => void) => {
  const a = process.cpuUsage();
  f();
  const d = process.cpuUsage(a);
  return d.user + d.system;
};

function assemble(shuffled: boolean): { us: number; maxPauseMs: number } {
  let maxPauseMs = 0;
  const us = cpuUs(() => {
    const v = new ChunkedValue(size, chunks);
    for (const i of order(shuffled)) {
      const t = process.cpuUsage();
      v.place(i, value.subarray(i * CHUNK, Math.min(size, (i + 1) * CHUNK)));
      const d = process.cpuUsage(t);
      maxPauseMs = Math.max(maxPauseMs, (d.user + d.system) / 1000);
    }
    if (!v.verify(hash)) throw new Error("hash mismatch");
  });
  return { us, maxPauseMs };
}

function copyOnly(): number {
  return cpuUs(() => {
    const out = new Uint8Array(size);
    for (const i of order(false)) out.set(value.subarray(i * CHUNK, Math.min(size, (i + 1) * CHUNK)), i * CHUNK);
  });
}

const inOrder: number[] = [];
const lanes: number[] = [];
const copies: number[] = [];
const pauses: number[] = [];
assemble(false); // warm-up
for (let r = 0; r < runs(); r++) {
  const a = assemble(false);
  const b = assemble(true);
  inOrder.push(a.us / MB);
  lanes.push(b.us / MB);
  pauses.push(Math.max(a.maxPauseMs, b.maxPauseMs));
  copies.push(copyOnly() / MB);
}
report({
  bench: "chunked-value",
  mebibytes: MB,
  runs: runs(),
  cpuUsPerMiB: { hashedInOrder: Math.round(median(inOrder)), hashedLanesOf8: Math.round(median(lanes)), copyOnly: Math.round(median(copies)) },
  addedMsPerMiB: +((median(inOrder) - median(copies)) / 1000).toFixed(2),
  longestPlaceCpuMs: +median(pauses).toFixed(2),
});
