/** Reading the scheduler's HTTP side in tests: /metrics through a Prometheus text-format parser. */
import parsePrometheusTextFormat, { type PromFamily } from "parse-prometheus-text-format";

export class Metrics {
  constructor(readonly families: PromFamily[]) {}

  static async fetch(base: string): Promise<Metrics> {
    const r = await fetch(new URL("metrics", base));
    if (r.status !== 200) throw new Error(`GET /metrics: ${r.status}`);
    if (!/^text\/plain; version=0\.0\.4/.test(r.headers.get("content-type") ?? "")) throw new Error(`GET /metrics: content-type ${r.headers.get("content-type")}`);
    return new Metrics(parsePrometheusTextFormat(await r.text()));
  }

  family(name: string): PromFamily {
    const f = this.families.find((x) => x.name === name);
    if (!f) throw new Error(`no metric family ${name}; have ${this.families.map((x) => x.name).join(", ")}`);
    return f;
  }

  /** The value of the sample of `name` whose labels include `labels`. */
  value(name: string, labels: Record<string, string> = {}): number {
    const f = this.family(name);
    const s = f.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
    if (!s || s.value === undefined) throw new Error(`no sample ${name}${JSON.stringify(labels)}`);
    return Number(s.value);
  }

  /** Sum over every sample of `name`. */
  sum(name: string): number {
    return this.family(name).metrics.reduce((n, m) => n + Number(m.value ?? 0), 0);
  }
}

/** The dashboard URL a `ts-dask scheduler`/`up` printed, for 127.0.0.1. */
export function localUrl(printed: string): string {
  const port = new URL(printed).port;
  return `http://127.0.0.1:${port}/`;
}
