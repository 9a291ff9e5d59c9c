/**
 * `--memory-limit` as Dask reads it: bytes with a unit ("1GB" = 10^9, "512MiB" = 2^29), a
 * fraction of the machine's memory ("0.5"), "auto" (the machine's memory shared by the
 * executors), or 0 / "0" / "none" for no limit. Returns bytes per executor process.
 */
import { totalmem } from "node:os";
import { Errors } from "./errors.ts";

const UNITS: Record<string, number> = {
  "": 1, b: 1,
  kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12,
  k: 1e3, m: 1e6, g: 1e9, t: 1e12,
  kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40,
};

export function parseMemoryLimit(text: string | number, nprocs = 1, machineBytes = totalmem()): number {
  const s = String(text).trim().toLowerCase();
  if (s === "0" || s === "none" || s === "") return 0;
  if (s === "auto") return Math.floor(machineBytes / Math.max(1, nprocs));
  const m = /^(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)$/.exec(s);
  if (!m) throw Errors.BadMemoryLimit(String(text));
  const n = Number(m[1]);
  const unit = m[2]!;
  if (unit === "" && n > 0 && n <= 1) return Math.floor(machineBytes * n);
  const mult = UNITS[unit];
  if (mult === undefined || !Number.isFinite(n)) throw Errors.BadMemoryLimit(String(text));
  return Math.floor(n * mult);
}

/** Bytes as a short human string ("1.5 GiB"). */
export function formatBytes(n: number): string {
  if (!n) return "0 B";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) (n /= 1024), i++;
  return `${n.toFixed(n < 10 && i ? 1 : 0)} ${u[i]}`;
}
