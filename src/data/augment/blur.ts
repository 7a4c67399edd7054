/**
 * Per-slice blurs with OpenCV semantics (albumentations calls cv2.GaussianBlur and cv2.filter2D), border
 * reflect-101 (OpenCV's default). The same kernel is applied to every z-slice.
 */
import { reflectIndex } from './geometry.js';

/** OpenCV's sigma for a Gaussian kernel of size k when sigma is 0: 0.3 * ((k - 1) * 0.5 - 1) + 0.8. */
export function opencvSigma(ksize: number): number {
  return 0.3 * ((ksize - 1) * 0.5 - 1) + 0.8;
}

/**
 * cv2.getGaussianKernel's fixed tables for odd sizes <= 7 when sigma <= 0 (`small_gaussian_tab` in OpenCV's
 * imgproc/smooth): cv2.GaussianBlur(ksize, sigmaX=0), what albumentations' GaussianBlur calls with its default
 * sigma_limit 0, uses these binomial kernels rather than the sigma rule.
 */
const SMALL_GAUSSIAN: Record<number, readonly number[]> = {
  1: [1],
  3: [0.25, 0.5, 0.25],
  5: [0.0625, 0.25, 0.375, 0.25, 0.0625],
  7: [0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125],
};

/** The kernel cv2.GaussianBlur uses for size `ksize` and `sigma` (<= 0: OpenCV's table or sigma rule). */
export function opencvGaussianKernel(ksize: number, sigma: number): Float32Array {
  const table = SMALL_GAUSSIAN[ksize];
  if (sigma <= 0 && table !== undefined) return Float32Array.from(table);
  return gaussianKernel(ksize, sigma > 0 ? sigma : opencvSigma(ksize));
}

/** Normalised 1-D Gaussian kernel of odd size `ksize`. */
export function gaussianKernel(ksize: number, sigma: number): Float32Array {
  if (!Number.isInteger(ksize) || ksize < 1 || ksize % 2 !== 1)
    throw new Error(`gaussianBlur: kernel size must be odd, got ${ksize}`);
  const k = new Float32Array(ksize);
  const r = (ksize - 1) / 2;
  let sum = 0;
  for (let i = 0; i < ksize; i++) {
    const d = i - r;
    const v = Math.exp(-(d * d) / (2 * sigma * sigma));
    k[i] = v;
    sum += v;
  }
  for (let i = 0; i < ksize; i++) k[i] = (k[i] as number) / sum;
  return k;
}

/**
 * acc[accOff + x] += wt * src[rowOff + reflect101(x + dx)] for x in [0, w): the interior runs without index
 * tables or branches (a straight stream the JIT vectorises well); only the |dx| border columns reflect.
 */
export function accumulateRow(
  acc: Float32Array,
  accOff: number,
  src: Float32Array,
  rowOff: number,
  w: number,
  dx: number,
  wt: number,
): void {
  const lo = Math.min(w, Math.max(0, -dx));
  const hi = Math.max(lo, Math.min(w, w - dx));
  for (let x = 0; x < lo; x++)
    acc[accOff + x] = (acc[accOff + x] as number) + wt * (src[rowOff + reflectIndex(x + dx, w)] as number);
  const off = rowOff + dx;
  for (let x = lo; x < hi; x++) acc[accOff + x] = (acc[accOff + x] as number) + wt * (src[off + x] as number);
  for (let x = hi; x < w; x++)
    acc[accOff + x] = (acc[accOff + x] as number) + wt * (src[rowOff + reflectIndex(x + dx, w)] as number);
}

/**
 * Separable convolution of every [h, w] plane of `data` (in place) with a symmetric odd kernel of radius <= 3
 * (Gaussian kernels of size 3..7, albumentations' blur range) along x then y. The kernel is zero-padded to 7
 * taps so one branch-free loop serves every size; rows are padded by reflection for the x pass and row
 * offsets reflected for the y pass.
 */
export function symmetricBlurInPlace(
  data: Float32Array,
  depth: number,
  h: number,
  w: number,
  kernel: Float32Array,
): void {
  const r = (kernel.length - 1) / 2;
  if (!Number.isInteger(r) || r > 3) throw new Error(`blur: expected an odd kernel of size <= 7, got ${kernel.length}`);
  const k = (d: number) => (d <= r ? (kernel[r + d] as number) : 0);
  const k0 = k(0),
    k1 = k(1),
    k2 = k(2),
    k3 = k(3);
  const plane = h * w;
  const tmp = new Float32Array(plane);
  const row = new Float32Array(w + 6);
  const rowOff = new Int32Array(7 * h);
  for (let y = 0; y < h; y++) for (let d = -3; d <= 3; d++) rowOff[7 * y + d + 3] = reflectIndex(y + d, h) * w;
  const padIdx = [
    reflectIndex(-3, w),
    reflectIndex(-2, w),
    reflectIndex(-1, w),
    reflectIndex(w, w),
    reflectIndex(w + 1, w),
    reflectIndex(w + 2, w),
  ] as const;
  for (let z = 0; z < depth; z++) {
    const o = z * plane;
    for (let y = 0; y < h; y++) {
      const src = o + y * w;
      row.set(data.subarray(src, src + w), 3);
      row[0] = data[src + padIdx[0]] as number;
      row[1] = data[src + padIdx[1]] as number;
      row[2] = data[src + padIdx[2]] as number;
      row[w + 3] = data[src + padIdx[3]] as number;
      row[w + 4] = data[src + padIdx[4]] as number;
      row[w + 5] = data[src + padIdx[5]] as number;
      const dst = y * w;
      for (let x = 0; x < w; x++) {
        const c = x + 3;
        tmp[dst + x] =
          k0 * (row[c] as number) +
          k1 * ((row[c - 1] as number) + (row[c + 1] as number)) +
          k2 * ((row[c - 2] as number) + (row[c + 2] as number)) +
          k3 * ((row[c - 3] as number) + (row[c + 3] as number));
      }
    }
    for (let y = 0; y < h; y++) {
      const b = 7 * y;
      const m3 = rowOff[b] as number,
        m2 = rowOff[b + 1] as number,
        m1 = rowOff[b + 2] as number,
        c0 = rowOff[b + 3] as number;
      const p1 = rowOff[b + 4] as number,
        p2 = rowOff[b + 5] as number,
        p3 = rowOff[b + 6] as number;
      const dst = o + y * w;
      for (let x = 0; x < w; x++) {
        data[dst + x] =
          k0 * (tmp[c0 + x] as number) +
          k1 * ((tmp[m1 + x] as number) + (tmp[p1 + x] as number)) +
          k2 * ((tmp[m2 + x] as number) + (tmp[p2 + x] as number)) +
          k3 * ((tmp[m3 + x] as number) + (tmp[p3 + x] as number));
      }
    }
  }
}

/**
 * The kernel albumentations' MotionBlur draws (blur/transforms.py, 1.3.1, allow_shifted=True): a k x k zero
 * kernel with a 1-px line between two random points (cv2.line, 8-connected), normalised to sum 1.
 * Returned sparse: offsets (dy, dx) from the kernel anchor (centre, as cv2.filter2D's default) and weights.
 */
export interface SparseKernel {
  dy: Int32Array;
  dx: Int32Array;
  w: Float32Array;
}

/** 8-connected Bresenham line from (x1, y1) to (x2, y2), both ends included (cv2.line with LINE_8). */
export function linePixels(x1: number, y1: number, x2: number, y2: number): [number, number][] {
  const pts: [number, number][] = [];
  let x = x1;
  let y = y1;
  const dx = Math.abs(x2 - x1);
  const dy = -Math.abs(y2 - y1);
  const sx = x1 < x2 ? 1 : -1;
  const sy = y1 < y2 ? 1 : -1;
  let err = dx + dy;
  for (;;) {
    pts.push([x, y]);
    if (x === x2 && y === y2) break;
    const e2 = 2 * err;
    if (e2 >= dy) {
      err += dy;
      x += sx;
    }
    if (e2 <= dx) {
      err += dx;
      y += sy;
    }
  }
  return pts;
}

export function motionKernel(ksize: number, x1: number, y1: number, x2: number, y2: number): SparseKernel {
  const pts = linePixels(x1, y1, x2, y2);
  const anchor = Math.floor(ksize / 2);
  const n = pts.length;
  const k: SparseKernel = { dy: new Int32Array(n), dx: new Int32Array(n), w: new Float32Array(n) };
  pts.forEach(([x, y], i) => {
    k.dx[i] = x - anchor;
    k.dy[i] = y - anchor;
    k.w[i] = 1 / n;
  });
  return k;
}

/** cv2.filter2D (correlation, anchor at the centre, reflect-101) with a sparse kernel, every plane, in place. */
export function sparseFilterInPlace(data: Float32Array, depth: number, h: number, w: number, k: SparseKernel): void {
  const n = k.w.length;
  const plane = h * w;
  const tmp = new Float32Array(plane);
  for (let z = 0; z < depth; z++) {
    const o = z * plane;
    tmp.fill(0);
    for (let t = 0; t < n; t++) {
      const dx = k.dx[t] as number;
      const dy = k.dy[t] as number;
      const wt = k.w[t] as number;
      for (let y = 0; y < h; y++) accumulateRow(tmp, y * w, data, o + reflectIndex(y + dy, h) * w, w, dx, wt);
    }
    data.set(tmp, o);
  }
}
