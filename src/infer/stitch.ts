/**
 * The pure core of sliding-window inference, without files or tensors: where the windows go, how much each
 * window's prediction counts at each pixel, and the accumulation of the tiles into one probability map.
 *
 * Two ways to weigh a tile:
 *  - 'edge' (default): the outer `border` pixels of every tile are dropped and the kept centres are averaged
 *    where they overlap - the 2nd place Kaggle ink-detection solution's "discard outer edge of each tile" and
 *    the reference study's "inference without outer edges" (docs/reference-study.md, the write-up's point 5). A convolution
 *    near a tile's edge sees zero padding instead of papyrus; dropping that band leaves only predictions made
 *    with their whole context. Where a tile edge lies on the image border there is no neighbour to cover it, so
 *    that side is kept (the whole-image forward pads there too).
 *  - 'gaussian': every tile pixel counts with a separable Gaussian weight centred in the tile, and the map is
 *    the weighted average sum(w p) / sum(w). The Grand Prize ink-detection code (younader/Vesuvius-Grandprize-
 *    Winner, `inference_timesformer.py`, `gkern(size, 1)`) multiplies each tile by a Gaussian spanning +-1 sigma
 *    (sigma = tile/2) but then divides by the plain window count; dividing by the summed weights instead makes
 *    a window-independent prediction come back unchanged. The default sigma here is tile/4.
 *
 * Windows start at 0, stride, 2 stride, ... and the last one is placed flush with the far border, so the
 * whole image is covered by tiles of one size (the Grand Prize code pads the image to a multiple of the tile
 * instead, which feeds the model zeros beyond the border).
 */

export interface Window {
  /** Top-left corner in the map's pixels. */
  y: number;
  x: number;
}

export type Blend = { mode: 'edge'; border: number } | { mode: 'gaussian'; sigma: number };

export interface StitchGeometry {
  height: number;
  width: number;
  /** Square window side. */
  tile: number;
  stride: number;
  blend: Blend;
}

/** The reference study's default: an eighth of the tile dropped on each side (16 px of a 128 px tile). */
export function defaultBorder(tile: number): number {
  return Math.floor(tile / 8);
}

/** The default Gaussian width: a quarter of the tile. */
export function defaultSigma(tile: number): number {
  return tile / 4;
}

const isCount = (v: number): boolean => Number.isInteger(v) && v > 0;

/** Checks a geometry, naming the operation and what was expected; every later step relies on it. */
export function checkGeometry(g: StitchGeometry, op = 'stitch'): void {
  const { height: H, width: W, tile, stride, blend } = g;
  if (!isCount(H) || !isCount(W)) throw new Error(`${op}: image size must be positive integers, got ${H}x${W} (HxW)`);
  if (!isCount(tile)) throw new Error(`${op}: tile must be a positive integer, got ${tile}`);
  if (tile > H || tile > W) {
    throw new Error(
      `${op}: tile ${tile} is larger than the image (${H}x${W} HxW at the model's resolution); use a tile of at most ${Math.min(H, W)}`,
    );
  }
  if (!isCount(stride) || stride > tile)
    throw new Error(`${op}: stride must be an integer in 1..tile (${tile}), got ${stride}`);
  if (blend.mode === 'edge') {
    const b = blend.border;
    if (!Number.isInteger(b) || b < 0 || 2 * b >= tile)
      throw new Error(`${op}: border must be an integer with 0 <= border < tile/2 (tile ${tile}), got ${b}`);
    if (stride > tile - 2 * b) {
      throw new Error(
        `${op}: stride ${stride} with border ${b} leaves pixels that no tile keeps: the kept centre is ${tile - 2 * b} px, expected stride <= tile - 2*border = ${tile - 2 * b}`,
      );
    }
  } else if (blend.mode === 'gaussian') {
    if (!(blend.sigma > 0) || !Number.isFinite(blend.sigma))
      throw new Error(`${op}: gaussian sigma must be a positive number, got ${blend.sigma}`);
  } else {
    throw new Error(`${op}: blend must be 'edge' or 'gaussian', got '${String((blend as { mode: unknown }).mode)}'`);
  }
}

/** Window starts along one axis: 0, stride, 2 stride, ..., with the last one flush with the end (tile <= length). */
export function windowStarts(length: number, tile: number, stride: number): number[] {
  const last = length - tile;
  const starts: number[] = [];
  for (let s = 0; s < last; s += stride) starts.push(s);
  starts.push(last);
  return starts;
}

/** Whether any pixel of the tile x tile window at (y, x) is inside the mask (scans rows, stops at the first hit). */
function touchesMask(mask: Uint8Array, width: number, y: number, x: number, tile: number): boolean {
  for (let r = y; r < y + tile; r++) {
    const row = r * width;
    for (let c = x; c < x + tile; c++) if (mask[row + c] !== 0) return true;
  }
  return false;
}

/**
 * Every window, row by row (top to bottom, left to right). With a mask ({0,1} [y,x] of the map's size),
 * windows entirely outside it are skipped; every masked pixel stays covered, because each window that keeps a
 * masked pixel contains that pixel.
 */
export function placeWindows(g: Omit<StitchGeometry, 'blend'>, mask: Uint8Array | null = null): Window[] {
  if (mask !== null && mask.length !== g.height * g.width) {
    throw new Error(
      `placeWindows: mask has ${mask.length} pixels, expected ${g.height}x${g.width} = ${g.height * g.width} like the image`,
    );
  }
  const ys = windowStarts(g.height, g.tile, g.stride);
  const xs = windowStarts(g.width, g.tile, g.stride);
  const out: Window[] = [];
  for (const y of ys) {
    for (const x of xs) {
      if (mask === null || touchesMask(mask, g.width, y, x, g.tile)) out.push({ y, x });
    }
  }
  return out;
}

/** exp(-(i - c)^2 / (2 sigma^2)) for i in 0..tile-1, c the tile's centre ((tile-1)/2). */
export function gaussianProfile(tile: number, sigma: number): Float32Array {
  const c = (tile - 1) / 2;
  const out = new Float32Array(tile);
  for (let i = 0; i < tile; i++) out[i] = Math.exp(-((i - c) ** 2) / (2 * sigma * sigma));
  return out;
}

/**
 * Accumulates tile predictions into sum(w p) and sum(w); `finish` divides. Memory: two float32 planes of the
 * map's size.
 */
export class Stitcher {
  readonly geometry: StitchGeometry;
  #sum: Float32Array;
  #weight: Float32Array;
  #profile: Float32Array | null;
  #tiles = 0;
  #done = false;

  constructor(g: StitchGeometry) {
    checkGeometry(g, 'Stitcher');
    this.geometry = g;
    this.#sum = new Float32Array(g.height * g.width);
    this.#weight = new Float32Array(g.height * g.width);
    this.#profile = g.blend.mode === 'gaussian' ? gaussianProfile(g.tile, g.blend.sigma) : null;
  }

  get tiles(): number {
    return this.#tiles;
  }

  /** Adds one tile's probabilities (tile x tile, row-major, starting at `offset` of `probs`) at window `win`. */
  add(win: Window, probs: Float32Array, offset = 0): void {
    if (this.#done) throw new Error('Stitcher.add: the map was already finished');
    const { height: H, width: W, tile: T } = this.geometry;
    const { y, x } = win;
    if (!Number.isInteger(y) || !Number.isInteger(x) || y < 0 || x < 0 || y + T > H || x + T > W) {
      throw new Error(`Stitcher.add: window (${y}, ${x}) of ${T}x${T} is outside the ${H}x${W} map`);
    }
    if (offset < 0 || offset + T * T > probs.length) {
      throw new Error(
        `Stitcher.add: needs ${T}x${T} = ${T * T} values from offset ${offset}, the array holds ${probs.length}`,
      );
    }
    const sum = this.#sum;
    const weight = this.#weight;
    const g = this.#profile;
    if (g === null) {
      const b = (this.geometry.blend as { border: number }).border;
      // Kept rows/columns of the tile; an edge on the image border is kept (nothing else covers it).
      const r0 = y === 0 ? 0 : b;
      const r1 = y + T === H ? T : T - b;
      const c0 = x === 0 ? 0 : b;
      const c1 = x + T === W ? T : T - b;
      for (let r = r0; r < r1; r++) {
        const src = offset + r * T;
        const dst = (y + r) * W + x;
        for (let c = c0; c < c1; c++) {
          sum[dst + c]! += probs[src + c]!;
          weight[dst + c]! += 1;
        }
      }
    } else {
      for (let r = 0; r < T; r++) {
        const src = offset + r * T;
        const dst = (y + r) * W + x;
        const gr = g[r]!;
        for (let c = 0; c < T; c++) {
          const w = gr * g[c]!;
          sum[dst + c]! += w * probs[src + c]!;
          weight[dst + c]! += w;
        }
      }
    }
    this.#tiles++;
  }

  /**
   * The stitched map: sum(w p) / sum(w), 0 where no tile contributed (only outside a mask), and 0 outside
   * `mask` when one is given. Reuses the accumulator; the stitcher cannot be added to afterwards.
   */
  finish(mask: Uint8Array | null = null): Float32Array {
    if (this.#done) throw new Error('Stitcher.finish: the map was already finished');
    const { height: H, width: W } = this.geometry;
    if (mask !== null && mask.length !== H * W)
      throw new Error(`Stitcher.finish: mask has ${mask.length} pixels, expected ${H}x${W} = ${H * W}`);
    this.#done = true;
    const out = this.#sum;
    const weight = this.#weight;
    for (let i = 0; i < out.length; i++) {
      const w = weight[i]!;
      out[i] = w > 0 && (mask === null || mask[i] !== 0) ? out[i]! / w : 0;
    }
    this.#weight = new Float32Array(0);
    return out;
  }
}

export interface StitchOptions extends StitchGeometry {
  /** {0,1} [y,x]: windows entirely outside are skipped, pixels outside are 0. */
  mask?: Uint8Array | null;
}

/**
 * Sliding-window prediction of a whole map from a per-window predictor (`predict` returns the tile's
 * probabilities, tile x tile row-major): placement, edge dropping or Gaussian weights, accumulation.
 */
export function stitch(
  o: StitchOptions,
  predict: (win: Window) => Float32Array,
): { probabilities: Float32Array; windows: Window[] } {
  checkGeometry(o, 'stitch');
  const mask = o.mask ?? null;
  const windows = placeWindows(o, mask);
  const st = new Stitcher(o);
  for (const w of windows) st.add(w, predict(w));
  return { probabilities: st.finish(mask), windows };
}

/** Source index and weight pairs of a bilinear (align_corners=false) resampling along one axis. */
function bilinearTaps(
  outLen: number,
  inLen: number,
  factor: number,
): { i0: Int32Array; i1: Int32Array; t: Float32Array } {
  const i0 = new Int32Array(outLen);
  const i1 = new Int32Array(outLen);
  const t = new Float32Array(outLen);
  for (let o = 0; o < outLen; o++) {
    // Output pixel centre o + 0.5 lies at (o + 0.5) * factor in input pixels, i.e. index (o + 0.5) * factor - 0.5.
    const s = Math.min(Math.max((o + 0.5) * factor - 0.5, 0), inLen - 1);
    const a = Math.floor(s);
    i0[o] = a;
    i1[o] = Math.min(a + 1, inLen - 1);
    t[o] = s - a;
  }
  return { i0, i1, t };
}

/**
 * Bilinear resampling of an h x w plane to outH x outW where one output pixel spans `factor` input pixels
 * (default h / outH). `Volume` keeps floor(size * scale) pixels at resolution `scale`, so mapping a map at
 * that scale back to the on-disk size passes factor = scale: each disk pixel samples the map at its own
 * centre, and disk rows past the last whole block (odd sizes) repeat the last row.
 */
export function resizeBilinear(
  src: Float32Array,
  h: number,
  w: number,
  outH: number,
  outW: number,
  factor?: number,
): Float32Array {
  if (src.length !== h * w)
    throw new Error(`resizeBilinear: input has ${src.length} values, expected ${h}x${w} = ${h * w}`);
  if (!isCount(outH) || !isCount(outW))
    throw new Error(`resizeBilinear: output size must be positive integers, got ${outH}x${outW}`);
  if (outH === h && outW === w && (factor === undefined || factor === 1)) return src;
  const fy = factor ?? h / outH;
  const fx = factor ?? w / outW;
  const ty = bilinearTaps(outH, h, fy);
  const tx = bilinearTaps(outW, w, fx);
  const out = new Float32Array(outH * outW);
  for (let y = 0; y < outH; y++) {
    const r0 = ty.i0[y]! * w;
    const r1 = ty.i1[y]! * w;
    const v = ty.t[y]!;
    const base = y * outW;
    for (let x = 0; x < outW; x++) {
      const a = tx.i0[x]!;
      const b = tx.i1[x]!;
      const u = tx.t[x]!;
      const top = src[r0 + a]! + u * (src[r0 + b]! - src[r0 + a]!);
      const bottom = src[r1 + a]! + u * (src[r1 + b]! - src[r1 + a]!);
      out[base + x] = top + v * (bottom - top);
    }
  }
  return out;
}
