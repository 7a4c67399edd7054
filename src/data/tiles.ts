/**
 * Tile selection as the reference study did it (docs/reference-study.md): a grid of tiles (128x128, stride 32 there), the
 * papyrus mask eroded with a 16x16 kernel, only tiles fully inside the eroded mask kept, all-zero tiles
 * skipped; plus the probe protocol's options: skipping tiles without ink and region splits (train on the
 * upper 70% of a fragment, validate on the lower 30%), and seedable shuffling.
 */
import type { VolumeArray } from './volume.js';
import { createRng } from './rng.js';

export interface Tile {
  /** Top-left corner in view pixels. */
  y: number;
  x: number;
  height: number;
  width: number;
}

/** A pixel rectangle [y0,y1) x [x0,x1); missing bounds mean the image edge. */
export interface Region {
  y0?: number;
  y1?: number;
  x0?: number;
  x1?: number;
}

export interface TileGridOptions {
  height: number;
  width: number;
  /** Tile side, or [height, width]. */
  tile: number | readonly [number, number];
  /** Step between tiles, or [dy, dx]. */
  stride: number | readonly [number, number];
}

export interface SelectTilesOptions extends TileGridOptions {
  /** {0,1} papyrus mask [height*width]; tiles must lie inside it (after erosion) by `minMaskFraction`. */
  mask?: Uint8Array | null;
  /** Erosion kernel side (or [h, w]) applied to the mask first; 0 for none. Default 16, as in the reference study. */
  erode?: number | readonly [number, number];
  /**
   * Share of a tile's pixels that must lie inside the eroded mask, in (0, 1]. Default 1: tiles fully inside, the
   * reference study's rule. A model trained so never sees the mask's border, where whole-fragment inference
   * still scores every pixel (docs/study-design.md, "Mask borders"); lower values also train on tiles that
   * straddle the border, their loss taken on the valid pixels only.
   */
  minMaskFraction?: number;
  /** Non-zero where any layer is non-zero ([height*width], see `contentMap`): all-zero tiles are skipped. */
  content?: Uint8Array | null;
  /** {0,1} ink labels [height*width]; with `requireInk`, tiles without any ink are skipped. */
  inkLabels?: Uint8Array | null;
  requireInk?: boolean;
  /** Keep only tiles fully inside this rectangle (e.g. one side of a train/validation split). */
  region?: Region;
}

function pair(v: number | readonly [number, number], what: string): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (!p.every((n) => Number.isInteger(n) && n > 0))
    throw new Error(`tiles: ${what} must be positive integers, got ${JSON.stringify(v)}`);
  return p;
}

/** Every tile position of the grid that fits in the image (top-left at multiples of the stride). */
export function tileGrid(opts: TileGridOptions): Tile[] {
  const [th, tw] = pair(opts.tile, 'tile size');
  const [sy, sx] = pair(opts.stride, 'stride');
  const out: Tile[] = [];
  for (let y = 0; y + th <= opts.height; y += sy) {
    for (let x = 0; x + tw <= opts.width; x += sx) out.push({ y, x, height: th, width: tw });
  }
  return out;
}

/**
 * Binary erosion of a {0,1} mask with a kh x kw box, with OpenCV's conventions (`cv2.erode` with a
 * rectangular kernel): the anchor is the kernel centre (k >> 1) and pixels outside the image do not erode.
 * Separable: a horizontal then a vertical running test "no zero inside the window", O(1) per pixel
 * whatever the kernel size, via running counts of zeros.
 */
export function erodeMask(
  mask: Uint8Array,
  height: number,
  width: number,
  kernel: number | readonly [number, number],
): Uint8Array {
  if (mask.length !== height * width)
    throw new Error(`erodeMask: mask has ${mask.length} pixels, expected ${height}x${width}`);
  const [kh, kw] = pair(kernel, 'erosion kernel');
  const horiz = new Uint8Array(mask.length);
  const ax = kw >> 1;
  // rowZeros[i] = number of zeros among the row's pixels [0, i)
  const rowZeros = new Int32Array(width + 1);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    let zerosBefore = 0;
    for (let x = 0; x < width; x++) {
      if (mask[row + x] === 0) zerosBefore++;
      rowZeros[x + 1] = zerosBefore;
    }
    for (let x = 0; x < width; x++) {
      const a = Math.max(0, x - ax);
      const b = Math.min(width, x - ax + kw);
      horiz[row + x] = rowZeros[b]! - rowZeros[a]! === 0 ? 1 : 0;
    }
  }
  const out = new Uint8Array(mask.length);
  const ay = kh >> 1;
  const prefix = new Int32Array(height + 1);
  for (let x = 0; x < width; x++) {
    let zerosBefore = 0;
    for (let y = 0; y < height; y++) {
      if (horiz[y * width + x] === 0) zerosBefore++;
      prefix[y + 1] = zerosBefore;
    }
    for (let y = 0; y < height; y++) {
      const a = Math.max(0, y - ay);
      const b = Math.min(height, y - ay + kh);
      out[y * width + x] = prefix[b]! - prefix[a]! === 0 ? 1 : 0;
    }
  }
  return out;
}

/** A summed-area table of `map != 0` for O(1) counts over rectangles. */
export class RectCounter {
  private readonly sat: Uint32Array;
  constructor(
    map: Uint8Array,
    readonly height: number,
    readonly width: number,
  ) {
    if (map.length !== height * width)
      throw new Error(`RectCounter: map has ${map.length} pixels, expected ${height}x${width}`);
    const W1 = width + 1;
    this.sat = new Uint32Array((height + 1) * W1);
    for (let y = 0; y < height; y++) {
      let rowSum = 0;
      for (let x = 0; x < width; x++) {
        rowSum += map[y * width + x] !== 0 ? 1 : 0;
        this.sat[(y + 1) * W1 + x + 1] = this.sat[y * W1 + x + 1]! + rowSum;
      }
    }
  }
  /** Number of set pixels in [y0,y1) x [x0,x1). */
  count(y0: number, y1: number, x0: number, x1: number): number {
    const W1 = this.width + 1;
    return this.sat[y1 * W1 + x1]! - this.sat[y0 * W1 + x1]! - this.sat[y1 * W1 + x0]! + this.sat[y0 * W1 + x0]!;
  }
}

/** 1 where any z-slice of `vol` is non-zero ([y*x]): the "not all-zero" map for `selectTiles`. */
export function contentMap(vol: VolumeArray): Uint8Array {
  const [d, h, w] = vol.shape;
  const plane = h * w;
  const out = new Uint8Array(plane);
  for (let z = 0; z < d; z++) {
    const base = z * plane;
    for (let i = 0; i < plane; i++) if (vol.data[base + i] !== 0) out[i] = 1;
  }
  return out;
}

/**
 * The tiles of the grid that pass every filter given: inside the region, inside the eroded mask (fully, or by
 * `minMaskFraction`),
 * not all-zero, with ink when `requireInk`. Throws for an empty mask (no tile could ever pass).
 */
export function selectTiles(opts: SelectTilesOptions): Tile[] {
  const { height: H, width: W } = opts;
  const plane = H * W;
  for (const [name, m] of [
    ['mask', opts.mask],
    ['content', opts.content],
    ['inkLabels', opts.inkLabels],
  ] as const) {
    if (m && m.length !== plane)
      throw new Error(`selectTiles: ${name} has ${m.length} pixels, expected ${H}x${W} = ${plane}`);
  }
  if (opts.requireInk && !opts.inkLabels) throw new Error('selectTiles: requireInk needs inkLabels');
  let inside: RectCounter | null = null;
  const minFraction = opts.minMaskFraction ?? 1;
  if (!(minFraction > 0 && minFraction <= 1))
    throw new Error(`selectTiles: minMaskFraction must be in (0, 1], got ${minFraction}`);
  if (opts.mask) {
    if (!opts.mask.some((v) => v !== 0))
      throw new Error(`selectTiles: the mask is empty (all zero), expected papyrus pixels to tile`);
    const erode = opts.erode ?? 16;
    const eroded = erode === 0 ? opts.mask : erodeMask(opts.mask, H, W, erode);
    inside = new RectCounter(eroded, H, W);
  }
  const content = opts.content ? new RectCounter(opts.content, H, W) : null;
  const ink = opts.requireInk && opts.inkLabels ? new RectCounter(opts.inkLabels, H, W) : null;
  const r = opts.region ?? {};
  const ry0 = r.y0 ?? 0;
  const ry1 = r.y1 ?? H;
  const rx0 = r.x0 ?? 0;
  const rx1 = r.x1 ?? W;
  return tileGrid(opts).filter((t) => {
    const y1 = t.y + t.height;
    const x1 = t.x + t.width;
    if (t.y < ry0 || y1 > ry1 || t.x < rx0 || x1 > rx1) return false;
    if (inside && inside.count(t.y, y1, t.x, x1) < Math.ceil(minFraction * t.height * t.width)) return false;
    if (content && content.count(t.y, y1, t.x, x1) === 0) return false;
    if (ink && ink.count(t.y, y1, t.x, x1) === 0) return false;
    return true;
  });
}

/**
 * Splits an image's rows: the upper `trainFraction` for training, the rest for validation (the reference study's
 * probe validated on the lower 30% of fragment 2: `splitRows(h, 0.7)`). Tiles straddling the boundary
 * belong to neither once selected with these regions, so no pixel is in both sets.
 */
export function splitRows(height: number, trainFraction: number): { train: Region; val: Region; splitRow: number } {
  if (!(trainFraction > 0 && trainFraction < 1))
    throw new Error(`splitRows: train fraction must be in (0, 1), got ${trainFraction}`);
  const splitRow = Math.round(height * trainFraction);
  return { train: { y0: 0, y1: splitRow }, val: { y0: splitRow, y1: height }, splitRow };
}

/** A shuffled copy of `tiles`, the same for the same seed. */
export function shuffleTiles<T>(tiles: readonly T[], seed: number): T[] {
  return createRng(seed).shuffle([...tiles]);
}
