/**
 * Correlated noise for the synthetic scrolls: white Gaussian noise blurred with a separable Gaussian
 * (docs/synthetic-data.md gives correlation lengths as blur sigmas). Small sigmas use an exact kernel; large
 * ones three box passes (a box filter repeated three times approximates a Gaussian within a few percent:
 * Wells 1986; box widths from the "boxes for Gauss" rule), each pass a running sum, so the cost does not grow
 * with sigma. Arrays are C-ordered and viewed as [outer, n, inner] to blur along the middle axis; the inner
 * block is processed as contiguous rows so every axis streams through memory.
 */
import type { Random } from '../augment/random.js';
import { reflect101 } from '../augment/geometry.js';

/** Reflect-101 of an integer index, for any distance outside [0, n). */
function refl(i: number, n: number): number {
  return i >= 0 && i < n ? i : reflect101(i, n);
}

/** Widths of `passes` box filters whose repeated application matches a Gaussian of `sigma`. */
export function boxWidths(sigma: number, passes = 3): number[] {
  const ideal = Math.sqrt((12 * sigma * sigma) / passes + 1);
  let wl = Math.floor(ideal);
  if (wl % 2 === 0) wl--;
  const wu = wl + 2;
  const m = Math.round((12 * sigma * sigma - passes * wl * wl - 4 * passes * wl - 3 * passes) / (-4 * wl - 4));
  return Array.from({ length: passes }, (_, i) => (i < m ? wl : wu));
}

/** One box pass of radius r along the middle axis of [outer, n, inner]; writes `dst`. */
function boxPass(src: Float32Array, dst: Float32Array, outer: number, n: number, inner: number, r: number): void {
  const inv = 1 / (2 * r + 1);
  const sum = new Float64Array(inner);
  for (let o = 0; o < outer; o++) {
    const base = o * n * inner;
    sum.fill(0);
    for (let j = -r; j <= r; j++) {
      const row = base + refl(j, n) * inner;
      for (let k = 0; k < inner; k++) sum[k] = (sum[k] as number) + (src[row + k] as number);
    }
    for (let i = 0; i < n; i++) {
      const out = base + i * inner;
      for (let k = 0; k < inner; k++) dst[out + k] = (sum[k] as number) * inv;
      const add = base + refl(i + r + 1, n) * inner;
      const sub = base + refl(i - r, n) * inner;
      for (let k = 0; k < inner; k++) sum[k] = (sum[k] as number) + (src[add + k] as number) - (src[sub + k] as number);
    }
  }
}

/** Running-sum box pass along the last axis (inner = 1), row by row. */
function boxPassRows(src: Float32Array, dst: Float32Array, rows: number, n: number, r: number): void {
  const inv = 1 / (2 * r + 1);
  for (let o = 0; o < rows; o++) {
    const base = o * n;
    let sum = 0;
    for (let j = -r; j <= r; j++) sum += src[base + refl(j, n)] as number;
    for (let i = 0; i < n; i++) {
      dst[base + i] = sum * inv;
      sum += (src[base + refl(i + r + 1, n)] as number) - (src[base + refl(i - r, n)] as number);
    }
  }
}

/** Exact Gaussian convolution (radius ceil(3 sigma), reflect-101) along the middle axis; writes `dst`. */
function kernelPass(
  src: Float32Array,
  dst: Float32Array,
  outer: number,
  n: number,
  inner: number,
  sigma: number,
): void {
  const r = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float32Array(2 * r + 1);
  let s = 0;
  for (let i = -r; i <= r; i++) s += k[i + r] = Math.exp(-(i * i) / (2 * sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i] = (k[i] as number) / s;
  for (let o = 0; o < outer; o++) {
    const base = o * n * inner;
    for (let i = 0; i < n; i++) {
      const out = base + i * inner;
      dst.fill(0, out, out + inner);
      for (let t = -r; t <= r; t++) {
        const wt = k[t + r] as number;
        const row = base + refl(i + t, n) * inner;
        if (inner === 1) dst[out] = (dst[out] as number) + wt * (src[row] as number);
        else for (let q = 0; q < inner; q++) dst[out + q] = (dst[out + q] as number) + wt * (src[row + q] as number);
      }
    }
  }
}

/**
 * Gaussian blur of `data`, viewed as [outer, n, inner], along its middle axis. Returns the blurred array
 * (`data` itself is used as scratch space and must not be used afterwards).
 */
export function blurAxis(data: Float32Array, outer: number, n: number, inner: number, sigma: number): Float32Array {
  if (data.length !== outer * n * inner)
    throw new Error(`blurAxis: ${data.length} values do not form [${outer}, ${n}, ${inner}]`);
  if (!(sigma > 0) || n === 1) return data;
  let src: Float32Array = data;
  let dst: Float32Array = new Float32Array(data.length);
  if (sigma < 2.5) {
    kernelPass(src, dst, outer, n, inner, sigma);
    return dst;
  }
  for (const w of boxWidths(sigma)) {
    const r = (w - 1) / 2;
    if (inner === 1) boxPassRows(src, dst, outer, n, r);
    else boxPass(src, dst, outer, n, inner, r);
    [src, dst] = [dst, src];
  }
  return src;
}

/** Shifts and scales `field` in place to mean 0, standard deviation 1 (a constant field becomes 0). */
export function standardize(field: Float32Array): Float32Array {
  let m = 0;
  for (const v of field) m += v;
  m /= field.length;
  let s = 0;
  for (const v of field) s += (v - m) * (v - m);
  s = Math.sqrt(s / field.length);
  const inv = s > 0 ? 1 / s : 0;
  for (let i = 0; i < field.length; i++) field[i] = ((field[i] as number) - m) * inv;
  return field;
}

/** A [h, w] field of unit-variance Gaussian noise with correlation lengths (blur sigmas) sigmaY, sigmaX. */
/** How a sheet's surface wanders: amplitude (layers) times unit-variance noise of this correlation length (px). */
export interface SurfaceWander {
  amplitude: number;
  length: number;
}

/** `wander`, or `fallback` where absent, checked: a negative amplitude or a non-positive length is an error. */
export function surfaceWander(op: string, wander: SurfaceWander | undefined, fallback: SurfaceWander): SurfaceWander {
  const w = wander ?? fallback;
  if (!(w.amplitude >= 0 && w.length > 0))
    throw new Error(`${op}: wander needs amplitude >= 0 and length > 0, got ${w.amplitude}, ${w.length}`);
  return w;
}

export function smoothNoise2D(h: number, w: number, sigmaY: number, sigmaX: number, rng: Random): Float32Array {
  let f = rng.fillNormalFast(new Float32Array(h * w));
  f = blurAxis(f, h, w, 1, sigmaX);
  f = blurAxis(f, 1, h, w, sigmaY);
  return standardize(f);
}

/** A [d, h, w] field of unit-variance Gaussian noise, blurred with the given sigmas along z, y and x. */
export function smoothNoise3D(
  d: number,
  h: number,
  w: number,
  sigmaZ: number,
  sigmaY: number,
  sigmaX: number,
  rng: Random,
): Float32Array {
  let f = rng.fillNormalFast(new Float32Array(d * h * w));
  f = blurAxis(f, d * h, w, 1, sigmaX);
  f = blurAxis(f, d, h, w, sigmaY);
  f = blurAxis(f, 1, d, h * w, sigmaZ);
  return standardize(f);
}

/** The value of `field` at quantile q (0..1), over the entries where `where` is set (all if omitted). */
export function quantile(field: ArrayLike<number>, q: number, where?: ArrayLike<number>): number {
  const vals: number[] = [];
  for (let i = 0; i < field.length; i++)
    if (where === undefined || (where[i] as number) > 0) vals.push(field[i] as number);
  if (vals.length === 0) throw new Error('quantile: no values selected');
  vals.sort((a, b) => a - b);
  return vals[Math.min(vals.length - 1, Math.max(0, Math.floor(q * (vals.length - 1))))] as number;
}
