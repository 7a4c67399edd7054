/**
 * Resolution matching by area averaging (OpenCV's INTER_AREA for downscaling): each output pixel is the mean
 * of the source pixels its footprint covers, weighted by overlap. The reference study halves fragments this way so that
 * their ~4 um pixels match the scrolls' 7.91 um (docs/reference-study.md), and the Grand-Prize-lineage code does
 * `cv2.resize(image, (w//2, h//2), interpolation=cv2.INTER_AREA)`: output sizes are floor(size * factor) and
 * the last source row/column is dropped when the size is odd, as there.
 *
 * Integer results round half up (`floor(mean + 0.5)`), like OpenCV's integer-factor fast path.
 */
import type { PixelArray } from './tiff-strips.js';

/** Output length for a source length and factor (floor, at least 1). */
export function scaledLength(length: number, factor: number): number {
  return Math.max(1, Math.floor(length * factor + 1e-9));
}

export function checkScale(factor: number, what: string): void {
  if (!(factor > 0 && factor <= 1)) throw new Error(`${what}: resolution factor must be in (0, 1], got ${factor}`);
}

/** The source span [start, end) needed for output indices [o0, o1) at `factor` (source length `length`). */
export function sourceSpan(o0: number, o1: number, factor: number, length: number): [number, number] {
  const k = 1 / factor;
  return [Math.floor(o0 * k + 1e-9), Math.min(length, Math.ceil(o1 * k - 1e-9))];
}

interface Taps {
  start: Int32Array;
  count: Int32Array;
  idx: Int32Array;
  w: Float64Array;
}

/** Overlap weights of output indices [o0, o1) over source indices, relative to source offset `s0`. */
function areaTaps(o0: number, o1: number, factor: number, s0: number, srcLen: number): Taps {
  const k = 1 / factor;
  const n = o1 - o0;
  const start = new Int32Array(n);
  const count = new Int32Array(n);
  const idx: number[] = [];
  const w: number[] = [];
  for (let i = 0; i < n; i++) {
    const a = (o0 + i) * k;
    const b = Math.min((o0 + i + 1) * k, srcLen);
    start[i] = idx.length;
    for (let s = Math.floor(a + 1e-9); s < b - 1e-9; s++) {
      const overlap = Math.min(b, s + 1) - Math.max(a, s);
      if (overlap <= 1e-12) continue;
      idx.push(s - s0);
      w.push(overlap / (b - a));
    }
    count[i] = idx.length - start[i]!;
  }
  return { start, count, idx: Int32Array.from(idx), w: Float64Array.from(w) };
}

/**
 * Area-averages a window of a source plane. `src` holds source rows [sy0, sy0+srcRows) x columns
 * [sx0, sx0+srcCols) (row-major); the result covers output rows [oy0,oy1) x columns [ox0,ox1) at `factor`
 * on a source plane of size srcH x srcW. Output has the input's element type (and may be `src` itself at
 * factor 1 when the windows coincide).
 */
export function areaResampleWindow(
  src: PixelArray,
  srcRows: number,
  srcCols: number,
  sy0: number,
  sx0: number,
  srcH: number,
  srcW: number,
  factor: number,
  oy0: number,
  oy1: number,
  ox0: number,
  ox1: number,
): PixelArray {
  const oh = oy1 - oy0;
  const ow = ox1 - ox0;
  // At factor 1 a source window that is exactly the output window needs no copy.
  if (factor === 1 && sy0 === oy0 && sx0 === ox0 && srcRows === oh && srcCols === ow) return src;
  const out = src instanceof Uint16Array ? new Uint16Array(oh * ow) : new Uint8Array(oh * ow);
  if (factor === 1) {
    for (let y = 0; y < oh; y++) {
      const r = (oy0 + y - sy0) * srcCols + (ox0 - sx0);
      out.set(src.subarray(r, r + ow), y * ow);
    }
    return out;
  }
  const k = Math.round(1 / factor);
  if (Math.abs(k * factor - 1) < 1e-9) {
    // Integer factor: plain k x k box means (the common x0.5 case), no weights needed.
    const area = k * k;
    const half = area / 2;
    for (let y = 0; y < oh; y++) {
      const rowBase = ((oy0 + y) * k - sy0) * srcCols;
      for (let x = 0; x < ow; x++) {
        const colBase = (ox0 + x) * k - sx0;
        let sum = 0;
        for (let dy = 0; dy < k; dy++) {
          const r = rowBase + dy * srcCols + colBase;
          for (let dx = 0; dx < k; dx++) sum += src[r + dx]!;
        }
        out[y * ow + x] = Math.floor((sum + half) / area);
      }
    }
    return out;
  }
  // General factor: separable overlap-weighted means (columns first, then rows).
  const tx = areaTaps(ox0, ox1, factor, sx0, srcW);
  const ty = areaTaps(oy0, oy1, factor, sy0, srcH);
  const tmp = new Float64Array(srcRows * ow);
  for (let r = 0; r < srcRows; r++) {
    const base = r * srcCols;
    for (let x = 0; x < ow; x++) {
      let acc = 0;
      const s = tx.start[x]!;
      for (let t = 0; t < tx.count[x]!; t++) acc += src[base + tx.idx[s + t]!]! * tx.w[s + t]!;
      tmp[r * ow + x] = acc;
    }
  }
  for (let y = 0; y < oh; y++) {
    const s = ty.start[y]!;
    for (let x = 0; x < ow; x++) {
      let acc = 0;
      for (let t = 0; t < ty.count[y]!; t++) acc += tmp[ty.idx[s + t]! * ow + x]! * ty.w[s + t]!;
      out[y * ow + x] = Math.floor(acc + 0.5);
    }
  }
  return out;
}

/** Area-averages a whole plane to floor(h*factor) x floor(w*factor). */
export function areaResample(
  src: PixelArray,
  h: number,
  w: number,
  factor: number,
): { data: PixelArray; height: number; width: number } {
  const oh = scaledLength(h, factor);
  const ow = scaledLength(w, factor);
  return { data: areaResampleWindow(src, h, w, 0, 0, h, w, factor, 0, oh, 0, ow), height: oh, width: ow };
}

/**
 * Scales a {0,1} mask by area averaging and keeps pixels at least half covered (a majority vote), so that
 * a mask and its layers stay aligned at any factor.
 */
export function resampleBinary(
  mask: Uint8Array,
  h: number,
  w: number,
  factor: number,
): { data: Uint8Array; height: number; width: number } {
  if (factor === 1) return { data: mask, height: h, width: w };
  const scaled = new Uint8Array(mask.length);
  for (let i = 0; i < mask.length; i++) scaled[i] = mask[i] ? 255 : 0;
  const r = areaResample(scaled, h, w, factor);
  const out = new Uint8Array(r.data.length);
  for (let i = 0; i < out.length; i++) out[i] = r.data[i]! >= 128 ? 1 : 0;
  return { data: out, height: r.height, width: r.width };
}
