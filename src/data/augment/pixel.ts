/**
 * Intensity and dropout ops, applied in place to every z-slice of a crop. Parameter draws follow
 * albumentations 1.3.1 (the version the reference study installed), in the same order, so configs mean the same thing.
 * Values live on the 0..255 scale until `normalize`; every op that can leave that range clamps (the reference study added
 * its brightness offset to uint8 data, which wrapped around: docs/reference-study.md calls it a bug). Unlike
 * albumentations on uint8 input, values stay float between ops (no rounding to integers after each op).
 */
import type { Crop } from './types.js';
import { normalTable16, type Random } from './random.js';
import { motionKernel, opencvGaussianKernel, symmetricBlurInPlace, sparseFilterInPlace } from './blur.js';

/** albumentations.GaussNoise: var ~ U(varLimit), sigma = sqrt(var); the uint8 result is clipped to [0, 255]. */
export function gaussNoise(
  crop: Crop,
  rng: Random,
  varLimit: readonly [number, number],
  mean: number,
  perVoxel: boolean,
  maxValue: number,
): void {
  const sigma = Math.sqrt(rng.uniform(varLimit[0], varLimit[1]));
  const data = crop.data;
  const plane = crop.height * crop.width;
  if (perVoxel) {
    // Inline draws through the quantile table (see Random.fillNormalFast): no noise buffer to allocate.
    const table = normalTable16();
    const n = data.length;
    for (let i = 0; i < n; i += 2) {
      const u = rng.nextUint32();
      const a = (data[i] as number) + mean + sigma * (table[u & 0xffff] as number);
      data[i] = a < 0 ? 0 : Math.min(a, maxValue);
      if (i + 1 < n) {
        const b = (data[i + 1] as number) + mean + sigma * (table[u >>> 16] as number);
        data[i + 1] = b < 0 ? 0 : Math.min(b, maxValue);
      }
    }
    return;
  }
  const noise = rng.fillNormalFast(new Float32Array(plane), mean, sigma);
  for (let z = 0, o = 0; z < crop.depth; z++, o += plane) {
    for (let i = 0; i < plane; i++) {
      const v = (data[o + i] as number) + (noise[i] as number);
      data[o + i] = v < 0 ? 0 : Math.min(v, maxValue);
    }
  }
}

/**
 * albumentations.GaussianBlur (blur_limit (3, 7), sigma 0): ksize = randrange(lo, hi + 1), an even draw becomes
 * (ksize + 1) % (hi + 1); cv2.GaussianBlur with sigma 0 then uses OpenCV's fixed binomial kernel for that size.
 */
export function gaussianBlur(crop: Crop, rng: Random, blurLimit: readonly [number, number]): void {
  const [lo, hi] = blurLimit;
  let ksize = rng.int(lo, hi);
  if (ksize % 2 !== 1) ksize = (ksize + 1) % (hi + 1);
  if (ksize < 3) return;
  const k = opencvGaussianKernel(ksize, 0);
  symmetricBlurInPlace(crop.data, crop.depth, crop.height, crop.width, k);
}

/**
 * albumentations.MotionBlur (blur_limit 7 -> (3, 7), allow_shifted): ksize from the odd sizes in range, a line
 * from (x1, y1) to (x2, y2) with x1, x2 = randint(0, k-1); if x1 == x2 then y1, y2 are two distinct rows
 * (random.sample), else two randint draws.
 */
export function motionBlur(crop: Crop, rng: Random, blurLimit: readonly [number, number]): void {
  const sizes: number[] = [];
  for (let k = blurLimit[0]; k <= blurLimit[1]; k += 2) sizes.push(k);
  const ksize = rng.choice(sizes);
  if (ksize <= 2) throw new Error(`motionBlur: kernel size must be > 2, got ${ksize}`);
  const x1 = rng.int(0, ksize - 1);
  const x2 = rng.int(0, ksize - 1);
  let y1: number;
  let y2: number;
  if (x1 === x2) {
    [y1, y2] = rng.sample(ksize, 2) as [number, number];
  } else {
    y1 = rng.int(0, ksize - 1);
    y2 = rng.int(0, ksize - 1);
  }
  sparseFilterInPlace(crop.data, crop.depth, crop.height, crop.width, motionKernel(ksize, x1, y1, x2, y2));
}

/** Fills the rectangle [y1, y2) x [x1, x2) of every slice. */
function fillRect(crop: Crop, x1: number, y1: number, x2: number, y2: number, value: number): void {
  const { data, depth, height, width } = crop;
  const plane = height * width;
  for (let z = 0; z < depth; z++) {
    for (let y = y1; y < y2; y++) data.fill(value, z * plane + y * width + x1, z * plane + y * width + x2);
  }
}

function fillLabelRect(
  label: Uint8Array | Float32Array,
  width: number,
  x1: number,
  y1: number,
  x2: number,
  y2: number,
  value: number,
): void {
  for (let y = y1; y < y2; y++) label.fill(value, y * width + x1, y * width + x2);
}

/** A hole size: below 1 a fraction of the side floored (the reference study's int(size * 0.06)), else pixels. */
export function holeSize(spec: number, side: number): number {
  return spec < 1 ? Math.max(1, Math.floor(spec * side)) : Math.min(Math.floor(spec), side);
}

export interface CoarseDropoutParams {
  minHoles: number;
  maxHoles: number;
  minHeight: number;
  maxHeight: number;
  minWidth: number;
  maxWidth: number;
  fillValue: number;
  maskFillValue: number | null;
}

/**
 * albumentations.CoarseDropout (1.3.1): randint(minHoles, maxHoles) holes; each hole's size is randint in its
 * range, its corner randint(0, side - size). `maskFillValue` fills the ink label (the reference study used 0); the valid
 * mask is left alone, since the hole is an augmentation, not missing data.
 */
export function coarseDropout(crop: Crop, rng: Random, p: CoarseDropoutParams): void {
  const H = crop.height;
  const W = crop.width;
  const minH = holeSize(p.minHeight, H);
  const maxH = holeSize(p.maxHeight, H);
  const minW = holeSize(p.minWidth, W);
  const maxW = holeSize(p.maxWidth, W);
  const n = rng.int(p.minHoles, p.maxHoles);
  for (let k = 0; k < n; k++) {
    const hh = rng.int(Math.min(minH, maxH), maxH);
    const hw = rng.int(Math.min(minW, maxW), maxW);
    const y1 = rng.int(0, H - hh);
    const x1 = rng.int(0, W - hw);
    fillRect(crop, x1, y1, x1 + hw, y1 + hh, p.fillValue);
    if (p.maskFillValue !== null && crop.label !== undefined)
      fillLabelRect(crop.label, W, x1, y1, x1 + hw, y1 + hh, p.maskFillValue);
  }
}

/**
 * albumentations.Cutout (1.3.1, image only): per hole a centre y = randint(0, H), x = randint(0, W); the hole
 * [y - h//2, y - h//2 + h) is clipped to the image, so holes near an edge are smaller.
 */
export function cutout(
  crop: Crop,
  rng: Random,
  numHoles: number,
  hSpec: number,
  wSpec: number,
  fillValue: number,
): void {
  const H = crop.height;
  const W = crop.width;
  const mh = holeSize(hSpec, H);
  const mw = holeSize(wSpec, W);
  const clip = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
  for (let k = 0; k < numHoles; k++) {
    const y = rng.int(0, H);
    const x = rng.int(0, W);
    const y1 = clip(y - Math.floor(mh / 2), H);
    const y2 = clip(y1 + mh, H);
    const x1 = clip(x - Math.floor(mw / 2), W);
    const x2 = clip(x1 + mw, W);
    fillRect(crop, x1, y1, x2, y2, fillValue);
  }
}

/**
 * albumentations.RandomBrightnessContrast (brightness_by_max=True): alpha = 1 + U(-c, c), beta = U(-b, b),
 * v' = v * alpha + beta * maxValue, clipped to [0, maxValue] (albumentations' uint8 LUT is clipped too).
 */
export function brightnessContrast(
  crop: Crop,
  rng: Random,
  brightnessLimit: number,
  contrastLimit: number,
  maxValue: number,
): void {
  const alpha = 1 + rng.uniform(-contrastLimit, contrastLimit);
  const beta = rng.uniform(-brightnessLimit, brightnessLimit) * maxValue;
  const data = crop.data;
  for (let i = 0; i < data.length; i++) {
    const v = (data[i] as number) * alpha + beta;
    data[i] = v < 0 ? 0 : Math.min(v, maxValue);
  }
}

/** albumentations.RandomGamma: gamma = U(gammaLimit) / 100; v' = maxValue * (v / maxValue) ^ gamma. */
export function gamma(crop: Crop, rng: Random, gammaLimit: readonly [number, number], maxValue: number): void {
  const g = rng.uniform(gammaLimit[0], gammaLimit[1]) / 100;
  const data = crop.data;
  const inv = 1 / maxValue;
  for (let i = 0; i < data.length; i++) {
    const v = data[i] as number;
    data[i] = v <= 0 ? 0 : v >= maxValue ? maxValue : maxValue * (v * inv) ** g;
  }
}

/**
 * albumentations.ChannelDropout over z-slices: randint(lo, hi) slices chosen by random.sample, filled with
 * `fillValue`. Like albumentations it refuses to drop every slice.
 */
export function channelDropout(crop: Crop, rng: Random, dropRange: readonly [number, number], fillValue: number): void {
  if (dropRange[1] >= crop.depth) {
    throw new Error(
      `channelDropout: cannot drop up to ${dropRange[1]} of ${crop.depth} slices (at least one must remain)`,
    );
  }
  const n = rng.int(dropRange[0], dropRange[1]);
  const plane = crop.height * crop.width;
  for (const z of rng.sample(crop.depth, n)) crop.data.fill(fillValue, z * plane, (z + 1) * plane);
}

/** The reference study's brightness offset, drawn from `choices` and clamped to [0, maxValue] instead of wrapping. */
export function brightnessOffset(crop: Crop, rng: Random, choices: readonly number[], maxValue: number): void {
  const off = rng.choice(choices);
  if (off === 0) return;
  const data = crop.data;
  for (let i = 0; i < data.length; i++) {
    const v = (data[i] as number) + off;
    data[i] = v < 0 ? 0 : Math.min(v, maxValue);
  }
}

/** albumentations.Normalize: (v - mean * maxPixelValue) / (std * maxPixelValue). */
export function normalize(crop: Crop, mean: number, std: number, maxPixelValue: number): void {
  const m = mean * maxPixelValue;
  const s = 1 / (std * maxPixelValue);
  const data = crop.data;
  for (let i = 0; i < data.length; i++) data[i] = ((data[i] as number) - m) * s;
}
