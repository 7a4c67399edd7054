/**
 * Checks that synthetic ink is learnable but not trivial (docs/synthetic-data.md, calibration): inside the
 * mask, no single fixed layer should separate ink well, while a statistic that follows the surface should.
 */
import { aucFromTable, scoreTable } from '../../util/roc.js';

/**
 * ROC AUC of `scores` against binary `labels` (> 0 is positive) over pixels where `where` is set:
 * P(score of a positive > score of a negative) + P(equal) / 2 (the Mann-Whitney U statistic; src/util/roc.ts,
 * shared with the evaluation metrics). Throws unless both classes are present.
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>, where?: ArrayLike<number>): number {
  const t = scoreTable(scores, labels, where);
  const auc = aucFromTable(t);
  if (auc === null)
    throw new Error(`rocAuc: need both classes, got ${t.positives} positives and ${t.negatives} negatives`);
  return auc;
}

/** Separation regardless of sign: max(auc, 1 - auc). */
export function separation(auc: number): number {
  return Math.max(auc, 1 - auc);
}

/** Mean over a (2r+1)^2 box (clipped at the borders) of every [h, w] plane of a [layers, h, w] volume. */
export function boxMeanPlanes(vol: ArrayLike<number>, layers: number, h: number, w: number, r: number): Float32Array {
  const plane = h * w;
  const out = new Float32Array(layers * plane);
  const rows = new Float64Array(plane);
  const col = new Float64Array(w);
  const cnt = (i: number, n: number) => Math.min(n - 1, i + r) - Math.max(0, i - r) + 1;
  for (let z = 0; z < layers; z++) {
    const o = z * plane;
    // Horizontal running sums.
    for (let y = 0; y < h; y++) {
      const b = o + y * w;
      let s = 0;
      for (let x = 0; x <= Math.min(r, w - 1); x++) s += vol[b + x] as number;
      for (let x = 0; x < w; x++) {
        rows[y * w + x] = s;
        if (x + r + 1 < w) s += vol[b + x + r + 1] as number;
        if (x - r >= 0) s -= vol[b + x - r] as number;
      }
    }
    // Vertical running sums over whole rows.
    col.fill(0);
    for (let y = 0; y <= Math.min(r, h - 1); y++)
      for (let x = 0; x < w; x++) col[x] = (col[x] as number) + (rows[y * w + x] as number);
    for (let y = 0; y < h; y++) {
      const ny = cnt(y, h);
      for (let x = 0; x < w; x++) out[o + y * w + x] = (col[x] as number) / (ny * cnt(x, w));
      const add = y + r + 1;
      const sub = y - r;
      if (add < h) for (let x = 0; x < w; x++) col[x] = (col[x] as number) + (rows[add * w + x] as number);
      if (sub >= 0) for (let x = 0; x < w; x++) col[x] = (col[x] as number) - (rows[sub * w + x] as number);
    }
  }
  return out;
}

export interface LayerAuc {
  layer: number;
  auc: number;
}

/** Pixel AUC of every single layer against `labels` inside `mask`; the best by separation first. */
export function layerAucs(
  vol: ArrayLike<number>,
  layers: number,
  h: number,
  w: number,
  labels: ArrayLike<number>,
  mask: ArrayLike<number>,
): LayerAuc[] {
  const plane = h * w;
  const out: LayerAuc[] = [];
  const buf = new Float32Array(plane);
  for (let z = 0; z < layers; z++) {
    for (let i = 0; i < plane; i++) buf[i] = vol[z * plane + i] as number;
    out.push({ layer: z, auc: rocAuc(buf, labels, mask) });
  }
  return out.sort((a, b) => separation(b.auc) - separation(a.auc));
}

export interface SurfaceScoreOptions {
  /** Half-size of the in-plane box of the statistic (2 -> 5 x 5). */
  radius?: number;
  /**
   * Half-size of the in-plane box used to find the surface (15 -> 31 x 31): wider than a glyph, so that the
   * ink itself barely moves the estimate, and well below the surface's 60 px correlation length.
   */
  surfaceRadius?: number;
  /** Layer near which to look for the papyrus surface (the flattened surface; 32 of 65). */
  near?: number;
  /** Search window around `near`, in layers. */
  window?: number;
  /** Layers averaged, starting at the surface crossing + `offset`. */
  count?: number;
  offset?: number;
  /** The volume's layers run from deep to shallow (reversed segments). */
  reversed?: boolean;
  /**
   * Divide by the papyrus level a few layers below the ink band (mean of surface + 4 .. + 6), cancelling the
   * multiplicative drift and part of the fibre texture, which a model can learn to do as well.
   */
  normalize?: boolean;
}

/**
 * A surface-following statistic: find per pixel the layer where the (31 x 31 box-mean) depth profile rises
 * through the midpoint between its minimum and maximum (the papyrus surface; the crossing nearest `near`),
 * then average `count` layers of the 5 x 5 box-mean volume from there + `offset` (linear interpolation at the
 * fractional depth). The default window, surface - 0.5 .. surface + 1.5, sits inside the ink band.
 */
export function surfaceFollowingScore(
  vol: ArrayLike<number>,
  layers: number,
  h: number,
  w: number,
  opts: SurfaceScoreOptions = {},
): Float32Array {
  const r = opts.radius ?? 2;
  const rs = opts.surfaceRadius ?? 15;
  const near = opts.near ?? Math.floor(layers / 2);
  const win = opts.window ?? 14;
  const count = opts.count ?? 3;
  const offset = opts.offset ?? -0.5;
  const plane = h * w;
  const sm = boxMeanPlanes(vol, layers, h, w, r);
  const wide = rs === r ? sm : boxMeanPlanes(vol, layers, h, w, rs);
  const layer = (z: number) => (opts.reversed ? layers - 1 - z : z);
  const prof = new Float64Array(layers);
  const val = new Float64Array(layers);
  const score = new Float32Array(plane);
  const z0 = Math.max(0, near - win);
  const z1 = Math.min(layers - 1, near + win);
  for (let i = 0; i < plane; i++) {
    for (let z = 0; z < layers; z++) {
      prof[z] = wide[layer(z) * plane + i] as number;
      val[z] = sm[layer(z) * plane + i] as number;
    }
    let lo = Infinity;
    let hi = -Infinity;
    for (let z = z0; z <= z1; z++) {
      const v = prof[z] as number;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const t = (lo + hi) / 2;
    let best = near;
    let bestDist = Infinity;
    for (let z = z0; z < z1; z++) {
      const a = prof[z] as number;
      const b = prof[z + 1] as number;
      if (a < t && b >= t) {
        const c = z + (t - a) / (b - a);
        if (Math.abs(c - near) < bestDist) {
          bestDist = Math.abs(c - near);
          best = c;
        }
      }
    }
    const at = (zf0: number) => {
      const zf = Math.min(layers - 1, Math.max(0, zf0));
      const zi = Math.min(layers - 2, Math.floor(zf));
      const f = zf - zi;
      return (val[zi] as number) * (1 - f) + (val[zi + 1] as number) * f;
    };
    let s = 0;
    for (let k = 0; k < count; k++) s += at(best + offset + k);
    s /= count;
    if (opts.normalize) {
      const ref = (at(best + 4) + at(best + 5) + at(best + 6)) / 3;
      s = ref > 0 ? s / ref : 0;
    }
    score[i] = s;
  }
  return score;
}

export interface Calibration {
  bestLayer: number;
  bestLayerAuc: number;
  surfaceAuc: number;
}

/** Both numbers of the calibration in docs/synthetic-data.md for one volume, against `labels` inside `mask`. */
export function calibrate(
  vol: ArrayLike<number>,
  layers: number,
  h: number,
  w: number,
  labels: ArrayLike<number>,
  mask: ArrayLike<number>,
  opts: SurfaceScoreOptions = {},
): Calibration {
  const best = layerAucs(vol, layers, h, w, labels, mask)[0] as LayerAuc;
  const score = surfaceFollowingScore(vol, layers, h, w, opts);
  return { bestLayer: best.layer, bestLayerAuc: best.auc, surfaceAuc: rocAuc(score, labels, mask) };
}
