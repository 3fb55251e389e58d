/** Latency summary of a set of samples, in milliseconds (nearest-rank percentiles). */
export interface Percentiles {
  count: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile (`p` in 0–100) of samples sorted ascending. */
export function percentileOfSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

/** Rounded to 0.01 (milliseconds or rates in the report). */
export const round = (value: number): number => Math.round(value * 100) / 100;

/** p50/p90/p99/max/mean of the samples (rounded to 0.01 ms), or `null` when there are none. */
export function percentiles(samples: readonly number[]): Percentiles | null {
  if (samples.length === 0) return null;
  const sorted = [...samples].sort((a, b) => a - b);
  const sum = sorted.reduce((total, value) => total + value, 0);
  return {
    count: sorted.length,
    min: round(sorted[0] as number),
    p50: round(percentileOfSorted(sorted, 50)),
    p90: round(percentileOfSorted(sorted, 90)),
    p99: round(percentileOfSorted(sorted, 99)),
    max: round(sorted[sorted.length - 1] as number),
    mean: round(sum / sorted.length),
  };
}

/** Events per second over a duration, rounded to 0.01; 0 for an empty duration. */
export function perSecond(count: number, durationMs: number): number {
  return durationMs <= 0 ? 0 : round((count * 1000) / durationMs);
}
