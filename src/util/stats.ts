/** Small statistics shared across layers: benchmarks' timing medians, the mean +- std of results over seeds. */

/** The median (numpy's: the mean of the two middle values for an even count); NaN for no values. */
export function median(xs: ArrayLike<number>): number {
  const s = Float64Array.from(xs).sort();
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The q-quantile (0..1) with linear interpolation between order statistics (numpy's default); NaN for no values. */
export function quantile(xs: ArrayLike<number>, q: number): number {
  return quantileSorted(Float64Array.from(xs).sort(), q);
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

/** The q-quantile (0..1) of values sorted ascending, linearly interpolated (numpy's default 'linear' method). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  if (!(q >= 0 && q <= 1)) throw new Error(`quantileSorted: q must be in [0, 1], got ${q}`);
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** A point estimate with its percentile-bootstrap interval (the shape results.json and scores.json carry). */
export interface Interval {
  mean: number;
  low: number;
  high: number;
}

export interface BootstrapOptions {
  resamples?: number;
  /** Coverage of the interval (default 0.95: the 2.5% and 97.5% percentiles). */
  level?: number;
  /** Uniform integers in [0, n): a seeded generator, so intervals are reproducible. */
  rng: { int(n: number): number };
}

/**
 * Two-level percentile bootstrap (Efron & Tibshirani 1993, ch. 13; resampling clusters then items within them,
 * Davison & Hinkley 1997, s. 3.8): `groups` are the independent top-level units (seeds), each holding its items
 * (tiles). Every resample draws groups with replacement, then items with replacement inside each drawn group,
 * and evaluates `stat` on the drawn items of each drawn group. `mean` is `stat` on the data as observed.
 */
export function bootstrapInterval<T>(
  groups: readonly (readonly T[])[],
  stat: (drawn: T[][]) => number,
  o: BootstrapOptions,
): Interval {
  const resamples = o.resamples ?? 1000;
  const level = o.level ?? 0.95;
  if (groups.length === 0 || groups.some((g) => g.length === 0)) {
    throw new Error(
      `bootstrapInterval: every group needs items (got ${groups.length} groups of sizes [${groups.map((g) => g.length).join(', ')}])`,
    );
  }
  const mean = stat(groups.map((g) => [...g]));
  const draws = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    const drawn: T[][] = [];
    for (let g = 0; g < groups.length; g++) {
      const group = groups[o.rng.int(groups.length)]!;
      drawn.push(Array.from({ length: group.length }, () => group[o.rng.int(group.length)]!));
    }
    draws[r] = stat(drawn);
  }
  const finite = Float64Array.from(draws.filter(Number.isFinite)).sort();
  const tail = (1 - level) / 2;
  return { mean, low: quantileSorted(finite, tail), high: quantileSorted(finite, 1 - tail) };
}

/**
 * F0.5 of calling every pixel ink at ink share p: precision p, recall 1, so 1.25p / (0.25p + 1) (the Kaggle
 * metric F0.5 = 1.25PR / (0.25P + R), docs/reference-study.md) - the chance level a threshold can always reach.
 */
export function allInkF05(p: number): number {
  if (!(p >= 0 && p <= 1)) throw new Error(`allInkF05: the ink share must be in [0, 1], got ${p}`);
  return (1.25 * p) / (1 + 0.25 * p);
}
