/**
 * Cost of result tickets (runtime/tickets.ts) per task: issuing a group's tickets on the
 * scheduler and verifying a results message's on the client, at the batch sizes the hot path
 * sees, next to one HMAC per task for comparison. Prints JSON (µs per task, medians of 7).
 *   npx tsx bench/tickets.ts
 */
import { createHmac } from "node:crypto";
import { newTicketSecret, TicketKey } from "../runtime/tickets.ts";

const k = new TicketKey(newTicketSecret());
const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!;

function perTask(batch: number, total: number, f: (keys: Uint32Array) => void): number {
  const keys = Uint32Array.from({ length: batch }, (_, i) => i * 7 + 3);
  const runs: number[] = [];
  for (let r = 0; r < 7; r++) {
    const t0 = process.hrtime.bigint();
    for (let done = 0; done < total; done += batch) f(keys);
    runs.push(Number(process.hrtime.bigint() - t0) / 1000 / total);
  }
  return median(runs);
}

const out: Record<string, unknown> = {};
for (const batch of [1, 10, 100, 1000, 4000]) {
  const total = Math.max(200_000, batch * 50);
  const tickets = k.issue(Uint32Array.from({ length: batch }, (_, i) => i * 7 + 3));
  const bad = new Uint8Array(batch);
  out[`batch${batch}`] = {
    issueUs: +perTask(batch, total, (keys) => k.issue(keys)).toFixed(4),
    verifyUs: +perTask(batch, total, (keys) => k.verify(keys, tickets, bad)).toFixed(4),
  };
}
// The executor's part: echo each row's 2 words into the outbox's column, then one copy per message.
out.echoPerTaskUs = +perTask(1000, 200_000, (keys) => {
  const t = k.issue(keys);
  const col = new Uint32Array(keys.length * 2);
  for (let i = 0; i < keys.length; i++) {
    col[i * 2] = t[i * 2]!;
    col[i * 2 + 1] = t[i * 2 + 1]!;
  }
  col.slice();
}).toFixed(4);
const secret = Buffer.from(newTicketSecret());
out.hmacPerTaskUs = +perTask(1000, 20_000, (keys) => {
  for (let i = 0; i < keys.length; i++) createHmac("sha256", secret).update(String(keys[i])).digest();
}).toFixed(4);
console.log(JSON.stringify({ bench: "tickets", ...out }));
