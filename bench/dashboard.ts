/**
 * bench/dashboard: the cost of watching. bench/throughput's map of 10^6 trivial tasks on
 * `ts-dask up --nprocs 2`, with the dashboard open in headless Chromium (live updates streaming)
 * vs no page open, alternated within each round; medians of BENCH_RUNS (≥ 5) rounds.
 * Bar (issue #6): the open dashboard costs at most 5 % of throughput.
 * Needs /usr/bin/chromium (or $TSDASK_CHROMIUM).
 */
import { chromium } from "playwright-core";
import { Client } from "../index.ts";
import { median, report, runs, startUp } from "./lib.ts";

// Functions given to page.evaluate/waitForFunction run in the browser (the project's lib has no DOM).
declare const document: { querySelectorAll(s: string): { length: number } };

const N = Number(process.env.BENCH_TASKS ?? 1_000_000);
const rounds = Math.max(5, runs());
const up = await startUp(["--nprocs", "2", "--dashboard-address", "127.0.0.1:0"]);
const m = /dashboard: (http:\/\/\S+)/.exec(up.output());
if (!m) throw new Error(`ts-dask up printed no dashboard URL:\n${up.output()}`);
const dash = `http://127.0.0.1:${new URL(m[1]!).port}/`;
const client = await Client.connect(up.url, { cluster: up.cluster });
const browser = await chromium.launch({
  executablePath: process.env.TSDASK_CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});
try {
  const inc = (x: number) => x + 1;
  await client.gather(client.map(inc, [1, 2, 3])); // ship the function once, warm up
  const xs = Array.from({ length: N }, (_, i) => i);
  const rates = { closed: [] as number[], open: [] as number[] };
  const sse = { messages: [] as number[], bytes: [] as number[] };
  const once = async (open: boolean) => {
    const page = open ? await browser.newPage({ viewport: { width: 1440, height: 900 } }) : undefined;
    if (page) {
      // Count what the page receives: messages and bytes of the live updates.
      await page.addInitScript(() => {
        const w = globalThis as unknown as { __sse: { n: number; bytes: number }; EventSource: typeof EventSource };
        w.__sse = { n: 0, bytes: 0 };
        const ES = w.EventSource;
        w.EventSource = class extends ES {
          constructor(url: string | URL, init?: EventSourceInit) {
            super(url, init);
            this.addEventListener("message", (e) => ((w.__sse.n += 1), (w.__sse.bytes += (e as unknown as { data: string }).data.length)));
          }
        } as typeof EventSource;
      });
      await page.goto(dash);
      await page.waitForFunction(() => document.querySelectorAll("#workers tbody tr").length > 0, null, { timeout: 30_000 });
      // Time the steady state of an open page (live updates arriving), not its first load.
      await page.waitForFunction(() => (globalThis as unknown as { __sse: { n: number } }).__sse.n >= 3, null, { timeout: 30_000 });
    }
    const n0 = page ? ((await page.evaluate(() => ({ ...(globalThis as unknown as { __sse: { n: number; bytes: number } }).__sse }))) as { n: number; bytes: number }) : { n: 0, bytes: 0 };
    const t0 = performance.now();
    const out = await client.gather(client.map(inc, xs));
    const s = (performance.now() - t0) / 1000;
    if (out.length !== N || out[N - 1] !== N) throw new Error("wrong results");
    if (page) {
      const got = (await page.evaluate(() => (globalThis as unknown as { __sse: { n: number; bytes: number } }).__sse)) as { n: number; bytes: number };
      sse.messages.push(got.n - n0.n);
      sse.bytes.push(got.bytes - n0.bytes);
      await page.close();
    }
    (open ? rates.open : rates.closed).push(N / s);
  };
  for (let r = 0; r < rounds; r++) {
    for (const open of r % 2 ? [true, false] : [false, true]) await once(open);
  }
  const closed = median(rates.closed);
  const open = median(rates.open);
  report({
    bench: "dashboard",
    tasks: N,
    executors: 2,
    runs: rounds,
    tasksPerSecond: { closed: Math.round(closed), open: Math.round(open) },
    openVsClosed: Number((open / closed).toFixed(3)),
    allRuns: { closed: rates.closed.map(Math.round), open: rates.open.map(Math.round) },
    liveUpdatesPerRun: { messages: median(sse.messages), bytes: Math.round(median(sse.bytes)) },
    bar: { openVsClosedAtLeast: 0.95 },
    withinBar: open / closed >= 0.95,
  });
} finally {
  await browser.close();
  await client.close();
  await up.stop();
}
