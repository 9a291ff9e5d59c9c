/** TCP reachability between hosts of a {@link LanBed}: a listener in one host, a connect attempt from another. */
import type { LanBed, LanProcess } from "./bed.ts";

/** A TCP listener on `port` in `host` (every interface); resolves once it listens. */
export async function listen(bed: LanBed, host: string, port: number): Promise<LanProcess> {
  const p = bed.spawn(host, process.execPath, ["-e", `require("net").createServer((s) => { s.on("error", () => {}); s.end("hi"); }).listen(${port}, "0.0.0.0", () => console.log("listening"))`]);
  await p.waitFor(/listening/, 20_000);
  return p;
}

/** Tries a TCP connection from `host` to `ip:port`: "connected", "refused" or "timeout" (dropped) after `timeoutMs`. */
export async function connectFrom(bed: LanBed, host: string, ip: string, port: number, timeoutMs = 1500): Promise<"connected" | "refused" | "timeout"> {
  const p = bed.spawn(host, process.execPath, [
    "-e",
    `const s = require("net").connect(${port}, "${ip}");
     const t = setTimeout(() => { console.log("RESULT timeout"); process.exit(0); }, ${timeoutMs});
     s.on("connect", () => { console.log("RESULT connected"); process.exit(0); });
     s.on("error", (e) => { console.log("RESULT " + (e.code === "ECONNREFUSED" ? "refused" : "error " + e.code)); process.exit(0); });`,
  ]);
  const m = await p.waitFor(/RESULT (\S+)/, timeoutMs + 20_000);
  await p.exited;
  return m[1] as "connected" | "refused" | "timeout";
}
