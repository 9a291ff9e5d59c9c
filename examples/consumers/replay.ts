/**
 * Reads a durable named output from its JetStream stream: every row, including those published
 * before this program started; with `--consumer NAME` it resumes where the last run under that
 * name stopped (a durable consumer: rows it acknowledged are not delivered again).
 *
 * The run that writes it: `client.map(score, xs, { publish: "study-42", durable: true })` against a
 * NATS server with JetStream (`ts-dask up --jetstream`, `nats-server -js`, or
 * `Client.connect(undefined, { local: { jetstream: true } })`).
 *
 *   npx tsx examples/consumers/replay.ts nats://127.0.0.1:4222 --cluster default --name study-42
 *   npx tsx examples/consumers/replay.ts … --consumer notebook     # resumable
 *   npx tsx examples/consumers/replay.ts … --follow                # keep reading new rows
 *   npx tsx examples/consumers/replay.ts … --max-messages 10       # stop after 10 messages
 *
 * Prints one JSON line per row, as follow.py does ({"job", "index", "key", "value"} or "error"),
 * and at the end {"caught_up": rows} (when the stream has nothing more and --follow is not given).
 * The same with the `nats` CLI: `nats stream view TSDASK_default_OUT_study-42` (raw msgpack).
 */
import { AckPolicy, connect, DeliverPolicy, type Consumer } from "nats";
import { decodeMessage, subjects, type OutRows } from "ts-dask";

const args = process.argv.slice(2);
const flag = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const server = args.find((a, i) => !a.startsWith("--") && !args[i - 1]?.startsWith("--")) ?? "nats://127.0.0.1:4222";
const cluster = flag("--cluster") ?? "default";
const name = flag("--name") ?? "study-42";
const durableName = flag("--consumer");
const maxMessages = Number(flag("--max-messages") ?? Infinity);
const follow = args.includes("--follow");

const nc = await connect({ servers: server, token: flag("--token") });
const stream = subjects(cluster).outStream(name);
const js = nc.jetstream();
let consumer: Consumer;
if (durableName) {
  // A durable consumer remembers what was acknowledged: the next run starts after it.
  const jsm = await nc.jetstreamManager();
  await jsm.consumers.add(stream, { durable_name: durableName, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All });
  consumer = await js.consumers.get(stream, durableName);
} else {
  consumer = await js.consumers.get(stream); // ordered, from the first message
}

let messages = 0;
let rows = 0;
reading: while (messages < maxMessages) {
  const batch = await consumer.fetch({ max_messages: Math.min(256, maxMessages - messages), expires: 1000 });
  let got = 0;
  for await (const m of batch) {
    got++;
    const r = decodeMessage<OutRows>(m.data);
    const errors = new Map((r.errors ?? []).map((e) => [e.i, e]));
    r.index.forEach((index, i) => {
      const e = errors.get(i);
      console.log(JSON.stringify({ client: r.client, job: r.job, index, key: r.keys[i], ...(e ? { error: e } : { value: r.values[i] }) }));
    });
    rows += r.index.length;
    if (durableName) await m.ackAck(); // stored as read before the next one: a crash re-reads at most this one
    if (++messages >= maxMessages) break reading;
  }
  if (got === 0 && !follow) break;
}
console.log(JSON.stringify({ caught_up: rows, messages }));
await nc.close();
