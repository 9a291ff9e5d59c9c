/** The supervisor ↔ executor channels (runtime/ipc.ts): config in the environment, IPC message guards, the marker codec and its reader. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { MarkerReader } from "../../actors/supervisor/marker-reader.ts";
import {
  adoptExecutorConfig,
  encodeMarker,
  executorEnv,
  isFromExecutor,
  isStandby,
  isToExecutor,
  MARKER_BYTES,
  MARKER_END,
  MARKER_START,
  readExecutorConfig,
  type ExecutorProcessConfig,
} from "../../runtime/ipc.ts";

const cfg: ExecutorProcessConfig = { servers: "nats://h:1", cluster: "c", id: "x1", name: "w-0", worker: "inst", workerName: "w", index: 0, nthreads: 2, localDirectory: "/tmp/w" };

test("the config written for a process is the config it reads; a standby becomes its executor", () => {
  const env = { ...executorEnv({ localDirectory: "/tmp/w" }) };
  assert.ok(isStandby(env));
  assert.equal(readExecutorConfig(env), { localDirectory: "/tmp/w" });
  adoptExecutorConfig(cfg, env);
  assert.not.ok(isStandby(env));
  assert.equal(readExecutorConfig(env), cfg);
  const direct = executorEnv({ localDirectory: "/tmp/w" }, cfg);
  assert.not.ok(isStandby(direct));
  assert.equal(readExecutorConfig(direct), cfg);
  assert.is(readExecutorConfig({}), undefined);
  assert.is(readExecutorConfig({ TSDASK_EXECUTOR: "{not json" }), undefined);
});

test("IPC messages are checked by kind and direction", () => {
  assert.ok(isToExecutor({ type: "retire" }));
  assert.ok(isToExecutor({ type: "activate", config: cfg }));
  assert.not.ok(isToExecutor({ type: "activate" }), "an activate without its config");
  assert.not.ok(isToExecutor({ type: "drained" }), "a message of the other direction");
  assert.not.ok(isToExecutor(null));
  assert.ok(isFromExecutor({ type: "mem", rss: 1 }));
  assert.not.ok(isFromExecutor({ type: "stop" }));
  assert.not.ok(isFromExecutor("ready"));
});

test("marker records read back across arbitrary chunk boundaries", () => {
  const buf = Buffer.alloc(MARKER_BYTES * 3);
  encodeMarker(buf.subarray(0), MARKER_START, 7, 1500);
  encodeMarker(buf.subarray(MARKER_BYTES), MARKER_START, 0xfffffffe, 0);
  encodeMarker(buf.subarray(2 * MARKER_BYTES), MARKER_END, 0xfffffffe, 0);
  const r = new MarkerReader();
  let timed = 0;
  r.onTimedStart = () => timed++;
  const cuts = [0, 1, 5, 9, 13, 26, 27];
  for (let i = 1; i < cuts.length; i++) r.feed(buf.subarray(cuts[i - 1], cuts[i]), 1000);
  assert.equal([...r.running.keys()], [7]);
  assert.equal(r.running.get(7), { since: 1000, timeoutMs: 1500 });
  assert.is(timed, 1);
  assert.equal(r.overdue(2600, 50), [7]);
  assert.equal(r.overdue(2500, 50), []);
});

test.run();
