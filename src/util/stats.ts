/** Small statistics shared across layers: benchmarks' timing medians, the mean +- std of results over seeds. */

/** The median (numpy's: the mean of the two middle values for an even count); NaN for no values. */
export function median(xs: ArrayLike<number>): number {
  const s = Float64Array.from(xs).sort();
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
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
