/**
 * Result tickets: proof that a result row comes from a task the scheduler dispatched for this
 * client (issue 11).
 *
 * The client draws a 16-byte secret and gives it to the scheduler when it registers. For every
 * dispatched row the scheduler encrypts one 16-byte block `key ‖ TAG ‖ TAG2 ‖ key` under that
 * secret with AES-128 (a pseudo-random permutation on one block) and sends its first 8 bytes;
 * executors echo them with the result; the client computes the same blocks for the keys of a
 * results message and drops the rows whose 8 bytes differ. Without the secret a forger hits a
 * valid ticket with probability 2^-64 per try.
 *
 * Why AES-ECB and not one HMAC per task: a whole group's tickets come from one `update` call
 * over N blocks (tens of ns per task, well under 1 µs for a lone task; bench/tickets.ts), where
 * createHmac costs microseconds per call. ECB's known weakness (equal blocks → equal ciphertexts)
 * does not matter: the blocks hold nothing secret. Why 8 bytes and only the key: the tickets ride
 * on every dispatch and result (bytes per trivial task are few, so 16 cost ~0.3 µs more per task
 * end to end), and the client could not check anything else in the block anyway (which executor,
 * which dispatch: it does not know them); a re-run of a key is a duplicate it drops by itself.
 *
 * Honest limit: anyone who can read the dispatch messages (a passive eavesdropper on a shared
 * NATS account) sees tickets before their results and could race the executor with a wrong value
 * for that row. Real isolation is per-role NATS permissions (the home-LAN issue).
 */
import { createCipheriv, randomBytes, type Cipher } from "node:crypto";

/** Domain tags in every ticket block ("tsd1", "tick"): tickets are for nothing else. */
const TAG = 0x31647374;
const TAG2 = 0x6b636974;

/** Words per ticket in a tickets column (a `Uint32Array` of 2 × rows). */
export const TICKET_WORDS = 2;

/** A client's ticket secret: 16 random bytes. */
export const newTicketSecret = (): Uint8Array => new Uint8Array(randomBytes(16));

export class TicketKey {
  /**
   * One cipher for the key's life: ECB without padding is stateless between whole blocks, so
   * `update()` on N blocks always returns N blocks and never needs `final()`. (Creating one per
   * call cost ~3 µs, the price of a lone task's ticket.)
   */
  private readonly enc: Cipher;

  constructor(secret: Uint8Array) {
    if (!(secret instanceof Uint8Array) || secret.byteLength !== 16) throw new Error("a ticket secret is 16 bytes");
    const key = Buffer.from(secret);
    this.enc = createCipheriv("aes-128-ecb", key, null).setAutoPadding(false);
  }

  /** Tickets for `keys`: 2 words per row. */
  issue(keys: ArrayLike<number>): Uint32Array {
    const n = keys.length;
    const full = this.blocks(keys);
    const out = new Uint32Array(n * TICKET_WORDS);
    for (let i = 0, o = 0; i < n; i++, o += 4) {
      out[i * 2] = full[o]!;
      out[i * 2 + 1] = full[o + 1]!;
    }
    return out;
  }

  /**
   * Checks a results message's tickets against its keys. Returns the number of rows that fail,
   * and marks each in `bad` (bad[i] = 1), or -1 when the column is missing or of the wrong size
   * (the whole message is then forged).
   */
  verify(keys: Uint32Array, tickets: unknown, bad: Uint8Array): number {
    const n = keys.length;
    if (!(tickets instanceof Uint32Array) || tickets.length !== n * TICKET_WORDS) return -1;
    const full = this.blocks(keys);
    let failures = 0;
    for (let i = 0, o = 0; i < n; i++, o += 4) {
      if (tickets[i * 2] !== full[o] || tickets[i * 2 + 1] !== full[o + 1]) {
        bad[i] = 1;
        failures++;
      }
    }
    return failures;
  }

  /** The encrypted blocks of `keys`, 4 words per row, in one cipher call. */
  private blocks(keys: ArrayLike<number>): Uint32Array {
    const n = keys.length;
    const plain = new Uint32Array(n * 4);
    for (let i = 0, o = 0; i < n; i++, o += 4) {
      const k = keys[i]!;
      plain[o] = k;
      plain[o + 1] = TAG;
      plain[o + 2] = TAG2;
      plain[o + 3] = k;
    }
    return aligned(this.enc.update(new Uint8Array(plain.buffer)), n);
  }
}

/** Cipher output may sit at any offset of a pooled Buffer: copy it into an aligned word array. */
function aligned(b: Buffer, rows: number): Uint32Array {
  const out = new Uint32Array(rows * 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}
