/**
 * Result tickets: proof that the scheduler dispatched a client's task key to an executor.
 *
 * The client draws a 16-byte secret and gives it to the scheduler when it registers. For every
 * dispatched row the scheduler encrypts one 16-byte block `key ‖ executor ‖ dispatch ‖ TAG` under
 * that secret with AES-128 (a pseudo-random permutation on one block); executors echo the block
 * with the result; the client decrypts and accepts the row only if the block holds that key and
 * the tag. Without the secret a forger hits a valid block with probability 2^-64 per try.
 *
 * Why AES-ECB and not one HMAC per task: a whole group's tickets come from one `update` call
 * over N blocks (tens of ns per task, well under 1 µs for a lone task; bench/tickets.ts), where
 * createHmac costs microseconds per call. ECB's known weakness (equal blocks → equal ciphertexts)
 * does not matter here: every block is distinct (key, dispatch) and holds nothing secret.
 *
 * Honest limit: anyone who can read the dispatch messages (a passive eavesdropper on a shared
 * NATS account) sees tickets before their results and could race the executor with a wrong value
 * for that row. Real isolation is per-role NATS permissions (the home-LAN issue).
 */
import { createCipheriv, createDecipheriv, randomBytes, type Cipher, type Decipher } from "node:crypto";

/** The domain tag in every ticket block ("tsd1"): a block that decrypts without it is forged. */
const TAG = 0x31647374;

/** Words per ticket in a tickets column (a `Uint32Array` of 4 × rows). */
export const TICKET_WORDS = 4;

/** A client's ticket secret: 16 random bytes. */
export const newTicketSecret = (): Uint8Array => new Uint8Array(randomBytes(16));

export class TicketKey {
  /**
   * One cipher and one decipher for the key's life: ECB without padding is stateless between
   * whole blocks, so `update()` on N blocks always returns N blocks and never needs `final()`.
   * (Creating them per call cost ~3 µs, the price of a lone task's ticket.)
   */
  private readonly enc: Cipher;
  private readonly dec: Decipher;

  constructor(secret: Uint8Array) {
    if (!(secret instanceof Uint8Array) || secret.byteLength !== 16) throw new Error("a ticket secret is 16 bytes");
    const key = Buffer.from(secret);
    this.enc = createCipheriv("aes-128-ecb", key, null).setAutoPadding(false);
    this.dec = createDecipheriv("aes-128-ecb", key, null).setAutoPadding(false);
  }

  /** Tickets for `keys` dispatched to executor `exec` in dispatch number `dispatch`: 4 words per row. */
  issue(keys: ArrayLike<number>, exec: number, dispatch: number): Uint32Array {
    const n = keys.length;
    const plain = new Uint32Array(n * TICKET_WORDS);
    for (let i = 0, o = 0; i < n; i++, o += 4) {
      plain[o] = keys[i]!;
      plain[o + 1] = exec;
      plain[o + 2] = dispatch;
      plain[o + 3] = TAG;
    }
    return aligned(this.enc.update(new Uint8Array(plain.buffer)), n);
  }

  /**
   * Checks a results message's tickets against its keys. Returns the number of rows that fail,
   * and marks each in `bad` (bad[i] = 1), or -1 when the column is missing or of the wrong size
   * (the whole message is then forged).
   */
  verify(keys: Uint32Array, tickets: unknown, bad: Uint8Array): number {
    const n = keys.length;
    if (!(tickets instanceof Uint32Array) || tickets.length !== n * TICKET_WORDS) return -1;
    const plain = aligned(this.dec.update(new Uint8Array(tickets.buffer, tickets.byteOffset, tickets.byteLength)), n);
    let failures = 0;
    for (let i = 0, o = 0; i < n; i++, o += 4) {
      if (plain[o] !== keys[i] || plain[o + 3] !== TAG) {
        bad[i] = 1;
        failures++;
      }
    }
    return failures;
  }
}

/** Cipher output may sit at any offset of a pooled Buffer: copy it into an aligned word array. */
function aligned(b: Buffer, rows: number): Uint32Array {
  const out = new Uint32Array(rows * TICKET_WORDS);
  new Uint8Array(out.buffer).set(b);
  return out;
}
