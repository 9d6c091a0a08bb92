/**
 * A tiny metrics registry rendering the Prometheus text exposition format 0.0.4. Families render in
 * registration order and series in order of their label values, so a scrape is byte-stable.
 * Callers pass only label values from fixed sets: every distinct value is a series kept forever.
 */
export type MetricType = "counter" | "gauge" | "histogram";
export type Labels = Readonly<Record<string, string>>;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function labelText(pairs: readonly (readonly [string, string])[]): string {
  return pairs.length === 0 ? "" : `{${pairs.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",")}}`;
}

/** One metric family: its series keyed by label values in declared label order. */
abstract class Family<S> {
  protected readonly series = new Map<string, { labels: readonly string[]; state: S }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricType,
    readonly labelNames: readonly string[],
  ) {
    if (!METRIC_NAME.test(name)) throw new Error(`invalid metric name ${JSON.stringify(name)}`);
    for (const l of labelNames) {
      if (!LABEL_NAME.test(l) || l.startsWith("__") || l === "le") throw new Error(`invalid label name ${JSON.stringify(l)} on ${name}`);
    }
  }

  protected abstract initial(): S;

  protected get(labels: Labels): S {
    const keys = Object.keys(labels);
    if (keys.length !== this.labelNames.length || !this.labelNames.every((l) => typeof labels[l] === "string")) {
      throw new Error(`${this.name} takes labels {${this.labelNames.join(",")}}, got {${keys.join(",")}}`);
    }
    const values = this.labelNames.map((l) => labels[l] ?? "");
    const key = JSON.stringify(values);
    let entry = this.series.get(key);
    if (!entry) {
      entry = { labels: values, state: this.initial() };
      this.series.set(key, entry);
    }
    return entry.state;
  }

  protected abstract lines(labels: readonly (readonly [string, string])[], state: S): string[];

  render(): string {
    const out = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`];
    const sorted = [...this.series.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [, { labels, state }] of sorted) {
      out.push(...this.lines(this.labelNames.map((n, i) => [n, labels[i] ?? ""] as const), state));
    }
    return out.join("\n") + "\n";
  }
}

export class Counter extends Family<{ value: number }> {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, "counter", labelNames);
  }
  protected initial(): { value: number } {
    return { value: 0 };
  }
  /** Also used with `by = 0` to make a series exist (at 0) before its first event. */
  inc(labels: Labels = {}, by = 1): void {
    if (!(by >= 0)) throw new Error(`${this.name}: a counter only goes up, got ${by}`);
    this.get(labels).value += by;
  }
  protected lines(labels: readonly (readonly [string, string])[], s: { value: number }): string[] {
    return [`${this.name}${labelText(labels)} ${formatValue(s.value)}`];
  }
}

export class Gauge extends Family<{ value: number }> {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, "gauge", labelNames);
  }
  protected initial(): { value: number } {
    return { value: 0 };
  }
  set(value: number, labels: Labels = {}): void {
    this.get(labels).value = value;
  }
  protected lines(labels: readonly (readonly [string, string])[], s: { value: number }): string[] {
    return [`${this.name}${labelText(labels)} ${formatValue(s.value)}`];
  }
}

interface HistogramState {
  /** Per bucket, observations <= its bound (not yet cumulative). */
  readonly counts: number[];
  sum: number;
  count: number;
}

export class Histogram extends Family<HistogramState> {
  readonly buckets: readonly number[];

  constructor(name: string, help: string, buckets: readonly number[], labelNames: readonly string[] = []) {
    super(name, help, "histogram", labelNames);
    if (buckets.length === 0 || buckets.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= (buckets[i - 1] ?? -Infinity)))) {
      throw new Error(`${name}: buckets must be finite and strictly increasing`);
    }
    this.buckets = [...buckets];
  }
  protected initial(): HistogramState {
    return { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
  }
  observe(value: number, labels: Labels = {}): void {
    const s = this.get(labels);
    const i = this.buckets.findIndex((b) => value <= b);
    if (i >= 0) s.counts[i] = (s.counts[i] ?? 0) + 1;
    s.sum += value;
    s.count++;
  }
  protected lines(labels: readonly (readonly [string, string])[], s: HistogramState): string[] {
    let cumulative = 0;
    const out = this.buckets.map((b, i) => {
      cumulative += s.counts[i] ?? 0;
      return `${this.name}_bucket${labelText([...labels, ["le", formatValue(b)]])} ${cumulative}`;
    });
    out.push(`${this.name}_bucket${labelText([...labels, ["le", "+Inf"]])} ${s.count}`);
    out.push(`${this.name}_sum${labelText(labels)} ${formatValue(s.sum)}`);
    out.push(`${this.name}_count${labelText(labels)} ${s.count}`);
    return out;
  }
}

export class MetricsRegistry {
  private readonly families: { readonly name: string; render(): string }[] = [];

  private add<F extends { readonly name: string; render(): string }>(family: F): F {
    if (this.families.some((f) => f.name === family.name)) throw new Error(`metric ${family.name} registered twice`);
    this.families.push(family);
    return family;
  }

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.add(new Counter(name, help, labelNames));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.add(new Gauge(name, help, labelNames));
  }

  histogram(name: string, help: string, buckets: readonly number[], labelNames: readonly string[] = []): Histogram {
    return this.add(new Histogram(name, help, buckets, labelNames));
  }

  /** The whole exposition, every line ending in a newline. */
  render(): string {
    return this.families.map((f) => f.render()).join("");
  }
}
