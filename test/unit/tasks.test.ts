import { test } from "uvu";
import { rowBytes } from "../helpers/rows.ts";
import * as assert from "uvu/assert";
import { defaultPlacement, DurationEstimates, roomFor, windowFor } from "../../actors/scheduler/placement.ts";
import { ASSIGNED, CANCELLED, FREE, QUEUED, TaskTable } from "../../actors/scheduler/tasks.ts";
import { parseMemoryLimit } from "../../runtime/memory.ts";

const keys = (n: number, base = 0) => Uint32Array.from({ length: n }, (_, i) => base + i);

test("rows are queued FIFO, assigned, finished once, and their chunk is dropped at the end", () => {
  const t = new TaskTable();
  const slots = t.add(0, "f", keys(3), ...rowBytes([[10, 20, 30]], undefined));
  assert.is(t.queued, 3);
  const a = t.pop();
  assert.is(a, slots[0]);
  assert.equal(t.argsOf(a), [10]);
  t.assign(a, 4);
  assert.is(t.state[a], ASSIGNED);
  assert.ok(t.finish(a, 4));
  assert.not.ok(t.finish(a, 4), "a duplicate completion is refused");
  for (let s = t.pop(); s >= 0; s = t.pop()) {
    t.assign(s, 1);
    t.finish(s, 1);
  }
  assert.is(t.chunks.size, 0);
  assert.is(t.done, 3);
});

test("clients take turns batch by batch; a higher priority goes first; a re-queued task goes back to its lane", () => {
  const t = new TaskTable();
  const a = t.add(0, "f", keys(6), ...rowBytes([[1, 2, 3, 4, 5, 6]], undefined));
  const b = t.add(1, "g", keys(2), ...rowBytes([[7, 8]], undefined));
  const take = (n: number) => {
    t.rotate();
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const s = t.pop();
      if (s < 0) break;
      t.assign(s, 0);
      out.push(s);
    }
    return out;
  };
  const first = take(2);
  const second = take(2);
  // One batch from each client, whichever goes first.
  assert.equal(new Set([...first, ...second]), new Set([a[0], a[1], b[0], b[1]]));
  const hi = t.add(0, "h", keys(1, 100), ...rowBytes([[9]], undefined), 0, 5);
  assert.equal(take(1), [hi[0]], "priority 5 before priority 0");
  // A's re-queued task goes back to the front of A's lane; A's lane is the only one left.
  t.requeueFront([a[0]!]);
  assert.equal(take(3), [a[0], a[2], a[3]]);
  take(10);
  assert.is(t.laneCount, 0, "empty lanes leave");
  assert.is(t.queued, 0);
});

test("a completion from another executor than the assignee is refused", () => {
  const t = new TaskTable();
  const [s] = t.add(0, "f", keys(1), ...rowBytes([[1]], undefined));
  t.pop();
  t.assign(s!, 1);
  assert.not.ok(t.finish(s!, 2));
  assert.ok(t.finish(s!, 1));
});

test("cancel: queued rows are skipped and freed; a slot reused by another key is not touched", () => {
  const t = new TaskTable();
  const slots = t.add(3, "f", keys(3, 100), ...rowBytes([[1, 2, 3]], ["c"]));
  assert.is(t.cancel(slots[1]!, 3, 101), QUEUED);
  assert.is(t.state[slots[1]!], CANCELLED);
  assert.is(t.cancel(slots[0]!, 3, 999), FREE, "wrong key: not ours");
  assert.is(t.cancel(slots[0]!, 4, 100), FREE, "wrong client: not ours");
  assert.is(t.pop(), slots[0]);
  assert.is(t.pop(), slots[2], "the cancelled row is skipped");
  assert.equal(t.argsOf(slots[2]!), [3, "c"]);
  assert.is(t.pop(), -1);
});

test("re-queued tasks of a dead executor go to the front", () => {
  const t = new TaskTable();
  const slots = t.add(0, "f", keys(4), ...rowBytes([[1, 2, 3, 4]], undefined));
  const a = t.pop();
  const b = t.pop();
  t.assign(a, 7);
  t.assign(b, 7);
  assert.equal(t.assignedTo(7), [a, b]);
  t.requeueFront(t.assignedTo(7));
  assert.is(t.assigned, 0);
  assert.is(t.queued, 4);
  assert.equal([t.pop(), t.pop(), t.pop(), t.pop()], [slots[0], slots[1], slots[2], slots[3]]);
});

test("the table grows past its initial size and reuses freed slots", () => {
  const t = new TaskTable();
  const n = 5000;
  t.add(0, "f", keys(n), ...rowBytes([Array.from({ length: n }, (_, i) => i)], undefined));
  assert.ok(t.capacity >= n);
  for (let i = 0; i < n; i++) {
    const s = t.pop();
    t.assign(s, 0);
    t.finish(s, 0);
  }
  const cap = t.capacity;
  t.add(0, "f", keys(n), ...rowBytes([Array.from({ length: n }, (_, i) => i)], undefined));
  assert.is(t.capacity, cap, "freed slots were reused");
});

test("find: a client's task by key, without a scan, never a finished, cancelled or reused slot nor another client's", () => {
  const t = new TaskTable();
  const a = t.add(0, "f", keys(3000, 500), ...rowBytes([Array.from({ length: 3000 }, (_, i) => i)], undefined));
  const b = t.add(1, "f", keys(10, 500), ...rowBytes([Array.from({ length: 10 }, (_, i) => i)], undefined));
  // A partial re-submission: keys not consecutive, overlapping the first chunk's range.
  const sparse = Uint32Array.of(7, 9000, 3, 70_000);
  const c = t.add(0, "f", sparse, ...rowBytes([[1, 2, 3, 4]], undefined));
  assert.is(t.find(0, 500), a[0]);
  assert.is(t.find(0, 3499), a[2999]);
  assert.is(t.find(0, 3500), -1);
  assert.is(t.find(1, 505), b[5]);
  assert.is(t.find(1, 3000), -1, "another client's key is not this one's");
  sparse.forEach((k, i) => assert.is(t.find(0, k), c[i], `sparse key ${k}`));
  assert.is(t.find(0, 8), -1);
  // Assigned still counts as held; finished does not, even once the slot is reused.
  const first = t.pop();
  t.assign(first, 0);
  assert.is(t.find(0, t.key[first]!), first);
  const key = t.key[first]!;
  t.finish(first, 0);
  assert.is(t.find(0, key), -1, "finished");
  const [reused] = t.add(0, "g", Uint32Array.of(99_999), ...rowBytes([[0]], undefined));
  assert.is(reused, first, "the freed slot was reused");
  assert.is(t.find(0, key), -1, "a reused slot holds another key");
  assert.is(t.find(0, 99_999), reused);
  assert.is(t.cancel(a[1]!, 0, 501), QUEUED);
  assert.is(t.find(0, 501), -1, "cancelled");
});

test("dropClient: its queued tasks and lanes leave at once, its assigned ones are returned; others keep theirs", () => {
  const t = new TaskTable();
  const a = t.add(0, "f", keys(100), ...rowBytes([Array.from({ length: 100 }, (_, i) => i)], undefined));
  t.add(0, "f", keys(5, 1000), ...rowBytes([[1, 2, 3, 4, 5]], undefined), 0, 3); // another lane (priority 3)
  t.add(0, "f", keys(2, 2000), ...rowBytes([[1, 2]], undefined), 0, 0, { GPU: 1 }); // a need lane
  const b = t.add(1, "f", keys(50), ...rowBytes([Array.from({ length: 50 }, (_, i) => i)], undefined));
  // Priority 3 goes first: those are A's; assign two of them.
  const x = t.pop();
  const y = t.pop();
  t.assign(x, 0);
  t.assign(y, 1);
  t.cancel(a[7]!, 0, 7);
  const { queued, assigned } = t.dropClient(0);
  assert.is(queued, 99 + 3 + 2, "A's queued tasks (the one cancelled before not counted twice)");
  assert.equal(assigned.sort(), [x, y].sort());
  assert.is(t.queued, 50);
  assert.is(t.needing, 0);
  assert.is(t.laneCount, 1, "only B's lane is left");
  assert.is(t.live[0], 2, "A's two assigned tasks name its index until their completions");
  t.finish(x, 0);
  t.finish(y, 1);
  assert.is(t.live[0], 0);
  assert.is(t.indexedClients, 1);
  const got: number[] = [];
  for (let s = t.pop(); s >= 0; s = t.pop()) got.push(s);
  assert.equal(got, Array.from(b));
});

test("window: slow functions get 2 per thread, fast ones up to the cap", () => {
  assert.is(windowFor(1, 5000, defaultPlacement), 2);
  assert.is(windowFor(4, 1000, defaultPlacement), 8);
  assert.is(windowFor(1, 0.001, defaultPlacement), defaultPlacement.maxWindow);
  assert.is(windowFor(2, 1, defaultPlacement), 2 * defaultPlacement.targetMs);
  const e = new DurationEstimates();
  e.observe("f", 100, 100);
  assert.is(e.get("f"), 1);
  e.observe("f", 1000, 10);
  assert.ok(e.get("f")! < 0.2, "a large batch of fast tasks moves the estimate most of the way");
  e.observe("g", 1000, 1);
  e.observe("g", 3, 300);
  assert.ok(e.get("g")! > 50, "a few long tasks (much time) move it too: the same function got slower");
});

test("refill: nothing while more than half of the window is held, then up to the window", () => {
  assert.is(roomFor(100, 100), 0);
  assert.is(roomFor(100, 51), 0, "one completion does not trigger a dispatch of one task");
  assert.is(roomFor(100, 50), 50);
  assert.is(roomFor(100, 0), 100);
  assert.is(roomFor(2, 1), 1, "slow functions: one running, one prefetched");
});

test("memory limits parse as dask-worker's do", () => {
  const GB = 16e9;
  assert.is(parseMemoryLimit("1GB", 1, GB), 1e9);
  assert.is(parseMemoryLimit("512MiB", 1, GB), 512 * 2 ** 20);
  assert.is(parseMemoryLimit("0.5", 1, GB), 8e9);
  assert.is(parseMemoryLimit("auto", 4, GB), 4e9);
  assert.is(parseMemoryLimit("0", 4, GB), 0);
  assert.is(parseMemoryLimit(0, 4, GB), 0);
  assert.is(parseMemoryLimit("2e9".replace("e9", "000000000"), 1, GB), 2e9);
  try {
    parseMemoryLimit("lots", 1, GB);
    assert.unreachable();
  } catch (e) {
    assert.is((e as { code: string }).code, "BadMemoryLimit");
  }
});

test.run();
