/** Reconciliation (actors/scheduler/reconcile.ts) over a real task table: only slots assigned before the question are judged. */
import { test } from "uvu";
import { rowBytes } from "../helpers/rows.ts";
import * as assert from "uvu/assert";
import { Reconciler, RECONCILE_EVERY } from "../../actors/scheduler/reconcile.ts";
import type { ExecutorRec } from "../../actors/scheduler/executor-rec.ts";
import type { ExecutorTable } from "../../actors/scheduler/executors.ts";
import { TaskTable } from "../../actors/scheduler/tasks.ts";

function setup() {
  const tasks = new TaskTable();
  const slots = tasks.add(0, "fn", Uint32Array.from({ length: 8 }, (_, i) => 100 + i), ...rowBytes([[0, 1, 2, 3, 4, 5, 6, 7]], undefined));
  const recs = [0, 1].map((index) => ({ index, name: `e${index}`, assigned: 0 }) as unknown as ExecutorRec);
  const assign = (s: number, r: ExecutorRec) => {
    tasks.pop();
    tasks.assign(s, r.index);
    r.assigned++;
  };
  const asked: [ExecutorRec, number][] = [];
  const requeued: [string, number[]][] = [];
  const rc = new Reconciler({
    tasks,
    executors: { accepting: () => recs } as unknown as ExecutorTable,
    ask: (rec, nonce) => asked.push([rec, nonce]),
    requeue: (rec, lost) => {
      rec.assigned -= lost.length;
      tasks.requeueFront(lost);
      requeued.push([rec.name, lost]);
    },
  });
  return { tasks, slots, recs, assign, asked, requeued, rc };
}

test("a slot assigned before the question and not held is re-queued; later ones and finished ones are not", () => {
  const { tasks, slots, recs, assign, asked, requeued, rc } = setup();
  for (let i = 0; i < 3; i++) assign(slots[i]!, recs[0]!);
  for (let i = 3; i < 6; i++) assign(slots[i]!, recs[1]!);
  for (let i = 0; i < RECONCILE_EVERY - 1; i++) rc.tick();
  assert.is(asked.length, 0, "not before the period");
  rc.tick();
  assert.is(asked.length, 2);
  assign(slots[6]!, recs[0]!); // dispatched after the question: the answer cannot know it
  tasks.finish(slots[3]!, 1); // its completion arrived before the answer
  recs[1]!.assigned--;
  const [[r0, n0], [r1, n1]] = asked as [[ExecutorRec, number], [ExecutorRec, number]];
  rc.answer(r0, n0 + 100, new Uint32Array(0));
  assert.equal(requeued, [], "an answer to another question is ignored");
  rc.answer(r0, n0, Uint32Array.of(slots[0]!, slots[2]!));
  rc.answer(r1, n1, Uint32Array.of(slots[4]!));
  assert.equal(requeued, [["e0", [slots[1]!]], ["e1", [slots[5]!]]]);
  assert.is(recs[0]!.assigned, 3);
  assert.is(tasks.queued, 3, "two re-queued plus the one never assigned");
  rc.answer(r0, n0, new Uint32Array(0));
  assert.is(requeued.length, 2, "one answer per question");
});

test("a slot that left the executor after the question and came back to it is not judged (a steal's tasks handed out again)", () => {
  // The LAN story's rare duplicate: a steal's answer put a slot back in the queue while a question
  // was out; the pump gave it to the same executor again in a batch sent after the question; the
  // answer could not hold it, and the slot was re-queued while that executor ran it: it ran twice.
  const { tasks, slots, recs, assign, asked, requeued, rc } = setup();
  for (let i = 0; i < 3; i++) assign(slots[i]!, recs[0]!);
  for (let i = 0; i < RECONCILE_EVERY; i++) rc.tick();
  const [[r0, n0]] = asked as [[ExecutorRec, number]];
  tasks.requeueFront([slots[2]!]); // stolen back (the executor gave it up: its answer will not hold it)
  recs[0]!.assigned--;
  assign(slots[2]!, recs[0]!); // and handed to the same executor again, after the question
  rc.answer(r0, n0, Uint32Array.of(slots[0]!, slots[1]!));
  assert.equal(requeued, [], "assigned anew after the question: not lost");
  assert.is(tasks.state[slots[2]!], tasks.state[slots[0]!], "still assigned");
});

test("a doubt asks at the next beat, and only executors with assigned work", () => {
  const { slots, recs, assign, asked, rc } = setup();
  assign(slots[0]!, recs[1]!);
  rc.doubt(recs[1]!);
  rc.doubt(recs[0]!);
  rc.tick();
  assert.equal(asked.map(([r]) => r.name), ["e1"]);
});

test.run();
