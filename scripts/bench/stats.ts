/** Small statistics for the benchmark sections (nearest-rank percentiles, medians). */

export interface Stats {
  readonly n: number;
  readonly median: number;
  readonly p90: number;
  readonly min: number;
  readonly max: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? NaN;
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function stats(values: readonly number[]): Stats {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, median: median(s), p90: percentile(s, 90), min: s[0] ?? NaN, max: s[s.length - 1] ?? NaN };
}

export const f1 = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : "-");
export const f2 = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : "-");
