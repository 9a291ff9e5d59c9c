// ts-dask dashboard: one EventSource (/events) of aggregated snapshots (a full one on connect,
// then deltas); the page never polls and never gets a message per task. Plain browser JS.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  columns: [],
  stream: new Map(), // id → entry
  streamMs: 60_000,
  offset: 0, // scheduler clock − browser clock
  hist: { t: [], rate: [], failed: [], cpu: [], mem: [], limit: [] },
  events: [],
  fnColors: new Map(),
  fnNames: new Map(),
  lastTotals: null,
};

// --- formatting ---------------------------------------------------------------------------------
const nf = new Intl.NumberFormat("en-US");
const num = (n) => nf.format(Math.round(n));
function short(n) {
  if (!isFinite(n)) return "–";
  const a = Math.abs(n);
  if (a >= 1e9) return (n / 1e9).toFixed(1) + "G";
  if (a >= 1e6) return (n / 1e6).toFixed(a >= 1e7 ? 0 : 1) + "M";
  if (a >= 1e4) return (n / 1e3).toFixed(a >= 1e5 ? 0 : 1) + "k";
  return String(Math.round(n));
}
function bytes(n) {
  if (!n) return "0 B";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) (n /= 1024), i++;
  return (n < 10 && i ? n.toFixed(1) : Math.round(n)) + " " + u[i];
}
function shortBytes(n) {
  if (n < 1024) return n + "B";
  const u = ["K", "M", "G", "T"];
  let i = -1;
  while (n >= 1024 && i < u.length - 1) (n /= 1024), i++;
  return (n < 10 ? n.toFixed(1) : Math.round(n)) + u[i];
}
function secs(s) {
  if (s === undefined || s === null || !isFinite(s)) return "–";
  if (s < 1) return "<1 s";
  if (s < 90) return Math.round(s) + " s";
  if (s < 5400) return Math.round(s / 60) + " min";
  return (s / 3600).toFixed(1) + " h";
}
function ms(x) {
  if (x < 1) return (x * 1000).toFixed(0) + " µs";
  if (x < 1000) return x.toFixed(x < 10 ? 2 : 0) + " ms";
  return (x / 1000).toFixed(1) + " s";
}
/** Writes only what changed: unchanged DOM is not touched, so nothing is laid out or painted again. */
function setHTML(el, html) {
  if (el.__html !== html) {
    el.innerHTML = html;
    el.__html = html;
  }
}
function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const clock = (t) => new Date(t).toLocaleTimeString([], { hour12: false });

// Colour per function: stable hue from its hash, spread out.
function fnColor(hash) {
  let c = state.fnColors.get(hash);
  if (!c) {
    let h = 0;
    for (let i = 0; i < hash.length; i++) h = (h * 31 + hash.charCodeAt(i)) >>> 0;
    const hue = (h % 360 + state.fnColors.size * 137) % 360;
    c = { solid: `hsl(${hue} 62% 48%)`, pale: `hsl(${hue} 62% 48% / 0.22)` };
    state.fnColors.set(hash, c);
  }
  return c;
}

// --- live updates ---------------------------------------------------------------------------------
function connect() {
  const es = new EventSource("events");
  es.onopen = () => ($("conn").className = "conn live");
  es.onerror = () => ($("conn").className = "conn down");
  es.onmessage = (ev) => {
    const s = JSON.parse(ev.data);
    apply(s);
  };
}

function apply(s) {
  state.offset = s.t - Date.now();
  if (s.columns) state.columns = s.columns;
  if (s.full) {
    state.stream.clear();
    for (const k of Object.keys(state.hist)) state.hist[k] = [];
    state.events = [];
  }
  state.streamMs = s.streamMs;
  for (const f of s.fns) state.fnNames.set(f.hash, f.name);
  for (const e of s.stream) state.stream.set(e.id, e);
  const cut = s.t - state.streamMs;
  for (const [id, e] of state.stream) if (e.end < cut) state.stream.delete(id);
  addHistory(s.history);
  for (const e of s.events) state.events.push(e);
  if (state.events.length > 200) state.events.splice(0, state.events.length - 200);

  const c = s.scheduler;
  const clientNodes = Object.entries(s.clientNodes ?? {}).sort(([a], [b]) => a.localeCompare(b)).map(([n, k]) => `${esc(n)}: ${k}`).join(", ");
  setHTML($("cluster"), `cluster <b>${esc(s.cluster)}</b> · scheduler on ${esc(c.host)}${c.nats ? ` (NATS ${esc(c.nats)})` : ""}${clientNodes ? ` · clients on NATS ${clientNodes}` : ""} · ts-dask ${esc(c.version)} · Node ${esc(c.node)} · up ${secs((s.t - c.startedAt) / 1000)}`);
  renderTotals(s.totals);
  renderWorkers(s.workers);
  renderJobs(s.jobs);
  renderActors(s.actors ?? []);
  renderFns(s.fns);
  if (s.full || s.events.length) renderEvents();
  renderStream(s.t);
  if (s.full || s.history.length) renderCharts();
}

function addHistory(points) {
  const h = state.hist;
  for (const p of points) {
    const [t, rate, failed, cpu, mem, limit] = p;
    const last = h.t.length ? h.t[h.t.length - 1] : -1;
    if (t < last) continue;
    if (t === last) {
      const i = h.t.length - 1;
      h.rate[i] = rate; h.failed[i] = failed; h.cpu[i] = cpu; h.mem[i] = mem; h.limit[i] = limit;
      continue;
    }
    h.t.push(t); h.rate.push(rate); h.failed.push(failed); h.cpu.push(cpu); h.mem.push(mem); h.limit.push(limit);
  }
  const over = h.t.length - 600;
  if (over > 0) for (const k of Object.keys(h)) h[k].splice(0, over);
}

// --- totals -----------------------------------------------------------------------------------------
function renderTotals(t) {
  const h = state.hist;
  const set = (id, v) => setText($(id), v);
  set("t-workers", num(t.workers));
  set("t-executors", num(t.executors));
  set("t-queued", short(t.queued));
  // Queue by priority (highest first) and tasks waiting for worker resources: only what there is.
  const prios = Object.entries(t.byPriority ?? {}).sort((a, b) => Number(b[0]) - Number(a[0]));
  const parts = prios.length > 1 || (prios.length === 1 && prios[0][0] !== "0") ? [prios.map(([p, n]) => `p${p}: ${short(n)}`).join(" · ")] : [];
  if (t.needingResources) parts.push(`${short(t.needingResources)} need resources`);
  set("t-prio", parts.join("; ") || "–");
  set("t-running", short(t.running));
  set("t-completed", short(t.completed));
  set("t-failed", short(t.failed));
  if ($("t-failed").classList.contains("zero") !== (t.failed === 0)) $("t-failed").classList.toggle("zero", t.failed === 0);
  set("t-rate", h.rate.length ? short(h.rate[h.rate.length - 1]) : "0");
  set("t-retried", `${short(t.retried)} / ${short(t.stolen)}`);
  set("t-restarts", `${short(t.restarts)} / ${short(t.memoryRestarts)}`);
  set("t-bytes", `${shortBytes(t.bytesIn)}/${shortBytes(t.bytesOut)}`);
  $("t-bytes").title = `${bytes(t.bytesIn)} received, ${bytes(t.bytesOut)} sent over NATS by the scheduler and executors`;
  if ($("t-completed").dataset.value !== String(t.completed)) $("t-completed").dataset.value = String(t.completed);
  if ($("t-failed").dataset.value !== String(t.failed)) $("t-failed").dataset.value = String(t.failed);
}

// --- workers table ----------------------------------------------------------------------------------
function renderWorkers(rows) {
  const thead = document.querySelector("#workers thead tr");
  if (!thead.children.length && state.columns.length) {
    thead.innerHTML = state.columns.map(([k, title]) => `<th class="${["executors", "nthreads", "cpu", "tasks", "done"].includes(k) ? "num" : ""}">${esc(title)}</th>`).join("");
  }
  const body = document.querySelector("#workers tbody");
  const seen = new Set();
  for (const w of rows) {
    seen.add(w.name);
    let tr = body.querySelector(`tr[data-worker="${CSS.escape(w.name)}"]`);
    if (!tr) {
      tr = document.createElement("tr");
      tr.dataset.worker = w.name;
      body.appendChild(tr);
    }
    if (tr.dataset.state !== w.state) tr.dataset.state = w.state;
    if (tr.dataset.done !== String(w.done)) tr.dataset.done = String(w.done);
    const cls = w.state === "gone" ? "gone" : "";
    if (tr.className !== cls) tr.className = cls;
    setCells(tr, state.columns.map(([k]) => cell(k, w)));
  }
  for (const tr of [...body.children]) if (!seen.has(tr.dataset.worker)) tr.remove();
}

/**
 * Updates a row cell by cell: only cells whose class or content changed are touched, so a push
 * that moves one number re-lays out one cell, not the row (the page's main cost while live).
 */
function setCells(tr, cells) {
  while (tr.children.length < cells.length) tr.appendChild(document.createElement("td"));
  while (tr.children.length > cells.length) tr.lastChild.remove();
  cells.forEach(([cls, html], i) => {
    const td = tr.children[i];
    if (td.className !== cls) td.className = cls;
    setHTML(td, html);
  });
}

/** One worker-table cell as [class, inner HTML]. */
function cell(k, w) {
  switch (k) {
    case "name": return ["name", `<b>${esc(w.name)}</b>`];
    case "executors": return ["num", `${w.executors} / ${w.nprocs}`];
    case "nthreads": return ["num", `${w.nthreads}`];
    case "state": return ["state", `<span class="badge ${esc(w.state)}">${esc(w.state)}</span>`];
    case "cpu": return ["num cpu", w.state === "gone" ? "–" : Math.round(w.cpu) + "%"];
    case "memory": {
      if (!w.memoryLimit) return ["memcell", w.state === "gone" ? "–" : bytes(w.rss)];
      const f = Math.min(1, w.rss / w.memoryLimit);
      const cls = f > 0.8 ? "hi" : f > 0.6 ? "mid" : "";
      return ["memcell", `<div class="bar"><span class="${cls}" style="width:${(f * 100).toFixed(1)}%"></span><em>${bytes(w.rss)} / ${bytes(w.memoryLimit)}</em></div>`];
    }
    case "tasks": return ["num tasks", `${num(w.running)} / ${num(w.queued)}`];
    case "done": return ["num done", num(w.done)];
    case "versions": return ["muted", esc(w.versions)];
    default: return ["", esc(w[k] ?? "")];
  }
}

// --- actors (issue 14) -----------------------------------------------------------------------------
function renderActors(actors) {
  const body = document.querySelector("#actors tbody");
  const empty = actors.length ? "none" : "";
  if ($("actors-empty").style.display !== empty) $("actors-empty").style.display = empty;
  const perExec = {};
  for (const a of actors) if (a.executor) perExec[a.executor] = (perExec[a.executor] ?? 0) + 1;
  const summary = Object.entries(perExec).sort(([a], [b]) => a.localeCompare(b)).map(([e, n]) => `${esc(e)}: ${n}`).join(" · ");
  setHTML($("actors-per-exec"), summary ? `actors per executor: ${summary}` : "");
  const seen = new Set();
  for (const a of actors) {
    seen.add(a.id);
    let tr = body.querySelector(`tr[data-actor="${CSS.escape(a.id)}"]`);
    if (!tr) {
      tr = document.createElement("tr");
      tr.dataset.actor = a.id;
      body.appendChild(tr);
    }
    if (tr.dataset.state !== a.state) tr.dataset.state = a.state;
    setCells(tr, [
      ["name", `<b>${esc(a.name)}</b>`],
      ["", esc(a.executor || "-")],
      ["", `<span class="badge ${a.state === "running" ? "finished" : "erred"}">${esc(a.state)}</span>`],
      ["num", num(a.calls)],
      ["num", `${short(a.rate)}/s`],
      [`num ${a.restarts ? "bad" : ""}`, num(a.restarts)],
      ["num", a.snapshot ? shortBytes(a.snapshot) : "-"],
      ["", a.detached ? "detached" : `client ${esc(a.owner)}`],
    ]);
  }
  for (const tr of [...body.children]) if (!seen.has(tr.dataset.actor)) tr.remove();
}

// --- jobs -------------------------------------------------------------------------------------------
function renderJobs(jobs) {
  const body = document.querySelector("#jobs tbody");
  const empty = jobs.length ? "none" : "";
  if ($("jobs-empty").style.display !== empty) $("jobs-empty").style.display = empty;
  const seen = new Set();
  for (const j of jobs) {
    seen.add(j.key);
    let tr = body.querySelector(`tr[data-job="${CSS.escape(j.key)}"]`);
    if (!tr) {
      tr = document.createElement("tr");
      tr.dataset.job = j.key;
    }
    if (body.children[seen.size - 1] !== tr) body.insertBefore(tr, body.children[seen.size - 1] ?? null); // the server's order
    for (const [k, v] of [["state", j.state], ["done", String(j.done)], ["total", String(j.total)], ["errors", String(j.errors)]]) if (tr.dataset[k] !== v) tr.dataset[k] = v;
    const okPart = j.total ? ((j.done - j.errors) / j.total) * 100 : 0;
    const errPart = j.total ? (j.errors / j.total) * 100 : 0;
    const badge = j.state === "finished" ? `<span class="badge ${j.errors ? "erred" : "finished"}">${j.errors ? "done, errors" : "done"}</span>` : "";
    if (tr.title !== `client ${j.client}`) tr.title = `client ${j.client}`;
    setCells(tr, [
      ["name", `<b>${esc(j.name)}</b> <span class="muted small">${j.kind}</span> ${badge}`],
      ["", `<div class="bar"><span style="width:${okPart.toFixed(2)}%"></span><span class="err" style="left:${okPart.toFixed(2)}%;width:${errPart.toFixed(2)}%"></span><em>${((j.done / Math.max(1, j.total)) * 100).toFixed(0)}%</em></div>`],
      ["num progress", `${num(j.done)} / ${num(j.total)}`],
      [`num errors ${j.errors ? "bad" : ""}`, num(j.errors)],
      ["num", `${short(j.rate)}/s`],
      ["num", j.state === "finished" ? secs((j.finishedAt - j.startedAt) / 1000) : secs(j.eta)],
    ]);
  }
  for (const tr of [...body.children]) if (!seen.has(tr.dataset.job)) tr.remove();
}

function renderFns(fns) {
  const body = document.querySelector("#fns tbody");
  setHTML(body, fns
    .sort((a, b) => b.count - a.count)
    .slice(0, 12)
    .map((f) => `<tr><td><i style="display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px;background:${fnColor(f.hash).solid}"></i>${esc(f.name)}</td><td class="num">${short(f.count)}</td><td class="num">${ms(f.meanMs)}</td><td class="num ${f.errors ? "bad" : ""}">${num(f.errors)}</td></tr>`)
    .join(""));
}

// --- events -----------------------------------------------------------------------------------------
function describe(e) {
  switch (e.type) {
    case "worker-joined": return [`worker ${e.name} joined from ${e.host}${e.nprocs ? ` (${e.nprocs} × ${e.nthreads} threads)` : ""}`, ""];
    case "worker-left": return [`worker ${e.name} left: ${e.reason}`, "warn"];
    case "worker-died": return [`worker ${e.name} on ${e.host} died (silent ${secs(e.silentMs / 1000)})`, "error"];
    case "executor-joined": return [`executor ${e.name} joined`, ""];
    case "executor-left": return [`executor ${e.name} left: ${e.reason}`, "warn"];
    case "executor-retiring": return [`executor ${e.name} retiring: ${e.requeued} queued task(s) handed back`, ""];
    case "executor-restarted": return [`executor ${e.name} restarted${e.memory ? " for memory" : ""}: ${e.reason}`, "warn"];
    case "killed-worker": return [`executor ${e.name} died holding tasks (${e.reason}): ${e.requeued} re-queued${e.failed ? `, ${e.failed} failed` : ""}`, "error"];
    case "task-erred": return [`${e.count} task(s) of ${e.name || "?"} failed on ${e.worker}${e.error ? `: ${e.error.name}: ${e.error.message}` : ""}`, "error"];
    case "job-started": return [`job ${e.name} started: ${num(e.total)} task(s)`, ""];
    case "job-finished": return [`job ${e.name} finished: ${num(e.total)} task(s) in ${secs(e.ms / 1000)}${e.errors ? `, ${num(e.errors)} error(s)` : ""}`, e.errors ? "warn" : ""];
    case "rival-scheduler": return [`ANOTHER SCHEDULER (${e.instance}) is announcing itself on this cluster: stop one of them`, "error"];
    case "forged": return [`${num(e.count)} message(s) not bound to this scheduler dropped (${e.where})`, "warn"];
    case "actor": return [`actor ${e.name} ${e.state}${e.executor ? ` (${e.executor})` : ""}${e.reason ? `: ${e.reason}` : ""}`, e.state === "running" ? "" : e.state === "lost" ? "error" : "warn"];
    default: return [JSON.stringify(e), ""];
  }
}

function renderEvents() {
  const ul = $("events");
  const items = state.events.slice(-60).reverse();
  setHTML(ul, items
    .map((e) => {
      const [text, cls] = describe(e);
      return `<li class="${cls}" data-type="${esc(e.type)}" title="${esc(text)}"><time>${clock(e.t)}</time>${esc(text)}</li>`;
    })
    .join(""));
}

// --- task stream (canvas) ---------------------------------------------------------------------------
function renderStream(serverNow) {
  const canvas = $("stream");
  const rows = [...new Set([...state.stream.values()].map((e) => e.exec))].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const rowH = 22;
  const labelW = 110;
  const axisH = 18;
  const cssW = canvas.parentElement.clientWidth;
  const cssH = Math.max(60, rows.length * rowH + axisH + 4);
  const dpr = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(cssW * dpr) || canvas.height !== Math.round(cssH * dpr)) {
    canvas.width = Math.round(cssW * dpr);
    canvas.height = Math.round(cssH * dpr);
    canvas.style.height = cssH + "px";
  }
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, cssW, cssH);
  g.font = "12px system-ui, sans-serif";
  g.textBaseline = "middle";
  const t1 = serverNow;
  const t0 = t1 - state.streamMs;
  const plotW = cssW - labelW - 8;
  const X = (t) => labelW + ((t - t0) / (t1 - t0)) * plotW;
  // Grid and axis (every 10 s).
  g.strokeStyle = "#e2e5ea";
  g.fillStyle = "#6b7385";
  g.textAlign = "center";
  for (let s = 0; s <= state.streamMs / 1000; s += 10) {
    const x = X(t1 - s * 1000);
    g.beginPath();
    g.moveTo(x, 0);
    g.lineTo(x, rows.length * rowH);
    g.stroke();
    g.fillText(s === 0 ? "now" : `−${s} s`, Math.min(cssW - 16, x), rows.length * rowH + axisH / 2 + 2);
  }
  if (!rows.length) {
    g.textAlign = "left";
    g.fillText("No tasks in the last minute.", labelW, 20);
    return;
  }
  g.textAlign = "left";
  rows.forEach((name, i) => {
    g.fillStyle = i % 2 ? "#fafbfc" : "#ffffff";
    g.fillRect(labelW, i * rowH, plotW, rowH);
    g.fillStyle = "#1d2330";
    g.fillText(name, 4, i * rowH + rowH / 2);
  });
  const rowOf = new Map(rows.map((r, i) => [r, i]));
  for (const e of state.stream.values()) {
    const i = rowOf.get(e.exec);
    const x0 = Math.max(labelW, X(e.start));
    const x1 = Math.max(x0 + 1, X(e.end));
    const y = i * rowH + 3;
    const h = rowH - 6;
    const c = fnColor(e.fn);
    const width = x1 - x0;
    const busy = Math.min(1, e.busy / Math.max(0.001, (e.end - e.start) * (e.threads || 1)));
    if (e.errors > 0) {
      g.fillStyle = "#d23b3b";
      g.fillRect(x0, y, Math.max(3, width), h);
      continue;
    }
    g.fillStyle = c.pale;
    g.fillRect(x0, y, width, h);
    g.fillStyle = c.solid;
    const solid = Math.max(width >= 2 ? 1 : width, width * busy);
    g.fillRect(x1 - solid, y, solid, h);
  }
  // Legend: functions in the window.
  const fns = [...new Set([...state.stream.values()].map((e) => e.fn))];
  setHTML($("legend"), fns.map((f) => `<span><i style="background:${fnColor(f).solid}"></i>${esc(state.fnNames.get(f) ?? f.slice(0, 8))}</span>`).join("") + `<span><i style="background:#d23b3b"></i>errors</span>`);
}

// --- charts (uPlot) ---------------------------------------------------------------------------------
let rateChart;
let resChart;
function chartWidth(el) {
  return Math.max(200, el.clientWidth);
}
function makeCharts() {
  const rateEl = $("chart-rate");
  const resEl = $("chart-res");
  rateChart = new uPlot(
    {
      width: chartWidth(rateEl),
      height: 150,
      legend: { live: false },
      cursor: { show: false },
      scales: { x: { time: true } },
      series: [
        {},
        { label: "tasks/s", stroke: "#3b73d2", fill: "rgba(59,115,210,0.12)", width: 1.5, points: { show: false } },
        { label: "failed/s", stroke: "#d23b3b", width: 1.5, points: { show: false } },
      ],
      axes: [{}, { size: 52, values: (u, vs) => vs.map(short) }],
    },
    [[], [], []],
    rateEl,
  );
  resChart = new uPlot(
    {
      width: chartWidth(resEl),
      height: 150,
      legend: { live: false },
      cursor: { show: false },
      scales: { x: { time: true }, pct: { range: [0, 100] }, mem: { range: (u, lo, hi) => [0, Math.max(hi, 1)] } },
      series: [
        {},
        { label: "CPU % (mean of executors)", scale: "pct", stroke: "#2e9d57", width: 1.5, points: { show: false } },
        { label: "memory (RSS)", scale: "mem", stroke: "#8a4fd2", fill: "rgba(138,79,210,0.10)", width: 1.5, points: { show: false } },
        { label: "memory limit", scale: "mem", stroke: "#b9a3d9", dash: [4, 4], width: 1, points: { show: false } },
      ],
      axes: [{}, { scale: "pct", size: 52, values: (u, vs) => vs.map((v) => v + "%") }, { scale: "mem", side: 1, size: 64, grid: { show: false }, values: (u, vs) => vs.map(bytes) }],
    },
    [[], [], [], []],
    resEl,
  );
  window.addEventListener("resize", () => {
    rateChart.setSize({ width: chartWidth(rateEl), height: 150 });
    resChart.setSize({ width: chartWidth(resEl), height: 150 });
    renderStream(Date.now() + state.offset);
  });
}

function renderCharts() {
  if (!rateChart) makeCharts();
  const h = state.hist;
  rateChart.setData([h.t, h.rate, h.failed]);
  resChart.setData([h.t, h.cpu, h.mem, h.limit.map((x) => x || null)]);
}

connect();
