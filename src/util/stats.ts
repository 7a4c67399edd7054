/** Small order statistics shared across layers (benchmarks' timing summaries). */

/** The median (numpy's: the mean of the two middle values for an even count); NaN for no values. */
export function median(xs: ArrayLike<number>): number {
  const s = Float64Array.from(xs).sort();
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
