/**
 * The scheduler's HTTP side (node:http, no framework), on `--dashboard-address` (default `:8787`):
 *
 *   GET /              the dashboard page (static/index.html, app.js, style.css)
 *   GET /vendor/…      uPlot, served from node_modules (no CDN: the page works on a LAN offline)
 *   GET /events        Server-Sent Events: a full snapshot on connect, then deltas from the
 *                      monitor's aggregates every `intervalMs` (default 1 s; never per task)
 *   GET /api/snapshot  the same snapshot as JSON
 *   GET /metrics       Prometheus text format (monitor.ts)
 *   GET /health        JSON; 200 while the scheduler is connected to NATS, else 503
 */
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { hostname } from "node:os";
import { fileURLToPath } from "node:url";
import type { Logger } from "../../../../runtime/actor.ts";
import type { Monitor } from "../monitor.ts";
import { WORKER_COLUMNS } from "./views.ts";
import { Errors } from "../../../../runtime/errors.ts";

export interface DashboardOptions {
  /** `:8787` (every interface), `127.0.0.1:8787`, `host:0` (a free port), or `none`. */
  address: string;
  log?: Logger;
  /** Snapshot period for live pages (default 1 s, at least 250): each push costs the page ~40 ms of render and raster. */
  intervalMs?: number;
}

export interface Dashboard {
  /** `http://host:port/` */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Parses `--dashboard-address`; undefined for `none`. */
export function parseDashboardAddress(a: string): { host: string | undefined; port: number } | undefined {
  const s = a.trim();
  if (s === "" || /^(none|off|false|no)$/i.test(s)) return undefined;
  if (/^\d+$/.test(s)) return { host: undefined, port: Number(s) };
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(s.includes(":") ? s : `${s}:8787`);
  if (!m) throw Errors.BadFlag("--dashboard-address", a, "':8787', 'host:port' or 'none'");
  const host = m[1] ?? (m[2] || undefined);
  const port = Number(m[3]);
  if (!(port >= 0 && port < 65536)) throw Errors.BadFlag("--dashboard-address", a, "a port from 0 to 65535");
  return { host, port };
}

const STATIC_DIR = fileURLToPath(new URL("./static/", import.meta.url));
const require = createRequire(import.meta.url);

const FILES: Record<string, { path: () => string; type: string }> = {
  "/": { path: () => STATIC_DIR + "index.html", type: "text/html; charset=utf-8" },
  "/index.html": { path: () => STATIC_DIR + "index.html", type: "text/html; charset=utf-8" },
  "/app.js": { path: () => STATIC_DIR + "app.js", type: "text/javascript; charset=utf-8" },
  "/style.css": { path: () => STATIC_DIR + "style.css", type: "text/css; charset=utf-8" },
  "/vendor/uPlot.iife.min.js": { path: () => require.resolve("uplot/dist/uPlot.iife.min.js"), type: "text/javascript; charset=utf-8" },
  "/vendor/uPlot.min.css": { path: () => require.resolve("uplot/dist/uPlot.min.css"), type: "text/css; charset=utf-8" },
};

interface Viewer {
  res: ServerResponse;
  /** Sent nothing yet, or fell behind (slow browser): the next message is a full snapshot. */
  full: boolean;
  blocked: boolean;
}

/** Starts the dashboard for `monitor`; undefined when the address is `none`. */
export async function startDashboard(monitor: Monitor, opts: DashboardOptions): Promise<Dashboard | undefined> {
  const addr = parseDashboardAddress(opts.address);
  if (!addr) return undefined;
  const intervalMs = Math.max(250, opts.intervalMs ?? 1000);
  const cache = new Map<string, Buffer>();
  const viewers = new Set<Viewer>();
  let lastSent = 0;
  let lastSeq = 0;
  let timer: NodeJS.Timeout | undefined;

  const push = () => {
    if (viewers.size === 0) {
      clearInterval(timer);
      timer = undefined;
      return;
    }
    const now = Date.now();
    let delta: string | undefined;
    let full: string | undefined;
    let seq = lastSeq;
    for (const v of viewers) {
      if (v.blocked) continue;
      const data = v.full ? (full ??= JSON.stringify({ full: true, columns: WORKER_COLUMNS, ...monitor.snapshot(0) })) : (delta ??= deltaJson());
      v.full = false;
      if (!v.res.write(`data: ${data}\n\n`)) {
        // The browser is not keeping up: skip it until it drains, then send it everything anew.
        v.blocked = true;
        v.res.once("drain", () => ((v.blocked = false), (v.full = true)));
      }
    }
    lastSent = now;
    lastSeq = seq;
    function deltaJson() {
      const snap = monitor.snapshot(lastSent, lastSeq);
      seq = snap.seq;
      return JSON.stringify({ full: false, ...snap });
    }
  };

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://x");
    const path = url.pathname;
    if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "text/plain", "method not allowed\n");
    try {
      if (path === "/metrics") {
        const m = monitor.metrics();
        void m.text().then(
          (text) => send(res, 200, m.contentType, text),
          (e: Error) => send(res, 500, "text/plain", `metrics failed: ${e.message}\n`),
        );
        return;
      }
      if (path === "/health") {
        const h = monitor.health();
        return send(res, h.status === "ok" ? 200 : 503, "application/json", JSON.stringify(h) + "\n");
      }
      if (path === "/api/snapshot") return send(res, 200, "application/json", JSON.stringify({ full: true, columns: WORKER_COLUMNS, ...monitor.snapshot(0) }));
      if (path === "/events") {
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive", "x-accel-buffering": "no" });
        res.write("retry: 1000\n\n");
        // The first snapshot at once (everything in the window), then deltas with everyone else's.
        res.write(`data: ${JSON.stringify({ full: true, columns: WORKER_COLUMNS, ...monitor.snapshot(0) })}\n\n`);
        const v: Viewer = { res, full: false, blocked: false };
        viewers.add(v);
        req.on("close", () => viewers.delete(v));
        if (!timer) {
          lastSent = Date.now();
          lastSeq = monitor.streamVersion;
          timer = setInterval(push, intervalMs);
          timer.unref();
        }
        return;
      }
      const f = FILES[path];
      if (!f) return send(res, 404, "text/plain", "not found\n");
      let body = cache.get(path);
      if (!body) cache.set(path, (body = readFileSync(f.path())));
      return send(res, 200, f.type, body);
    } catch (e) {
      return send(res, 500, "text/plain", `${(e as Error).message}\n`);
    }
  });
  server.keepAliveTimeout = 5000;

  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      server.once("error", onError);
      server.listen(port, addr.host, () => {
        server.off("error", onError);
        resolve();
      });
    });
  try {
    await listen(addr.port);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EADDRINUSE" || addr.port === 0) throw e;
    await listen(0);
    opts.log?.warn(`dashboard: port ${addr.port} is in use; using port ${(server.address() as { port: number }).port} instead`);
  }
  server.unref();
  const port = (server.address() as { port: number }).port;
  const shown = !addr.host || addr.host === "0.0.0.0" || addr.host === "::" ? hostname() : addr.host.includes(":") ? `[${addr.host}]` : addr.host;
  return {
    url: `http://${shown}:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(timer);
        for (const v of viewers) v.res.end();
        viewers.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer) {
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body), "cache-control": "no-store" });
  res.end(body);
}
