/**
 * Geometric transforms as coordinate maps, fused into a single resampling per run of consecutive geometric
 * ops. Each stage says, for a pixel of its output, which (possibly fractional) pixel of its input it samples;
 * chaining the maps from the last stage back to the first gives one source coordinate per output pixel, so a
 * crop of D slices is resampled once with a precomputed plan (4 taps + weights per pixel) instead of D times
 * per op. Coordinates follow OpenCV: pixel centres at integers, (0, 0) the top-left pixel.
 *
 * Differences from running albumentations' ops one after another: one interpolation instead of one per op
 * (less blur), and intermediate borders are resolved on coordinates (exact for reflect-101; for constant
 * borders an intermediate coordinate more than half a pixel outside becomes the fill value).
 */
import type { BorderMode } from './types.js';

export interface GeoStage {
  readonly name: string;
  readonly inH: number;
  readonly inW: number;
  readonly outH: number;
  readonly outW: number;
  /** True when integer pixels map to integer pixels inside the input (flips, rot90): no interpolation. */
  readonly exact: boolean;
  readonly border: BorderMode;
  /** Fill value for the image when border is 'constant'. */
  readonly value: number;
  /** Fill value for labels and masks when border is 'constant'. */
  readonly maskValue: number;
  /** Replaces output coordinates (xs[i], ys[i]) by the input coordinates they sample. */
  map(xs: Float64Array, ys: Float64Array): void;
}

/** Reflect-101 (OpenCV BORDER_REFLECT_101, "gfedcb|abcdefgh|gfedcba") of a coordinate into [0, n-1]. */
export function reflect101(x: number, n: number): number {
  if (x >= 0 && x <= n - 1) return x; // the common case; avoids the float modulo (a C call in V8)
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let r = x % period;
  if (r < 0) r += period;
  return r > n - 1 ? period - r : r;
}

/** Reflect-101 of an integer index into [0, n-1]. */
export function reflectIndex(i: number, n: number): number {
  if (i >= 0 && i < n) return i;
  return reflect101(i, n);
}

export function hflipStage(h: number, w: number): GeoStage {
  return {
    name: 'hflip',
    inH: h,
    inW: w,
    outH: h,
    outW: w,
    exact: true,
    border: 'reflect101',
    value: 0,
    maskValue: 0,
    map(xs) {
      for (let i = 0; i < xs.length; i++) xs[i] = w - 1 - (xs[i] as number);
    },
  };
}

export function vflipStage(h: number, w: number): GeoStage {
  return {
    name: 'vflip',
    inH: h,
    inW: w,
    outH: h,
    outW: w,
    exact: true,
    border: 'reflect101',
    value: 0,
    maskValue: 0,
    map(_xs, ys) {
      for (let i = 0; i < ys.length; i++) ys[i] = h - 1 - (ys[i] as number);
    },
  };
}

/**
 * np.rot90(img, k): k quarter turns counter-clockwise (as displayed, rows down). For an input of H x W,
 * k odd gives W x H. out[i][j] = in[j][W-1-i] (k=1), in[H-1-i][W-1-j] (k=2), in[H-1-j][i] (k=3).
 */
export function rot90Stage(h: number, w: number, k: number): GeoStage {
  const q = ((k % 4) + 4) % 4;
  const odd = q % 2 === 1;
  return {
    name: `rot90x${q}`,
    inH: h,
    inW: w,
    outH: odd ? w : h,
    outW: odd ? h : w,
    exact: true,
    border: 'reflect101',
    value: 0,
    maskValue: 0,
    map(xs, ys) {
      for (let i = 0; i < xs.length; i++) {
        const x = xs[i] as number;
        const y = ys[i] as number;
        if (q === 1) {
          xs[i] = w - 1 - y;
          ys[i] = x;
        } else if (q === 2) {
          xs[i] = w - 1 - x;
          ys[i] = h - 1 - y;
        } else if (q === 3) {
          xs[i] = y;
          ys[i] = h - 1 - x;
        }
      }
    },
  };
}

/**
 * albumentations' shift_scale_rotate (geometric/functional.py): M = cv2.getRotationMatrix2D(centre, angle, scale)
 * about centre (w/2 - 0.5, h/2 - 0.5), then M[0,2] += dx*w, M[1,2] += dy*h; warpAffine samples src at M^-1 * dst.
 * getRotationMatrix2D: a = s cos, b = s sin, M = [[a, b, (1-a)cx - b cy], [-b, a, b cx + (1-a) cy]].
 */
export function affineStage(
  h: number,
  w: number,
  angleDeg: number,
  scale: number,
  dx: number,
  dy: number,
  border: BorderMode,
  value: number,
  maskValue: number,
): GeoStage {
  if (!(scale > 0)) throw new Error(`shiftScaleRotate: scale must be > 0, got ${scale}`);
  const cx = w / 2 - 0.5;
  const cy = h / 2 - 0.5;
  const rad = (angleDeg * Math.PI) / 180;
  const a = scale * Math.cos(rad);
  const b = scale * Math.sin(rad);
  const tx = (1 - a) * cx - b * cy + dx * w;
  const ty = b * cx + (1 - a) * cy + dy * h;
  // Inverse of [[a, b], [-b, a]] is [[a, -b], [b, a]] / (a^2 + b^2).
  const det = a * a + b * b;
  const ia = a / det;
  const ib = b / det;
  return {
    name: 'shiftScaleRotate',
    inH: h,
    inW: w,
    outH: h,
    outW: w,
    exact: false,
    border,
    value,
    maskValue,
    map(xs, ys) {
      for (let i = 0; i < xs.length; i++) {
        const u = (xs[i] as number) - tx;
        const v = (ys[i] as number) - ty;
        xs[i] = ia * u - ib * v;
        ys[i] = ib * u + ia * v;
      }
    },
  };
}

/** Linear interpolation of a 1-D table at a fractional position (clamped to the table). */
function lookup(table: Float64Array, x: number): number {
  const n = table.length;
  if (x <= 0) return table[0] as number;
  if (x >= n - 1) return table[n - 1] as number;
  const i = Math.floor(x);
  const f = x - i;
  return (table[i] as number) * (1 - f) + (table[i + 1] as number) * f;
}

/**
 * albumentations' grid_distortion (geometric/functional.py, 1.3.1): separable source-coordinate tables built
 * from `numSteps` cells per side; cell k covers `step = size // numSteps` output pixels and advances the source
 * coordinate by step * steps[k] (np.linspace over each cell, endpoint included); a last partial cell runs to
 * `size`. cv2.remap then samples src at (xx[x], yy[y]).
 */
export function gridTables(size: number, numSteps: number, steps: readonly number[]): Float64Array {
  const table = new Float64Array(size);
  const step = Math.floor(size / numSteps);
  if (step < 1) throw new Error(`gridDistortion: ${numSteps} steps do not fit a side of ${size} px`);
  let prev = 0;
  for (let k = 0; k <= numSteps; k++) {
    const start = k * step;
    let end = start + step;
    let cur: number;
    if (end > size) {
      end = size;
      cur = size;
    } else {
      cur = prev + step * (steps[k] as number);
    }
    const count = end - start;
    for (let j = 0; j < count; j++) table[start + j] = count === 1 ? prev : prev + ((cur - prev) * j) / (count - 1);
    prev = cur;
  }
  return table;
}

export function gridStage(
  h: number,
  w: number,
  xx: Float64Array,
  yy: Float64Array,
  border: BorderMode,
  value: number,
  maskValue: number,
): GeoStage {
  if (xx.length !== w || yy.length !== h)
    throw new Error(`gridDistortion: tables ${yy.length}x${xx.length} (HxW) do not match ${h}x${w}`);
  return {
    name: 'gridDistortion',
    inH: h,
    inW: w,
    outH: h,
    outW: w,
    exact: false,
    border,
    value,
    maskValue,
    map(xs, ys) {
      for (let i = 0; i < xs.length; i++) {
        xs[i] = lookup(xx, xs[i] as number);
        ys[i] = lookup(yy, ys[i] as number);
      }
    },
  };
}

/** A precomputed resampling of [inH, inW] planes to [outH, outW]. */
export interface ResamplePlan {
  inH: number;
  inW: number;
  outH: number;
  outW: number;
  /** All stages exact: `nearest` alone is used for every target (a pure permutation/gather). */
  exact: boolean;
  /** Bilinear taps: 4 source indices per output pixel (always valid indices); empty when `exact`. */
  taps: Int32Array;
  /** Bilinear weights for the 4 taps; weights of taps outside a constant border are moved to `fill`. */
  weights: Float32Array;
  /** Per output pixel, the fill contribution (weight outside * fill value) for the image, or null if none. */
  imageFill: Float32Array | null;
  /** Per output pixel, the weight outside a constant border (labels/masks are filled with their own value). */
  outsideWeight: Float32Array | null;
  labelFillValue: Float32Array | null;
  /**
   * Compact bilinear form when no tap falls outside (reflect-101 borders, W, H >= 2): the taps are
   * base, base+1, base+inW, base+inW+1 with fractions fx, fy (a coordinate on the last row/column is expressed
   * from the previous one with fraction 1). Null when the 4-tap form must be used.
   */
  base: Int32Array | null;
  fx: Float32Array | null;
  fy: Float32Array | null;
  /** Nearest source index per output pixel, -1 where it falls outside a constant border. */
  nearest: Int32Array;
  nearestFill: Float32Array | null;
}

/** Chains `stages` (in application order) into one resampling plan. */
export function fuseStages(stages: readonly GeoStage[]): ResamplePlan {
  const first = stages[0];
  const last = stages[stages.length - 1];
  if (first === undefined || last === undefined) throw new Error('fuseStages: no stages');
  for (let s = 1; s < stages.length; s++) {
    const prev = stages[s - 1] as GeoStage;
    const cur = stages[s] as GeoStage;
    if (cur.inH !== prev.outH || cur.inW !== prev.outW) {
      throw new Error(
        `fuseStages: ${cur.name} expects ${cur.inH}x${cur.inW} but ${prev.name} gives ${prev.outH}x${prev.outW}`,
      );
    }
  }
  const outH = last.outH;
  const outW = last.outW;
  const n = outH * outW;
  const xs = new Float64Array(n);
  const ys = new Float64Array(n);
  for (let y = 0, i = 0; y < outH; y++)
    for (let x = 0; x < outW; x++, i++) {
      xs[i] = x;
      ys[i] = y;
    }
  // Stage index that pushed a pixel outside a constant border (-1: inside).
  const outsideBy = new Int16Array(n).fill(-1);
  let anyOutside = false;
  for (let s = stages.length - 1; s >= 0; s--) {
    const st = stages[s] as GeoStage;
    st.map(xs, ys);
    if (s === 0) break;
    // Intermediate stage: bring coordinates into its input frame.
    for (let i = 0; i < n; i++) {
      if (outsideBy[i] !== -1) continue;
      let x = xs[i] as number;
      let y = ys[i] as number;
      if (st.border === 'reflect101') {
        x = reflect101(x, st.inW);
        y = reflect101(y, st.inH);
      } else if (x < -0.5 || y < -0.5 || x > st.inW - 0.5 || y > st.inH - 0.5) {
        outsideBy[i] = s;
        anyOutside = true;
        continue;
      } else {
        x = Math.min(Math.max(x, 0), st.inW - 1);
        y = Math.min(Math.max(y, 0), st.inH - 1);
      }
      xs[i] = x;
      ys[i] = y;
    }
  }
  const exact = stages.every((s) => s.exact);
  const inH = first.inH;
  const inW = first.inW;
  const taps = new Int32Array(exact ? 0 : 4 * n);
  const weights = new Float32Array(exact ? 0 : 4 * n);
  const nearest = new Int32Array(n);
  const constant = first.border === 'constant' || anyOutside;
  const imageFill = constant ? new Float32Array(n) : null;
  const outsideWeight = constant ? new Float32Array(n) : null;
  const labelFillValue = constant ? new Float32Array(n) : null;
  const nearestFill = constant ? new Float32Array(n) : null;
  const compact = !exact && !constant && inW >= 2 && inH >= 2;
  const base = compact ? new Int32Array(n) : null;
  const fxs = compact ? new Float32Array(n) : null;
  const fys = compact ? new Float32Array(n) : null;
  for (let i = 0; i < n; i++) {
    const by = outsideBy[i] as number;
    if (by !== -1) {
      const st = stages[by] as GeoStage;
      nearest[i] = -1;
      (nearestFill as Float32Array)[i] = st.maskValue;
      (imageFill as Float32Array)[i] = st.value;
      (outsideWeight as Float32Array)[i] = 1;
      (labelFillValue as Float32Array)[i] = st.maskValue;
      continue;
    }
    let x = xs[i] as number;
    let y = ys[i] as number;
    if (exact) {
      nearest[i] = Math.round(y) * inW + Math.round(x);
      continue;
    }
    if (first.border === 'reflect101') {
      x = reflect101(x, inW);
      y = reflect101(y, inH);
      const x0 = Math.floor(x);
      const y0 = Math.floor(y);
      const fx = x - x0;
      const fy = y - y0;
      const x1 = x0 + 1 < inW ? x0 + 1 : x0;
      const y1 = y0 + 1 < inH ? y0 + 1 : y0;
      taps[4 * i] = y0 * inW + x0;
      taps[4 * i + 1] = y0 * inW + x1;
      taps[4 * i + 2] = y1 * inW + x0;
      taps[4 * i + 3] = y1 * inW + x1;
      weights[4 * i] = (1 - fx) * (1 - fy);
      weights[4 * i + 1] = fx * (1 - fy);
      weights[4 * i + 2] = (1 - fx) * fy;
      weights[4 * i + 3] = fx * fy;
      const xn = Math.floor(x + 0.5);
      const yn = Math.floor(y + 0.5);
      nearest[i] = Math.min(yn, inH - 1) * inW + Math.min(xn, inW - 1);
      if (base !== null && fxs !== null && fys !== null) {
        const bx = x0 < inW - 1 ? x0 : inW - 2;
        const by = y0 < inH - 1 ? y0 : inH - 2;
        base[i] = by * inW + bx;
        fxs[i] = x - bx;
        fys[i] = y - by;
      }
    } else {
      // Constant border at the source: each tap outside contributes the fill value (cv2 BORDER_CONSTANT).
      const x0 = Math.floor(x);
      const y0 = Math.floor(y);
      const fx = x - x0;
      const fy = y - y0;
      const tx = [x0, x0 + 1, x0, x0 + 1];
      const ty = [y0, y0, y0 + 1, y0 + 1];
      const tw = [(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy];
      let outside = 0;
      for (let t = 0; t < 4; t++) {
        const px = tx[t] as number;
        const py = ty[t] as number;
        const wt = tw[t] as number;
        if (px < 0 || py < 0 || px >= inW || py >= inH) {
          outside += wt;
          taps[4 * i + t] = 0;
          weights[4 * i + t] = 0;
        } else {
          taps[4 * i + t] = py * inW + px;
          weights[4 * i + t] = wt;
        }
      }
      (imageFill as Float32Array)[i] = outside * first.value;
      (outsideWeight as Float32Array)[i] = outside;
      (labelFillValue as Float32Array)[i] = first.maskValue;
      const xn = Math.floor(x + 0.5);
      const yn = Math.floor(y + 0.5);
      if (xn < 0 || yn < 0 || xn >= inW || yn >= inH) {
        nearest[i] = -1;
        (nearestFill as Float32Array)[i] = first.maskValue;
      } else {
        nearest[i] = yn * inW + xn;
      }
    }
  }
  return {
    inH,
    inW,
    outH,
    outW,
    exact,
    taps,
    weights,
    imageFill,
    outsideWeight,
    labelFillValue,
    base,
    fx: fxs,
    fy: fys,
    nearest,
    nearestFill,
  };
}

/**
 * Resamples every [inH, inW] plane of `src` (depth planes) into a new array, bilinearly (or by gather if exact).
 * Bilinear: pixel-outer, slice-inner, so each pixel's taps and weights are loaded once for all slices.
 */
export function resampleVolume(plan: ResamplePlan, src: Float32Array, depth: number): Float32Array {
  const inPlane = plan.inH * plan.inW;
  const outPlane = plan.outH * plan.outW;
  if (src.length !== depth * inPlane)
    throw new Error(`resample: expected ${depth}x${plan.inH}x${plan.inW} values, got ${src.length}`);
  const out = new Float32Array(depth * outPlane);
  const { taps, weights, nearest, imageFill } = plan;
  if (plan.exact) {
    for (let z = 0, so = 0, oo = 0; z < depth; z++, so += inPlane, oo += outPlane) {
      for (let i = 0; i < outPlane; i++) out[oo + i] = src[so + (nearest[i] as number)] as number;
    }
    return out;
  }
  const { base, fx, fy } = plan;
  if (base !== null && fx !== null && fy !== null) {
    const W = plan.inW;
    for (let z = 0, so = 0, oo = 0; z < depth; z++, so += inPlane, oo += outPlane) {
      for (let i = 0; i < outPlane; i++) {
        const b = so + (base[i] as number);
        const a = src[b] as number;
        const c = src[b + 1] as number;
        const d = src[b + W] as number;
        const e = src[b + W + 1] as number;
        const u = fx[i] as number;
        const top = a + (c - a) * u;
        const bot = d + (e - d) * u;
        out[oo + i] = top + (bot - top) * (fy[i] as number);
      }
    }
    return out;
  }
  for (let i = 0, t = 0; i < outPlane; i++, t += 4) {
    const t0 = taps[t] as number;
    const t1 = taps[t + 1] as number;
    const t2 = taps[t + 2] as number;
    const t3 = taps[t + 3] as number;
    const w0 = weights[t] as number;
    const w1 = weights[t + 1] as number;
    const w2 = weights[t + 2] as number;
    const w3 = weights[t + 3] as number;
    const fill = imageFill === null ? 0 : (imageFill[i] as number);
    for (let z = 0, so = 0, oo = i; z < depth; z++, so += inPlane, oo += outPlane) {
      out[oo] =
        w0 * (src[so + t0] as number) +
        w1 * (src[so + t1] as number) +
        w2 * (src[so + t2] as number) +
        w3 * (src[so + t3] as number) +
        fill;
    }
  }
  return out;
}

/** Nearest-neighbour resampling of a [inH, inW] plane (masks, hard labels). */
export function resampleNearest<T extends Uint8Array | Float32Array>(plan: ResamplePlan, src: T): T {
  if (src.length !== plan.inH * plan.inW)
    throw new Error(`resample: expected a ${plan.inH}x${plan.inW} plane, got ${src.length} values`);
  const n = plan.outH * plan.outW;
  const out = (src instanceof Uint8Array ? new Uint8Array(n) : new Float32Array(n)) as T;
  const { nearest, nearestFill } = plan;
  for (let i = 0; i < n; i++) {
    const k = nearest[i] as number;
    out[i] = k >= 0 ? (src[k] as number) : ((nearestFill as Float32Array)[i] as number);
  }
  return out;
}

/** Bilinear resampling of a soft-label plane; constant-border taps take the label fill value. */
export function resampleLinearPlane(plan: ResamplePlan, src: Float32Array): Float32Array {
  if (src.length !== plan.inH * plan.inW)
    throw new Error(`resample: expected a ${plan.inH}x${plan.inW} plane, got ${src.length} values`);
  if (plan.exact) return resampleNearest(plan, src);
  const n = plan.outH * plan.outW;
  const out = new Float32Array(n);
  const { taps, weights, outsideWeight, labelFillValue } = plan;
  for (let i = 0, t = 0; i < n; i++, t += 4) {
    let v =
      (weights[t] as number) * (src[taps[t] as number] as number) +
      (weights[t + 1] as number) * (src[taps[t + 1] as number] as number) +
      (weights[t + 2] as number) * (src[taps[t + 2] as number] as number) +
      (weights[t + 3] as number) * (src[taps[t + 3] as number] as number);
    if (outsideWeight !== null) v += (outsideWeight[i] as number) * (labelFillValue as Float32Array)[i]!;
    out[i] = v;
  }
  return out;
}
