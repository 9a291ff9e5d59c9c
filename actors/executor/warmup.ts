/**
 * An executor's warm-up (issue 13 item 5: the first map of a fresh cluster). A cold executor runs
 * its first batches in V8's interpreter, optimises the per-task code with partial type feedback,
 * and throws that code away and compiles it again when a new shape shows up (`--trace-deopt`:
 * "Insufficient type feedback"; msgpack's decoder was compiled 3–4 times per executor during a
 * first 100k-task map). So while it would otherwise wait — a new executor between its
 * registration and its first batch; a standby kept for a replacement, after 500 ms of waiting (the
 * first executors' standbys are activated sooner, and warming then took CPU from the start they
 * are part of: embedded first result +37 ms in bench/startup) — it runs a few small scratch batches
 * through its own per-task path: the batch encoded, decoded and checked, its arguments packed, a
 * {@link Runner} running the rows into an {@link Outbox} that encodes results and a completion.
 * The rows hold values of every msgpack width a real map meets, so the first real batches find
 * that code with complete feedback. The runner and outbox are the warm-up's own and send into a
 * sink that encodes and drops: no message leaves, and the executor's runner, outbox, counters
 * and subscriptions are not touched. Measured (bench/embedded, 8 alternated rounds, load 5–8): the
 * executors' CPU in a cold first map 0.45 → 0.36 s, the map 151k → 166k tasks/s, for ~0.02 CPU-s
 * of warm-up, connect unchanged.
 */
import { decode, encode } from "../../runtime/codec.ts";
import { isTaskBatch } from "../../runtime/guards.ts";
import { subjects, type TaskBatch } from "../../runtime/protocol.ts";
import { TICKET_WORDS } from "../../runtime/tickets.ts";
import type { Transport } from "../../runtime/transport.ts";
import { Outbox } from "./outbox.ts";
import { packArgs, Runner } from "./runner.ts";
import { openGroup } from "./run-group.ts";

/** Rounds (one scratch batch each) an executor runs at most, and the rows of each batch. */
export const WARMUP_ROUNDS = 10;
const ROWS = 20;
/** The most a warm-up may take in all, whatever happens (a slow machine): it is optional work. */
const BUDGET_MS = 100;

/** Row values of every msgpack width a real map meets: fixint, uint8/16/32/64, negative, float, strings. */
const VALUES: readonly unknown[] = [0, 1, 200, 60_000, 100_000, 5_000_000_000, -3, -200, 0.5, 1e-9, "x", "a string of some forty characters, str8"];

/** The scratch batches' scheduler, token and client (never a real one's: ids are 12 hex digits). */
export const WARMUP_ID = "ts-dask-warm-up";
const HASH = "0".repeat(64);

/** A scratch batch of {@link ROWS} rows, shaped as the scheduler writes them (the first with a function definition). */
function scratchBatch(round: number): TaskBatch {
  const slots = new Uint32Array(ROWS);
  const rows: unknown[][] = [];
  for (let i = 0; i < ROWS; i++) {
    slots[i] = round * ROWS + i;
    rows.push([VALUES[(round + i) % VALUES.length]]);
  }
  const tickets = new Uint32Array(ROWS * TICKET_WORDS).fill(round);
  const fns = round === 0 ? { fns: [{ kind: "src" as const, hash: HASH, name: "warmup", source: "(x) => x", file: "", line: 0 }] } : {};
  return { sched: WARMUP_ID, auth: WARMUP_ID, groups: [{ client: WARMUP_ID, fn: HASH, slots, keys: slots, rows: encode(rows), tickets }], ...fns, seq: round + 1 };
}

/** Where the warm-up outbox "sends": encodes as Transport.send does, then drops. */
const sink = {
  maxPayload: 1 << 20,
  send(_subject: string, value: unknown) {
    encode(value);
  },
  publish() {},
} as unknown as Transport;

const nextTurn = () => new Promise<void>((r) => setImmediate(r));

/**
 * A warm-up of this process's per-task path, resumable: {@link run} runs rounds, one per macrotask
 * (so an `activate`, a registration reply or a real batch is handled in between), until `stop()`
 * says real work has come, {@link WARMUP_ROUNDS} are done in all or the budget is spent.
 */
export class ExecutorWarmup {
  private round = 0;
  private spentMs = 0;
  private running = false;
  private readonly out = new Outbox(sink, subjects("warmup"), WARMUP_ID, WARMUP_ID);
  private readonly runner = new Runner(1, this.out, WARMUP_ID);
  private readonly identity = (x: unknown) => x;

  /** @param budgetMs the most the rounds may take in all (wall time inside them). */
  constructor(private readonly budgetMs = BUDGET_MS) {}

  /** Rounds run so far. */
  get rounds(): number {
    return this.round;
  }

  /** Runs rounds until `stop()` is true or the warm-up is complete; resolves with the rounds run in all. Never throws. */
  async run(stop: () => boolean): Promise<number> {
    if (this.running) return this.round;
    this.running = true;
    try {
      while (this.round < WARMUP_ROUNDS && this.spentMs < this.budgetMs && !stop()) {
        const t0 = performance.now();
        const m = decode(encode(scratchBatch(this.round)));
        if (isTaskBatch(m)) {
          const groups = m.groups.map(openGroup);
          packArgs(groups);
          for (const g of groups) this.runner.enqueue(g, this.identity);
          this.runner.kick();
        }
        this.out.flush();
        this.round++;
        this.spentMs += performance.now() - t0;
        await nextTurn();
      }
    } catch {
      // A warm-up that fails changes nothing: the real path is what counts.
      this.round = WARMUP_ROUNDS;
    } finally {
      this.running = false;
    }
    return this.round;
  }
}
