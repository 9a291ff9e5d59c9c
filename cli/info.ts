/** `ts-dask info`: workers, executors, versions and queue lengths as the scheduler sees them. */
import { versionWarning } from "../runtime/version.ts";
import { Errors } from "../runtime/errors.ts";
import { subjects, type ClusterInfo } from "../runtime/protocol.ts";
import { formatBytes } from "../runtime/memory.ts";
import { Transport } from "../runtime/transport.ts";
import { clientScope, redactUrl, type NatsAuth } from "../runtime/nats-auth.ts";
import { byNodeText, WORKER_COLUMNS, workerRows, type WorkerRow } from "../runtime/cluster-info.ts";

export async function runInfo(o: { servers: string; cluster: string; token?: string; auth?: NatsAuth; json: boolean; defaultAddress?: boolean }) {
  // Replies under the user's scope, like a client's: a client user may read no other inbox (protocol.ts "Client scopes").
  const scope = o.token === undefined ? clientScope(undefined, o.auth, o.servers) : undefined;
  const tx = await Transport.connect({ servers: o.servers, token: o.token, auth: o.auth, inboxPrefix: subjects(o.cluster).inboxOf(scope), name: "ts-dask info" });
  let info: ClusterInfo;
  try {
    info = await tx.request<ClusterInfo>(subjects(o.cluster).info, {}, 3000);
  } catch (e) {
    throw Transport.isNoAnswer(e) ? Errors.NoScheduler(o.cluster, redactUrl(o.servers)) : e;
  } finally {
    await tx.close();
  }
  if (o.json) return console.log(JSON.stringify({ address: hideToken(o.servers), ...info }, null, 2));
  // Say where: with no address given, a cluster someone else runs on the default port answers too.
  console.log(formatInfo(info, `${hideToken(o.servers)}${o.defaultAddress ? " (the default: no address given)" : ""}`));
}

/** `nats://TOKEN@host:4222` → `nats://***@host:4222`: info output gets pasted into chats and issues. */
export function hideToken(servers: string): string {
  return servers.replace(/\/\/[^@/]+@/g, "//***@");
}

/** The worker table as text; `address`: the NATS address it came from, for the header. */
export function formatInfo(info: ClusterInfo, address?: string): string {
  const s = info.scheduler;
  const t = info.tasks;
  const lines = [
    `cluster ${info.cluster}${address ? ` at ${address}` : ""} — scheduler on ${s.host} (pid ${s.pid}${s.nats ? `, NATS node ${s.nats}` : ""}), ts-dask ${s.hello.version}, protocol ${s.hello.proto}, Node ${s.hello.node}`,
    `tasks: ${t.queued} queued${queueDetail(t)}, ${t.assigned} assigned, ${t.done} done, ${t.failed} failed; ${info.clients} client(s)${info.clients && info.clientNodes ? ` (NATS node ${byNodeText(info.clientNodes)})` : ""}`,
    // Held by the scheduler, in memory: scattered values, large arguments, large results until gathered.
    `data held by the scheduler: ${info.data.values} value(s), ${formatBytes(info.data.bytes)}` +
      (info.data.results ? `; of which ${info.data.results} large result(s) awaiting gather, ${formatBytes(info.data.resultBytes ?? 0)}` : ""),
    ...trustLines(info),
    ...lateReplyLines(info),
    ...info.workers.flatMap((w) => versionWarning(`worker ${w.name}`, w.hello, s.hello) ?? []).map((m) => `WARNING: ${m}`),
    "",
    ...workerTable(info),
    "",
    ...executorTable(info),
  ];
  if (info.actors?.length) lines.push("", ...actorTable(info));
  return lines.join("\n");
}

/** Columns as wide as their widest cell, two spaces apart; the last column is not padded. */
function table(head: string[], cells: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const fmt = (c: string[]) => c.map((x, i) => (i === c.length - 1 ? x : x.padEnd(widths[i]!))).join("  ").trimEnd();
  return [fmt(head), ...cells.map(fmt)];
}

/** One line per executor (a worker with none: one line for the worker). */
function executorTable(info: ClusterInfo): string[] {
  const cells: string[][] = [];
  for (const w of info.workers) {
    const versions = `ts-dask ${w.hello.version}, Node ${w.hello.node}`;
    for (const e of w.executors) {
      const mem = w.memoryLimit ? `${formatBytes(e.rss)} / ${formatBytes(w.memoryLimit)}` : formatBytes(e.rss);
      cells.push([e.name, w.name, w.host, e.nats ?? "?", e.state, String(e.nthreads), String(e.running), String(e.queued), String(e.assigned), String(e.done), mem, versions]);
    }
    if (!w.executors.length) cells.push(["-", w.name, w.host, w.nats ?? "?", w.state, "", "", "", "", "", "", versions]);
  }
  return table(["executor", "worker", "host", "NATS node", "state", "threads", "running", "queued", "assigned", "done", "memory", "versions"], cells);
}

/** User actors (issue 14): one line each, with their host, calls and restarts. */
export function actorTable(info: ClusterInfo): string[] {
  const head = ["actor", "state", "executor", "calls", "calls/s", "restarts", "snapshot", "lifetime"];
  const cells = (info.actors ?? []).map((a) => [a.name, a.state, a.executor || "-", String(a.calls), String(a.rate), String(a.restarts), a.snapshot ? formatBytes(a.snapshot) : "-", a.detached ? "detached" : `client ${a.owner}`]);
  return table(head, cells);
}

/** Forgeries dropped and rival schedulers (issue 11): shown only when there is something to say. */
function trustLines(info: ClusterInfo): string[] {
  const t = info.trust;
  if (!t) return [];
  const out: string[] = [];
  if (t.rivals.length) out.push(`WARNING: ${t.rivals.length} other scheduler instance(s) heard on this cluster (${t.rivals.slice(0, 3).join(", ")}): stop all but one`);
  if (t.scheduler + t.executors + t.clients) out.push(`dropped as not bound to the scheduler: ${t.scheduler} at the scheduler, ${t.executors} at executors, ${t.clients} result row(s) at clients`);
  return out;
}

/** Replies that came after their request gave up (ClusterInfo.lateReplies): shown only when there are some. */
function lateReplyLines(info: ClusterInfo): string[] {
  const l = info.lateReplies;
  if (!l || !(l.scheduler + l.clients + l.executors)) return [];
  return [`late replies (arrived after their request gave up, dropped): ${l.scheduler} at the scheduler, ${l.clients} at clients, ${l.executors} at executors`];
}

/** The dashboard's worker table (same columns, WORKER_COLUMNS), one line per worker. */
export function workerTable(info: ClusterInfo): string[] {
  const rows = workerRows(info);
  const cells = rows.map((w) => WORKER_COLUMNS.map(([k]) => workerCell(k, w)));
  return table(
    WORKER_COLUMNS.map(([, title]) => title),
    cells,
  );
}

function workerCell(k: (typeof WORKER_COLUMNS)[number][0], w: WorkerRow): string {
  switch (k) {
    case "executors":
      return `${w.executors} / ${w.nprocs}`;
    case "cpu":
      return w.state === "gone" ? "-" : `${Math.round(w.cpu)}%`;
    case "memory":
      if (w.state === "gone") return "-";
      return w.memoryLimit ? `${formatBytes(w.rss)} / ${formatBytes(w.memoryLimit)} (${Math.round((w.rss / w.memoryLimit) * 100)}%)` : formatBytes(w.rss);
    case "tasks":
      return `${w.running} / ${w.queued}`;
    default:
      return String(w[k]);
  }
}


/** ` (by priority 5: 3, 0: 1200; 7 waiting for resources)`: only what there is. */
function queueDetail(t: ClusterInfo["tasks"]): string {
  const parts: string[] = [];
  const prios = Object.entries(t.byPriority ?? {}).sort((a, b) => Number(b[0]) - Number(a[0]));
  if (prios.length > 1 || (prios.length === 1 && prios[0]![0] !== "0")) parts.push(`by priority ${prios.map(([p, n]) => `${p}: ${n}`).join(", ")}`);
  if (t.needingResources) parts.push(`${t.needingResources} waiting for resources`);
  return parts.length ? ` (${parts.join("; ")})` : "";
}
