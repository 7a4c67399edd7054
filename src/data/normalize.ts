/**
 * Intensity normalisation of layer values into model-ready floats, as a first-class choice because public
 * pipelines disagree:
 *  - 'scale': v / 255, the reference study's albumentations `Normalize(mean=0, std=1)` on uint8 (docs/reference-study.md);
 *  - 'clip': the Grand-Prize-lineage ink detection code (ScrollPrize/villa ink-detection and its forks) does
 *    `np.clip(image, 0, 200)` on uint8 layers before its /255 normalisation; by default the window is stretched to [0, 1],
 *    or divided by `divisor` (255 reproduces villa exactly);
 *  - 'zscore': (v - mean) / std over a sample of the volume inside the mask;
 *  - 'percentile': the [p_low, p_high] percentiles of that sample mapped to [0, 1], clipped;
 *  - 'histogram': the sample's histogram matched to a reference volume's (quantile mapping, as
 *    skimage.exposure.match_histograms does), then / the reference's maximum value -> [0, 1];
 *  - 'none': values unchanged, as floats.
 * Values are integers (8- or 16-bit), so every choice is a lookup table over the value range.
 */
import type { PixelArray } from './io/tiff-strips.js';

/**
 * The normalisation ink models are trained with unless a dataset names its own, saved in their checkpoints and
 * applied again at inference: the 1st and 99.5th percentiles of the volume's values inside its mask (over the
 * z-range read, after any layer flip) mapped to 0 and 1. Per volume, so 8- and 16-bit scans, other grey levels
 * and offsets reach the model on one scale: air near 0, papyrus near 0.8, ink above it (docs/synthetic-data.md,
 * "Intensity"). 99.5 rather than 100 keeps a few hot voxels from setting the scale; only ~0.5% clip.
 */
export const DEFAULT_NORMALIZE = 'percentile:1:99.5';

export type NormalizeSpec =
  | { kind: 'none' }
  | { kind: 'scale'; divisor?: number }
  | { kind: 'clip'; low: number; high: number; divisor?: number }
  | { kind: 'zscore' }
  | { kind: 'percentile'; low: number; high: number }
  | { kind: 'histogram'; reference: ValueHistogram };

/** Counts of each integer value 0..bins-1 in a sample (bins = 256 for 8-bit values, 65536 for 16-bit). */
export interface ValueHistogram {
  bits: 8 | 16;
  counts: Float64Array;
  total: number;
}

export interface ValueStats {
  count: number;
  mean: number;
  std: number;
  min: number;
  max: number;
}

export interface Normalizer {
  readonly spec: NormalizeSpec;
  readonly bits: 8 | 16;
  /** Output for each input value. */
  readonly lut: Float32Array;
  /** Statistics of the sample the normalizer was fitted on (null when the spec needs none). */
  readonly stats: ValueStats | null;
  apply(values: PixelArray, out?: Float32Array): Float32Array;
}

export function emptyHistogram(bits: 8 | 16): ValueHistogram {
  return { bits, counts: new Float64Array(bits === 16 ? 65536 : 256), total: 0 };
}

/** Adds `values` (where `mask` is non-zero, if given) to `hist`. */
export function accumulateHistogram(hist: ValueHistogram, values: PixelArray, mask?: Uint8Array): ValueHistogram {
  if (values instanceof Uint16Array && hist.bits === 8) {
    throw new Error('accumulateHistogram: 16-bit values given to an 8-bit histogram; apply the bit-depth policy first');
  }
  if (mask !== undefined && mask.length !== values.length) {
    throw new Error(`accumulateHistogram: mask has ${mask.length} pixels, expected ${values.length} like the values`);
  }
  const c = hist.counts;
  let added = 0;
  if (mask === undefined) {
    for (let i = 0; i < values.length; i++) c[values[i]!]!++;
    added = values.length;
  } else {
    for (let i = 0; i < values.length; i++) {
      if (mask[i] !== 0) {
        c[values[i]!]!++;
        added++;
      }
    }
  }
  hist.total += added;
  return hist;
}

export function histogramOf(values: PixelArray, bits: 8 | 16, mask?: Uint8Array): ValueHistogram {
  return accumulateHistogram(emptyHistogram(bits), values, mask);
}

export function histogramStats(h: ValueHistogram): ValueStats {
  if (h.total === 0) throw new Error('histogramStats: empty sample (no pixels inside the mask were sampled)');
  let sum = 0;
  let min = -1;
  let max = 0;
  for (let v = 0; v < h.counts.length; v++) {
    const n = h.counts[v]!;
    if (n === 0) continue;
    if (min < 0) min = v;
    max = v;
    sum += n * v;
  }
  const mean = sum / h.total;
  let ss = 0;
  for (let v = min; v <= max; v++) {
    const n = h.counts[v]!;
    if (n !== 0) ss += n * (v - mean) * (v - mean);
  }
  return { count: h.total, mean, std: Math.sqrt(ss / h.total), min, max };
}

/** The p-th percentile (0..100) with linear interpolation between order statistics (numpy's default). */
export function histogramPercentile(h: ValueHistogram, p: number): number {
  if (h.total === 0) throw new Error('histogramPercentile: empty sample');
  if (!(p >= 0 && p <= 100)) throw new Error(`histogramPercentile: p must be in [0, 100], got ${p}`);
  const rank = (p / 100) * (h.total - 1);
  const lo = Math.floor(rank);
  const frac = rank - lo;
  const valueAtRank = (r: number): number => {
    let seen = 0;
    for (let v = 0; v < h.counts.length; v++) {
      seen += h.counts[v]!;
      if (seen > r) return v;
    }
    return h.counts.length - 1;
  };
  const a = valueAtRank(lo);
  return frac === 0 ? a : a + frac * (valueAtRank(lo + 1) - a);
}

/** Quantile (CDF) points of the values present in `h`: value v has quantile cumcount(v)/total. */
function quantilePoints(h: ValueHistogram): { values: number[]; quantiles: number[] } {
  const values: number[] = [];
  const quantiles: number[] = [];
  let seen = 0;
  for (let v = 0; v < h.counts.length; v++) {
    const n = h.counts[v]!;
    if (n === 0) continue;
    seen += n;
    values.push(v);
    quantiles.push(seen / h.total);
  }
  return { values, quantiles };
}

/** Piecewise-linear interpolation of (xs, ys) at x, clamped at the ends (numpy.interp). xs ascending. */
function interp(x: number, xs: number[], ys: number[]): number {
  if (x <= xs[0]!) return ys[0]!;
  if (x >= xs[xs.length - 1]!) return ys[ys.length - 1]!;
  let lo = 0;
  let hi = xs.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (xs[mid]! <= x) lo = mid;
    else hi = mid;
  }
  const x0 = xs[lo]!;
  const x1 = xs[hi]!;
  return x1 === x0 ? ys[lo]! : ys[lo]! + ((x - x0) / (x1 - x0)) * (ys[hi]! - ys[lo]!);
}

/** True for the choices fitted on a sample of the volume ('zscore', 'percentile', 'histogram'). */
export function needsSample(spec: NormalizeSpec): boolean {
  return spec.kind === 'zscore' || spec.kind === 'percentile' || spec.kind === 'histogram';
}

/**
 * Builds the lookup table for `spec` on values of `bits` bits; `sample` (a histogram of the volume inside its
 * mask) is required for 'zscore', 'percentile' and 'histogram'.
 */
export function fitNormalizer(spec: NormalizeSpec, bits: 8 | 16, sample: ValueHistogram | null = null): Normalizer {
  const size = bits === 16 ? 65536 : 256;
  const lut = new Float32Array(size);
  if (needsSample(spec)) {
    if (sample === null) throw new Error(`fitNormalizer: '${spec.kind}' normalisation needs a sample of the volume`);
    if (sample.bits !== bits)
      throw new Error(`fitNormalizer: sample histogram is ${sample.bits}-bit, expected ${bits}-bit like the values`);
  }
  const stats = sample !== null && sample.total > 0 ? histogramStats(sample) : null;
  switch (spec.kind) {
    case 'none':
      for (let v = 0; v < size; v++) lut[v] = v;
      break;
    case 'scale': {
      const d = spec.divisor ?? 255;
      if (!(d > 0)) throw new Error(`fitNormalizer: scale divisor must be > 0, got ${d}`);
      for (let v = 0; v < size; v++) lut[v] = v / d;
      break;
    }
    case 'clip': {
      const { low, high } = spec;
      if (!(high > low)) throw new Error(`fitNormalizer: clip window [${low}, ${high}] is empty, expected low < high`);
      for (let v = 0; v < size; v++) {
        const c = Math.min(high, Math.max(low, v));
        lut[v] = spec.divisor !== undefined ? c / spec.divisor : (c - low) / (high - low);
      }
      break;
    }
    case 'zscore': {
      const s = stats!;
      // A constant sample has std 0: centre it and leave the scale alone rather than dividing by zero.
      const std = s.std > 0 ? s.std : 1;
      for (let v = 0; v < size; v++) lut[v] = (v - s.mean) / std;
      break;
    }
    case 'percentile': {
      if (!(spec.low >= 0 && spec.high <= 100 && spec.low < spec.high)) {
        throw new Error(`fitNormalizer: percentiles [${spec.low}, ${spec.high}] must satisfy 0 <= low < high <= 100`);
      }
      const lo = histogramPercentile(sample!, spec.low);
      const hi = histogramPercentile(sample!, spec.high);
      const span = hi > lo ? hi - lo : 1;
      for (let v = 0; v < size; v++) lut[v] = Math.min(1, Math.max(0, (v - lo) / span));
      break;
    }
    case 'histogram': {
      const ref = spec.reference;
      if (ref.total === 0) throw new Error('fitNormalizer: reference histogram is empty');
      const src = quantilePoints(sample!);
      const dst = quantilePoints(ref);
      const refMax = ref.bits === 16 ? 65535 : 255;
      // Values present in the sample map through the quantiles; values between them are interpolated
      // linearly in value, and values outside the sample's range are clamped to its ends.
      const mapped = src.quantiles.map((q) => interp(q, dst.quantiles, dst.values) / refMax);
      for (let v = 0; v < size; v++) lut[v] = interp(v, src.values, mapped);
      break;
    }
  }
  return {
    spec,
    bits,
    lut,
    stats,
    apply(values: PixelArray, out?: Float32Array): Float32Array {
      if (values instanceof Uint16Array && bits === 8)
        throw new Error('Normalizer.apply: 16-bit values given to an 8-bit normalizer');
      const o = out ?? new Float32Array(values.length);
      if (o.length !== values.length)
        throw new Error(`Normalizer.apply: output has ${o.length} elements, expected ${values.length}`);
      for (let i = 0; i < values.length; i++) o[i] = lut[values[i]!]!;
      return o;
    },
  };
}

/**
 * Parses a CLI/config spelling: `none`, `scale[:D]`, `clip:LOW:HIGH[:D]`, `zscore`, `percentile:LOW:HIGH`.
 * (`histogram` needs a reference volume and is built in code.)
 */
export function parseNormalizeSpec(text: string): NormalizeSpec {
  const parts = text.split(':');
  const nums = parts.slice(1).map((p) => {
    const n = Number(p);
    if (p.trim() === '' || !Number.isFinite(n))
      throw new Error(`parseNormalizeSpec: '${text}' has a non-numeric argument '${p}'`);
    return n;
  });
  const kind = parts[0];
  const arity = (lo: number, hi: number): void => {
    if (nums.length < lo || nums.length > hi)
      throw new Error(`parseNormalizeSpec: '${kind}' takes ${lo === hi ? lo : `${lo}-${hi}`} numbers, got '${text}'`);
  };
  switch (kind) {
    case 'none':
      arity(0, 0);
      return { kind: 'none' };
    case 'scale':
      arity(0, 1);
      return nums[0] === undefined ? { kind: 'scale' } : { kind: 'scale', divisor: nums[0] };
    case 'clip':
      arity(2, 3);
      return nums[2] === undefined
        ? { kind: 'clip', low: nums[0]!, high: nums[1]! }
        : { kind: 'clip', low: nums[0]!, high: nums[1]!, divisor: nums[2] };
    case 'zscore':
      arity(0, 0);
      return { kind: 'zscore' };
    case 'percentile':
      arity(2, 2);
      return { kind: 'percentile', low: nums[0]!, high: nums[1]! };
    default:
      throw new Error(
        `parseNormalizeSpec: unknown normalisation '${text}', expected none, scale[:D], clip:LOW:HIGH[:D], zscore or percentile:LOW:HIGH`,
      );
  }
}
