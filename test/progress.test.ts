/** `progress(futures)`: a live bar on a TTY, plain lines otherwise, nothing when silent. */
import { Writable } from "node:stream";
import * as assert from "uvu/assert";
import { Client, progress } from "../index.ts";
import { clusterSuite, withTimeout } from "./helpers/cluster.ts";

/** A writable that keeps what it was given; `isTTY` as asked (cli-progress reads it and `columns`). */
function sink(tty: boolean): Writable & { text: () => string } {
  let out = "";
  const w = new Writable({
    write(chunk, _enc, cb) {
      out += chunk.toString();
      cb();
    },
  }) as Writable & { text: () => string; isTTY?: boolean; columns?: number };
  w.text = () => out;
  if (tty) (w.isTTY = true), (w.columns = 160);
  return w;
}

const t = clusterSuite("progress", { nprocs: 1 });

const spin = (x: number) => {
  const end = Date.now() + 1;
  while (Date.now() < end);
  if (x % 400 === 7) throw new Error(`odd ${x}`);
  return x;
};

t("plain lines when the stream is not a TTY, with the final count, errors and duration", async ({ client }) => {
  const out = sink(false);
  const futures = client.map(spin, Array.from({ length: 1500 }, (_, i) => i));
  const s = await withTimeout(progress(futures, { stream: out, intervalMs: 200 }), 60_000, "progress");
  assert.equal({ total: s.total, done: s.done, errors: s.errors }, { total: 1500, done: 1500, errors: 4 });
  const lines = out.text().trim().split("\n");
  assert.ok(lines.length >= 2, `a first line and a last one at least: ${out.text()}`);
  assert.match(lines[0]!, /^spin: \d[\d,]*\/1,500 \(\d+%\) · \d+ errors · /);
  assert.match(lines.at(-1)!, /^spin: 1,500\/1,500 \(100%\) · 4 errors · in \d/);
  assert.not.match(out.text(), /\u001b\[/, "no terminal escapes in plain lines");
  assert.ok(futures.every((f) => f.done()));
});

t("a live bar on a TTY (cli-progress) with rate and ETA", async ({ client }) => {
  const out = sink(true);
  const futures = client.map(spin, Array.from({ length: 800 }, (_, i) => i));
  await withTimeout(progress(futures, { stream: out, label: "crunching" }), 60_000, "progress");
  const text = out.text();
  assert.match(text, /\u001b\[/, "the bar redraws in place");
  assert.match(text, /crunching \[[█░]+\] 100% 800\/800 · 2 errors · \d[\d.k]*\/s · ETA/);
});

t("the embedded cluster has no dashboard unless asked; asked, it serves /health", async ({ client }) => {
  assert.is(client.localCluster?.dashboard, undefined);
  const other = await withTimeout(Client.connect(undefined, { local: { nprocs: 1, dashboard: "127.0.0.1:0" } }), 60_000, "embedded cluster with a dashboard");
  try {
    const url = other.localCluster!.dashboard!.url;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const r = await fetch(new URL("health", url));
    assert.is(r.status, 200);
    assert.is(((await r.json()) as { executors: number }).executors, 1);
  } finally {
    await other.close();
  }
});

t("silent: nothing written; a subset of a job is counted on its own", async ({ client }) => {
  const out = sink(false);
  const futures = client.map((x: number) => x + 1, Array.from({ length: 300 }, (_, i) => i));
  const s = await withTimeout(progress(futures.slice(0, 10), { silent: true, stream: out }), 30_000, "progress");
  assert.is(out.text(), "");
  assert.is(s.total, 10);
  assert.is(s.done, 10);
  await client.gather(futures);
});

t.run();
