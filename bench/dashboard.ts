/**
 * bench/dashboard: the cost of watching. bench/throughput's map of 10^6 trivial tasks on
 * `ts-dask up --nprocs 2`, with the dashboard open in headless Chromium (live updates streaming)
 * vs no page open, and vs the live updates read by a plain HTTP reader (the scheduler's serving cost
 * without a browser rendering on the same two cores); rotated within each round; medians of
 * BENCH_RUNS (≥ 7) rounds after one uncounted warm-up round. Also prints the CPU the browser used
 * per open run (Linux). Bar (issue #6): the open dashboard costs at most 5 % of throughput.
 * Needs /usr/bin/chromium (or $TSDASK_CHROMIUM).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { chromium } from "playwright-core";
import { Client } from "../index.ts";
import { collectGarbage, median, report, runs, startUp } from "./lib.ts";

// Functions given to page.evaluate/waitForFunction run in the browser (the project's lib has no DOM).
declare const document: { querySelectorAll(s: string): { length: number } };

/** CPU milliseconds used so far by Chromium's processes (Linux /proc; undefined elsewhere). */
function browserCpu(): number | undefined {
  if (!existsSync("/proc/self/stat")) return undefined;
  let ticks = 0;
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (!readFileSync(`/proc/${p}/cmdline`, "utf8").includes("chrom")) continue;
      const st = readFileSync(`/proc/${p}/stat`, "utf8");
      const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
      ticks += Number(f[11]) + Number(f[12]); // utime + stime, in USER_HZ (100 on Linux)
    } catch {
      // the process ended between listing and reading
    }
  }
  return ticks * 10;
}

/** Reads a server-sent-event stream and throws the data away. */
async function readEvents(url: string): Promise<{ close(): void }> {
  const ac = new AbortController();
  const res = await fetch(url, { signal: ac.signal });
  const reader = res.body!.getReader();
  void (async () => {
    try {
      while (!(await reader.read()).done);
    } catch {
      // aborted
    }
  })();
  return { close: () => ac.abort() };
}

const N = Number(process.env.BENCH_TASKS ?? 1_000_000);
const rounds = Math.max(7, runs());
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
  const rates = { closed: [] as number[], open: [] as number[], streamed: [] as number[] };
  const browserCpuMs: number[] = [];
  const sse = { messages: [] as number[], bytes: [] as number[] };
  const once = async (mode: "closed" | "open" | "streamed") => {
    const open = mode === "open";
    // "streamed": the live updates read by a plain HTTP reader — the scheduler's serving cost without a browser's rendering.
    const reader = mode === "streamed" ? await readEvents(`${dash}events`) : undefined;
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
    collectGarbage();
    const cpu0 = browserCpu();
    const t0 = performance.now();
    const out = await client.gather(client.map(inc, xs));
    const s = (performance.now() - t0) / 1000;
    if (open && cpu0 !== undefined) browserCpuMs.push(browserCpu()! - cpu0);
    reader?.close();
    if (out.length !== N || out[N - 1] !== N) throw new Error("wrong results");
    if (page) {
      const got = (await page.evaluate(() => (globalThis as unknown as { __sse: { n: number; bytes: number } }).__sse)) as { n: number; bytes: number };
      sse.messages.push(got.n - n0.n);
      sse.bytes.push(got.bytes - n0.bytes);
      await page.close();
    }
    rates[mode].push(N / s);
  };
  // One uncounted round of each: the first 10^6-task runs pay for JIT and heap growth.
  const modes = ["closed", "open", "streamed"] as const;
  for (const mode of modes) await once(mode);
  for (const v of [...Object.values(rates), sse.messages, sse.bytes, browserCpuMs]) v.length = 0;
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < modes.length; i++) await once(modes[(i + r) % modes.length]!);
  }
  const closed = median(rates.closed);
  const open = median(rates.open);
  report({
    bench: "dashboard",
    tasks: N,
    executors: 2,
    runs: rounds,
    tasksPerSecond: { closed: Math.round(closed), open: Math.round(open), streamed: Math.round(median(rates.streamed)) },
    openVsClosed: Number((open / closed).toFixed(3)),
    // The same comparison paired within each round (open and closed ran back to back), which
    // cancels the machine's slow drifts: the median of the rounds' open/closed ratios.
    openVsClosedPairedMedian: Number(median(rates.open.map((o, i) => o / rates.closed[i]!)).toFixed(3)),
    streamedVsClosed: Number((median(rates.streamed) / closed).toFixed(3)),
    browserCpuMsPerOpenRun: browserCpuMs.length ? median(browserCpuMs) : "n/a (no /proc)",
    allRuns: Object.fromEntries(Object.entries(rates).map(([k, v]) => [k, v.map(Math.round)])),
    liveUpdatesPerRun: { messages: median(sse.messages), bytes: Math.round(median(sse.bytes)) },
    bar: { openVsClosedAtLeast: 0.95 },
    withinBar: open / closed >= 0.95,
  });
} finally {
  await browser.close();
  await client.close();
  await up.stop();
}
