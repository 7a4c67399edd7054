/**
 * Texture and shape fields of the second synthetic family (docs/synthetic-data.md, family B), written apart
 * from the first family's blurred-noise fields on purpose: lattice value noise (random values on a coarse
 * grid, interpolated with a smoothstep, as Perlin's 1985 "value noise"), sums of random plane waves for the
 * wandering surface, and a [1, 2, 1] binomial blur for the scanner's point spread.
 */
import type { Random } from '../../augment/random.js';

/**
 * A [h, w] field of lattice value noise with cells of `cellY` x `cellX` px: unit-normal values on the grid
 * corners, blended with smoothstep weights. Anisotropic cells make fibre-like streaks. Roughly zero mean,
 * standard deviation below 1 (interpolation averages corners).
 */
export function valueNoise(h: number, w: number, cellY: number, cellX: number, rng: Random): Float32Array {
  if (!(cellY > 0 && cellX > 0)) throw new Error(`valueNoise: cell sizes must be > 0, got ${cellY}x${cellX}`);
  const gh = Math.ceil(h / cellY) + 2;
  const gw = Math.ceil(w / cellX) + 2;
  const grid = new Float32Array(gh * gw);
  for (let i = 0; i < grid.length; i++) grid[i] = rng.normal();
  // A random sub-cell phase so that grid lines do not line up between fields.
  const oy = rng.uniform(0, cellY);
  const ox = rng.uniform(0, cellX);
  const out = new Float32Array(h * w);
  const smooth = (t: number) => t * t * (3 - 2 * t);
  for (let y = 0; y < h; y++) {
    const fy = (y + oy) / cellY;
    const iy = Math.floor(fy);
    const ty = smooth(fy - iy);
    for (let x = 0; x < w; x++) {
      const fx = (x + ox) / cellX;
      const ix = Math.floor(fx);
      const tx = smooth(fx - ix);
      const a = grid[iy * gw + ix] as number;
      const b = grid[iy * gw + ix + 1] as number;
      const c = grid[(iy + 1) * gw + ix] as number;
      const d = grid[(iy + 1) * gw + ix + 1] as number;
      out[y * w + x] = (a * (1 - tx) + b * tx) * (1 - ty) + (c * (1 - tx) + d * tx) * ty;
    }
  }
  return out;
}

/**
 * A smooth [h, w] height field: `waves` plane waves cos(k.x + phase) with random directions and wavelengths in
 * [minLength, maxLength] px, scaled so that the sum has standard deviation `std` (each wave contributes
 * amplitude^2 / 2 of variance).
 */
export function waveField(
  h: number,
  w: number,
  waves: number,
  minLength: number,
  maxLength: number,
  std: number,
  rng: Random,
): Float32Array {
  const out = new Float32Array(h * w);
  if (waves < 1 || std === 0) return out;
  const amp = std * Math.sqrt(2 / waves);
  for (let k = 0; k < waves; k++) {
    const theta = rng.uniform(0, 2 * Math.PI);
    const len = rng.uniform(minLength, maxLength);
    const ky = (2 * Math.PI * Math.sin(theta)) / len;
    const kx = (2 * Math.PI * Math.cos(theta)) / len;
    const phase = rng.uniform(0, 2 * Math.PI);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) out[y * w + x] = (out[y * w + x] as number) + amp * Math.cos(ky * y + kx * x + phase);
    }
  }
  return out;
}

/**
 * One pass of the [1, 2, 1] / 4 binomial filter along the middle axis of [outer, n, inner] (edges replicate).
 * Repeated k times it approximates a Gaussian of sigma sqrt(k / 2).
 */
export function binomialPass(src: Float32Array, outer: number, n: number, inner: number): Float32Array {
  if (src.length !== outer * n * inner) {
    throw new Error(`binomialPass: ${src.length} values do not form [${outer}, ${n}, ${inner}]`);
  }
  const dst = new Float32Array(src.length);
  for (let o = 0; o < outer; o++) {
    const base = o * n * inner;
    for (let i = 0; i < n; i++) {
      const prev = base + Math.max(0, i - 1) * inner;
      const cur = base + i * inner;
      const next = base + Math.min(n - 1, i + 1) * inner;
      for (let k = 0; k < inner; k++) {
        const a = src[prev + k] as number;
        const b = src[cur + k] as number;
        const c = src[next + k] as number;
        dst[cur + k] = 0.25 * a + 0.5 * b + 0.25 * c;
      }
    }
  }
  return dst;
}

/**
 * A valid region made of 2..4 overlapping ellipses whose radii wobble with the angle (a few harmonics), a
 * different outline from the first family's thresholded blob. Returns 0/1 per pixel.
 */
export function ellipseRegion(h: number, w: number, rng: Random): Uint8Array {
  const mask = new Uint8Array(h * w);
  const n = rng.int(2, 4);
  for (let e = 0; e < n; e++) {
    const cy = h * rng.uniform(0.35, 0.65);
    const cx = w * rng.uniform(0.35, 0.65);
    const ry = h * rng.uniform(0.22, 0.4);
    const rx = w * rng.uniform(0.22, 0.4);
    const rot = rng.uniform(0, Math.PI);
    const harm = [2, 3, 5].map((k) => ({ k, a: rng.uniform(0, 0.12), p: rng.uniform(0, 2 * Math.PI) }));
    const c = Math.cos(rot);
    const s = Math.sin(rot);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const dy = y - cy;
        const dx = x - cx;
        const u = (dx * c + dy * s) / rx;
        const v = (-dx * s + dy * c) / ry;
        const ang = Math.atan2(v, u);
        let r = 1;
        for (const hm of harm) r += hm.a * Math.cos(hm.k * ang + hm.p);
        if (u * u + v * v <= r * r) mask[y * w + x] = 1;
      }
    }
  }
  return mask;
}
