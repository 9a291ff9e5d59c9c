/** The core cluster end to end through the API, on the embedded default (Client.connect()). */
import * as assert from "uvu/assert";
import { TaskError, TsDaskError } from "../index.ts";
import { PROTOCOL_VERSION } from "../runtime/protocol.ts";
import { clusterSuite, withTimeout } from "./helpers/cluster.ts";

const t = clusterSuite("core", { nprocs: 2 });

t("map 10k items and gather them in input order", async ({ client }) => {
  const xs = Array.from({ length: 10_000 }, (_, i) => i);
  const zoo = (x: number) => x ** 2 + 2 * x + 1;
  const out = await withTimeout(client.gather(client.map(zoo, xs)), 30_000, "gather 10k");
  assert.is(out.length, xs.length);
  for (let i = 0; i < xs.length; i++) if (out[i] !== zoo(i)) assert.unreachable(`row ${i}: ${out[i]}`);
});

t("submit returns a future with the result; several iterables map in lockstep", async ({ client }) => {
  const f = client.submit((a: number, b: number) => a + b, 1, 2);
  assert.is(await withTimeout(f.result(), 10_000, "submit"), 3);
  assert.is(f.status, "finished");
  const sums = await client.gather(client.map((a: number, b: string) => `${a}${b}`, [1, 2, 3], ["a", "b", "c"]));
  assert.equal(sums, ["1a", "2b", "3c"]);
  const withConst = await client.gather(client.map((x: number, k: number) => x * k, [1, 2], { args: [10] }));
  assert.equal(withConst, [10, 20]);
});

t("map's shared args are encoded once per call, however many messages carry the rows (plain and pure)", async ({ client }) => {
  // msgpack reads an object's properties when it encodes it: a getter counts the encodes.
  let reads = 0;
  const shared = {
    get k() {
      reads++;
      return 3;
    },
  };
  const xs = Array.from({ length: 25_000 }, (_, i) => i); // several submit messages (at most 10,000 rows each)
  const times = (x: number, s: { k: number }) => x * s.k;
  const out = await withTimeout(client.gather(client.map(times, xs, { args: [shared] })), 30_000, "map with shared args");
  assert.is(out.length, xs.length);
  for (let i = 0; i < xs.length; i++) if (out[i] !== 3 * i) assert.unreachable(`row ${i}: ${out[i]}`);
  assert.is(reads, 1, "the shared argument was encoded once");
  // pure: each row's key hashes the shared arguments' bytes, not a fresh encoding per row.
  reads = 0;
  const pureOut = await withTimeout(client.gather(client.map(times, [1, 2, 2, 5], { args: [shared], pure: true })), 20_000, "pure map");
  assert.equal(pureOut, [3, 6, 6, 15]);
  assert.is(reads, 1, "the shared argument was encoded once with pure");
});

t("argument types survive the trip: typed arrays, Date, BigInt, Map, Set, nested objects", async ({ client }) => {
  const describe = (v: unknown) => {
    const tag = Object.prototype.toString.call(v);
    if (v instanceof Map) return [tag, [...v.entries()]];
    if (v instanceof Set) return [tag, [...v.values()]];
    if (ArrayBuffer.isView(v)) return [tag, Array.from(v as unknown as ArrayLike<number>)];
    if (v instanceof Date) return [tag, v.toISOString()];
    if (typeof v === "bigint") return ["bigint", v.toString()];
    return [tag, v];
  };
  const echo = (v: unknown) => v;
  const values: unknown[] = [
    42, -1.5, "text", true, null, { a: { b: [1, "x", { c: null }] } },
    new Float64Array([1.5, 2.5]), new Int32Array([-1, 2]), new Uint8Array([7, 8]), new Float32Array([0.5]),
    new Date("2020-01-02T03:04:05.006Z"), 12345678901234567890n, new Map([["k", 1]]), new Set(["a", 2]),
  ];
  const back = await withTimeout(client.gather(client.map(echo, values)), 10_000, "echo");
  for (let i = 0; i < values.length; i++) assert.equal(describe(back[i]), describe(values[i]), `value ${i}`);
  // The remote side sees real instances too.
  const kinds = await client.gather(client.map((v: unknown) => Object.prototype.toString.call(v), [new Float64Array(1), new Date(0), new Map()]));
  assert.equal(kinds, ["[object Float64Array]", "[object Date]", "[object Map]"]);
});

t("a throwing task rejects with the remote message, a stack naming the user's file, the key and the worker", async ({ client }) => {
  function failing(x: number) {
    if (x === 3) throw new RangeError(`no threes (${x})`);
    return x;
  }
  const fs = client.map(failing, [1, 2, 3, 4]);
  const err = await withTimeout(fs[2]!.result().then(() => undefined, (e) => e as TaskError), 10_000, "failing task");
  assert.instance(err, TaskError);
  assert.is(err!.code, "TaskFailed");
  assert.is(err!.remoteName, "RangeError");
  assert.match(err!.message, "no threes (3)");
  assert.match(err!.message, /local-\d/);
  assert.match(err!.worker, /^local-\d$/);
  assert.is(err!.key, fs[2]!.key);
  assert.match(err!.remoteStack, "core.test.ts");
  // The others are unaffected.
  assert.equal(await client.gather([fs[0]!, fs[1]!, fs[3]!]), [1, 2, 4]);
  assert.equal(await client.gather(fs, { errors: "skip" }), [1, 2, 4]);
});

t("a closure is rejected before anything is sent, naming what it captures", async ({ client }) => {
  const factor = 3;
  try {
    client.map((x: number) => x * factor, [1]);
    assert.unreachable("should have thrown");
  } catch (e) {
    assert.instance(e, TsDaskError);
    assert.is((e as TsDaskError).code, "ClosureCaptured");
    assert.match((e as Error).message, "'factor'");
    assert.match((e as Error).message, "importModule");
  }
});

t("a map whose items include one that cannot be serialised fails that row alone; the others run", async ({ client }) => {
  // The rows are encoded when the submit message is built: the bad one there must not stop the rest
  // (it once sent the submitter round in circles until the stack overflowed).
  const items: unknown[] = Array.from({ length: 300 }, (_, i) => i);
  items[150] = () => 3;
  const out = await withTimeout(Promise.allSettled(client.map((x: unknown) => typeof x, items).map((f) => f.result())), 30_000, "the map");
  const failed = out.flatMap((o, i) => (o.status === "rejected" ? [i] : []));
  assert.equal(failed, [150]);
  assert.is(((out[150] as PromiseRejectedResult).reason as TsDaskError).code, "NotSerializable");
  assert.ok(out.every((o, i) => i === 150 || (o.status === "fulfilled" && o.value === "number")));
});

t("an argument that cannot be serialised fails clearly, at once", async ({ client }) => {
  try {
    client.submit((f: unknown) => f, () => 1);
    assert.unreachable("should have thrown");
  } catch (e) {
    assert.is((e as TsDaskError).code, "NotSerializable");
  }
  // A future nested in another value is named as such (futures are resolved as top-level arguments only).
  const inner = client.submit((x: number) => x, 1);
  try {
    client.submit((xs: unknown[]) => xs.length, [inner]);
    assert.unreachable("should have thrown");
  } catch (e) {
    assert.is((e as TsDaskError).code, "NotSerializable");
    assert.match((e as Error).message, "args[0][0] is a Future inside another value");
  }
  try {
    await client.gather({ a: inner } as never);
    assert.unreachable("should have thrown");
  } catch (e) {
    assert.is((e as TsDaskError).code, "BadOption");
  }
});

t("shapes that would change on the way: a class instance is refused at submit, undefined warned about, an unknown map option refused", async ({ client }) => {
  class Point {
    constructor(readonly x: number) {}
    norm() {
      return Math.abs(this.x);
    }
  }
  const norm = (p: { norm(): number }) => p.norm();
  const refusals: Array<[() => unknown, RegExp]> = [
    [() => client.submit(norm, new Point(1)), /^Argument 1 of norm is an instance of class Point: it would arrive on the worker as a plain object without its methods/],
    [() => client.map(norm, [new Point(1), new Point(2)]), /^Argument 1 of norm is an instance of class Point/],
    [() => client.map((xs: Point[]) => xs.length, [[new Point(1)]]), /^Argument 1 of .* \(an array\) is an instance of class Point/],
    [() => client.map((x: number) => x, [1], { args: [new Point(3)] }), /^Argument 1 of .*\(map's args\) is an instance of class Point/],
  ];
  for (const [call, message] of refusals) {
    try {
      call();
      assert.unreachable("should have thrown");
    } catch (e) {
      assert.is((e as TsDaskError).code, "ClassInstanceArgument", String(e));
      assert.match((e as Error).message, message);
      assert.match((e as Error).message, "client.importModule");
    }
  }
  try {
    client.map((x: number) => x, [1, 2], { retires: 2 } as never);
    assert.unreachable("should have thrown");
  } catch (e) {
    assert.is((e as TsDaskError).code, "UnknownOptions");
    assert.match((e as Error).message, "does not take 'retires' (its options: 'args', 'retries'");
  }
  // Plain data, and the types the codec carries, pass (and still arrive as sent).
  const ok = client.submit((d: Date, m: Map<string, number>, xs: Float64Array, o: { a: number }) => [d.getTime(), m.get("k"), xs[1], o.a], new Date(5), new Map([["k", 7]]), Float64Array.of(1, 2), Object.assign(Object.create(null), { a: 3 }));
  assert.equal(await withTimeout(ok.result(), 20_000, "plain data"), [5, 7, 2, 3]);
  // undefined: a warning (once per function), and the task runs with null.
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on("warning", onWarning);
  try {
    const withDefault = (x: number | null = 10) => x;
    const f = client.submit(withDefault, undefined);
    client.submit(withDefault, undefined);
    assert.is(await withTimeout(f.result(), 20_000, "undefined argument"), null, "undefined arrives as null: the default does not apply");
    await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
    const ours = warnings.filter((w) => (w as TsDaskError).code === "UndefinedArgument");
    assert.is(ours.length, 1, "warned once for the function");
    assert.match(ours[0]!.message, "Argument 1 of withDefault is undefined: it arrives on the worker as null");
  } finally {
    process.off("warning", onWarning);
  }
});

t("a result that cannot be serialised fails that task only", async ({ client }) => {
  const fs = client.map((x: number) => (x === 1 ? { f: () => x } : x), [0, 1, 2]);
  const err = await fs[1]!.exception();
  assert.is(err?.code, "ResultNotSerializable");
  assert.equal(await client.gather([fs[0]!, fs[2]!]), [0, 2]);
});

t("cancel one item of a large map: only it is cancelled, the rest complete", async ({ client }) => {
  const fs = client.map(async (x: number) => x, Array.from({ length: 50_000 }, (_, i) => i));
  const victim = fs[40_000]!;
  victim.cancel();
  assert.is(victim.status, "cancelled");
  await withTimeout(client.wait(fs), 30_000, "wait 50k");
  const err = await victim.exception();
  assert.is(err?.code, "TaskCancelled");
  const ok = await client.gather(fs, { errors: "skip" });
  assert.is(ok.length, 49_999);
  assert.is(fs.filter((f) => f.status === "cancelled").length, 1);
});

t("asCompleted yields every future once; wait FIRST_COMPLETED returns early", async ({ client }) => {
  const sleepy = (ms: number) => new Promise<number>((r) => setTimeout(() => r(ms), ms));
  const fs = client.map(sleepy, [300, 10, 200]);
  const first = await withTimeout(client.wait(fs, { returnWhen: "FIRST_COMPLETED" }), 10_000, "wait first");
  assert.ok(first.done.length >= 1 && first.notDone.length >= 1);
  const seen: number[] = [];
  for await (const f of client.asCompleted(fs)) seen.push(await f.result());
  assert.equal([...seen].sort((a, b) => a - b), [10, 200, 300]);
});

t("async tasks and console output of tasks", async ({ client }) => {
  const f = client.submit(async (x: number) => {
    await new Promise((r) => setTimeout(r, 5));
    return x * 2;
  }, 21);
  assert.is(await f.result(), 42);
});

t("run executes a function once on every executor, outside the queue", async ({ client }) => {
  const pids = await client.run(() => process.pid);
  assert.equal(Object.keys(pids).sort(), ["local-0", "local-1"]);
  assert.is(new Set(Object.values(pids)).size, 2, "two different processes");
  const sum = await client.run((a: number, b: number) => a + b, 2, 3);
  assert.equal(sum, { "local-0": 5, "local-1": 5 });
  const only = await client.runOn(["local-1"], async () => "hi");
  assert.equal(only, { "local-1": "hi" });
  try {
    await client.runOn(["Nope-9"], () => 1);
    assert.unreachable("an unknown executor name is an error, not {}");
  } catch (e) {
    assert.is((e as TsDaskError).code, "BadOption");
    assert.match((e as Error).message, "Nope-9");
  }
  try {
    await client.run(() => {
      throw new TypeError("nope");
    });
    assert.unreachable();
  } catch (e) {
    assert.is((e as TaskError).code, "TaskFailed");
    assert.match((e as Error).message, /local-\d: TypeError: nope/);
  }
});

t("futures as arguments: a task runs after its inputs and gets their values; a failed input fails it with the cause", async ({ client }) => {
  const load = (n: number) => Array.from({ length: n }, (_, i) => i);
  const total = (xs: number[], k: number) => xs.reduce((a, b) => a + b, 0) * k;
  const a = client.submit(load, 5);
  const b = client.submit(total, a, 2);
  assert.is(await withTimeout(b.result(), 10_000, "dependent"), 20);
  const bad = client.submit((n: number) => {
    throw new Error(`no data for ${n}`);
  }, 1);
  const dependent = client.submit(total, bad, 2);
  const err = await dependent.exception();
  assert.is(err?.code, "DependencyFailed");
  assert.match(err!.message, "no data for 1");
  assert.is((err!.cause as TaskError).key, bad.key);
});

t("info lists the worker and its executors with versions", async ({ client }) => {
  const info = await client.info();
  assert.is(info.workers.length, 1);
  assert.is(info.workers[0]!.executors.length, 2);
  assert.equal(info.workers[0]!.executors.map((e) => e.name).sort(), ["local-0", "local-1"]);
  assert.is(info.workers[0]!.hello.proto, PROTOCOL_VERSION);
  assert.ok(info.tasks.bytesPerTask > 0);
});

t.run();
