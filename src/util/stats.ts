/** Small statistics shared across layers: benchmarks' timing medians, the mean +- std of results over seeds. */

/** The median (numpy's: the mean of the two middle values for an even count); NaN for no values. */
export function median(xs: ArrayLike<number>): number {
  const s = Float64Array.from(xs).sort();
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The q-quantile (0..1) with linear interpolation between order statistics (numpy's default); NaN for no values. */
export function quantile(xs: ArrayLike<number>, q: number): number {
  const s = Float64Array.from(xs).sort();
  if (s.length === 0) return Number.NaN;
  const at = q * (s.length - 1);
  const lo = Math.floor(at);
  const hi = Math.min(s.length - 1, lo + 1);
  return s[lo]! + (s[hi]! - s[lo]!) * (at - lo);
}

/** Where a ratio measured once per round falls: min, quartiles and max over the rounds. */
export interface Spread {
  min: number;
  q1: number;
  q3: number;
  max: number;
}

export function spreadOf(xs: readonly number[]): Spread {
  return { min: Math.min(...xs), q1: quantile(xs, 0.25), q3: quantile(xs, 0.75), max: Math.max(...xs) };
}

export interface Summary {
  /** Finite values counted. */
  n: number;
  mean: number;
  /** Sample standard deviation (n - 1); NaN for fewer than 2 values. */
  std: number;
}

/** Mean and sample standard deviation of the finite values (nulls and NaNs, e.g. an undefined AUC, skipped). */
export function summarize(values: readonly (number | null)[]): Summary {
  const v = values.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  const n = v.length;
  if (n === 0) return { n, mean: Number.NaN, std: Number.NaN };
  const mean = v.reduce((a, b) => a + b, 0) / n;
  const std = n < 2 ? Number.NaN : Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  return { n, mean, std };
}
