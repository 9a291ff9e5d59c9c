/**
 * The producer side of a named output: a small study whose rows any NATS client can follow
 * (examples/consumers/follow.py in Python, or anything that speaks NATS and msgpack).
 *
 *   npx tsx examples/consumers/study.ts nats://host:4222 --cluster default [--name study-42] [--n 1000]
 *   python3 examples/consumers/follow.py --server nats://host:4222 --cluster default --name study-42
 *
 * Start the follower first: core NATS delivers what is published while it is subscribed.
 */
import { Client } from "ts-dask";

const argv = process.argv.slice(2);
const flag = (name: string, dflt: string) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1]! : dflt);
const [address] = argv.filter((a, i) => !a.startsWith("--") && !argv[i - 1]?.startsWith("--"));
const name = flag("name", "study-42");
const n = Number(flag("n", "1000"));

const client = await Client.connect(address, { cluster: flag("cluster", "default") });
try {
  // One row per candidate; candidate 13 fails on purpose (its error, stack and worker are published too).
  const score = (i: number) => {
    if (i === 13) throw new RangeError(`candidate ${i} is unlucky`);
    return { candidate: i, score: Math.sqrt(i), label: `c${i}`, weights: Float64Array.of(i, i / 2) };
  };
  const futures = client.map(score, Array.from({ length: n }, (_, i) => i), { publish: name });
  await client.wait(futures);
  const failed = futures.filter((f) => f.status === "error").length;
  console.log(`published ${n} rows on output '${name}' (${failed} failed)`);
} finally {
  await client.close();
}
