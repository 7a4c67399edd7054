/**
 * 2-D masks of the synthetic scrolls (docs/synthetic-data.md): the valid-region blob, ink glyphs written on
 * lines, dark cracks, and the label transforms (IR misalignment shift, optional dilation).
 */
import type { Random } from '../augment/random.js';
import { quantile, smoothNoise2D } from './fields.js';

/**
 * A smooth blob covering `coverage` of the frame (~57% for Kaggle fragment 1, docs/data-formats.md): a
 * radial bowl plus correlated noise (sigma a sixth of the frame), thresholded at the matching quantile.
 * Returns 0/1 per pixel.
 */
export function validRegion(h: number, w: number, coverage: number, rng: Random): Uint8Array {
  if (!(coverage > 0 && coverage <= 1)) throw new Error(`validRegion: coverage must be in (0, 1], got ${coverage}`);
  const noise = smoothNoise2D(h, w, Math.max(2, h / 6), Math.max(2, w / 6), rng);
  const score = new Float32Array(h * w);
  const cy = h / 2 + rng.uniform(-0.05, 0.05) * h;
  const cx = w / 2 + rng.uniform(-0.05, 0.05) * w;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const ry = (y - cy) / (h / 2);
      const rx = (x - cx) / (w / 2);
      score[y * w + x] = 0.35 * (noise[y * w + x] as number) - (rx * rx + ry * ry);
    }
  }
  const t = coverage >= 1 ? -Infinity : quantile(score, 1 - coverage);
  const mask = new Uint8Array(h * w);
  for (let i = 0; i < mask.length; i++) mask[i] = (score[i] as number) > t ? 1 : 0;
  return mask;
}

/** Sets every pixel within `hw` of the segment (x1, y1)-(x2, y2) to 1. */
export function drawStroke(
  mask: Uint8Array,
  h: number,
  w: number,
  x1: number,
  y1: number,
  x2: number,
  y2: number,
  hw: number,
): void {
  const x0 = Math.max(0, Math.floor(Math.min(x1, x2) - hw));
  const xe = Math.min(w - 1, Math.ceil(Math.max(x1, x2) + hw));
  const y0 = Math.max(0, Math.floor(Math.min(y1, y2) - hw));
  const ye = Math.min(h - 1, Math.ceil(Math.max(y1, y2) + hw));
  const dx = x2 - x1;
  const dy = y2 - y1;
  const len2 = dx * dx + dy * dy;
  const hw2 = hw * hw;
  for (let y = y0; y <= ye; y++) {
    for (let x = x0; x <= xe; x++) {
      let t = len2 > 0 ? ((x - x1) * dx + (y - y1) * dy) / len2 : 0;
      t = t < 0 ? 0 : Math.min(t, 1);
      const ex = x1 + t * dx - x;
      const ey = y1 + t * dy - y;
      if (ex * ex + ey * ey <= hw2) mask[y * w + x] = 1;
    }
  }
}

export interface GlyphOptions {
  /** Distance between text lines (70 px). */
  lineSpacing?: number;
  /** Glyph pitch range along a line (40..60 px). */
  pitch?: [number, number];
  /** Glyph box size range (20..45 px). */
  size?: [number, number];
  /** Stroke half-width range (3..5 px). */
  halfWidth?: [number, number];
  /** Chance that a glyph slot is a word gap. */
  gap?: number;
}

/**
 * Letter-like glyphs of 2-3 strokes (3 in 70% of glyphs; half-width 3..5 px) in 20..45 px boxes on a 40..60 px pitch, lines
 * 70 px apart: about 18% ink inside the valid region (docs/synthetic-data.md). A stroke is a bar or a
 * diagonal spanning most of its glyph box (like the strokes of Greek capitals), with jittered ends.
 * Returns 0/1 per pixel.
 */
export function glyphInk(h: number, w: number, rng: Random, opts: GlyphOptions = {}): Uint8Array {
  const spacing = opts.lineSpacing ?? 70;
  const [pLo, pHi] = opts.pitch ?? [40, 60];
  const [sLo, sHi] = opts.size ?? [20, 45];
  const [hLo, hHi] = opts.halfWidth ?? [3, 5];
  const gap = opts.gap ?? 0.05;
  const ink = new Uint8Array(h * w);
  for (let base = rng.uniform(spacing / 2, spacing); base < h; base += spacing) {
    let x = rng.uniform(0, pHi);
    while (x < w) {
      const gw = rng.uniform(sLo, sHi);
      const gh = rng.uniform(sLo, sHi);
      const top = base + rng.normal() * 2 - gh / 2;
      if (!rng.chance(gap)) {
        const strokes = rng.chance(0.7) ? 3 : 2;
        for (let s = 0; s < strokes; s++) {
          const hw = rng.uniform(hLo, hHi);
          const j = () => rng.uniform(0, 0.2);
          const kind = rng.below(4);
          let ax: number, ay: number, bx: number, by: number;
          if (kind === 0) {
            // horizontal bar
            ay = by = top + rng.uniform(0, gh);
            ax = x + j() * gw;
            bx = x + (1 - j()) * gw;
          } else if (kind === 1) {
            // vertical bar
            ax = bx = x + rng.uniform(0, gw);
            ay = top + j() * gh;
            by = top + (1 - j()) * gh;
          } else if (kind === 2) {
            // falling diagonal
            ax = x + j() * gw;
            ay = top + j() * gh;
            bx = x + (1 - j()) * gw;
            by = top + (1 - j()) * gh;
          } else {
            // rising diagonal
            ax = x + j() * gw;
            ay = top + (1 - j()) * gh;
            bx = x + (1 - j()) * gw;
            by = top + j() * gh;
          }
          drawStroke(ink, h, w, ax, ay, bx, by, hw);
        }
      }
      x += rng.uniform(pLo, pHi);
    }
  }
  return ink;
}

/**
 * Dark cracks: `count` random walks (steps of 1 px, heading jitter 0.12 rad) across 30..80% of the frame,
 * 1..2 px wide. Returns a density factor per pixel: 1 on intact papyrus, `depth` inside a crack.
 */
export function crackFactor(h: number, w: number, count: number, rng: Random, depth = 0.35): Float32Array {
  const f = new Float32Array(h * w).fill(1);
  const cracked = new Uint8Array(h * w);
  for (let c = 0; c < count; c++) {
    let x = rng.uniform(0, w);
    let y = rng.uniform(0, h);
    let heading = rng.uniform(0, 2 * Math.PI);
    const steps = Math.round(rng.uniform(0.3, 0.8) * Math.max(h, w));
    const hw = rng.uniform(0.5, 1);
    for (let s = 0; s < steps; s++) {
      drawStroke(cracked, h, w, x, y, x, y, hw);
      heading += rng.normal() * 0.12;
      x += Math.cos(heading);
      y += Math.sin(heading);
    }
  }
  for (let i = 0; i < f.length; i++) if (cracked[i]) f[i] = depth;
  return f;
}

/** out[y][x] = src[y - dy][x - dx] (zero where that falls outside): labels traced on a misaligned IR photo. */
export function shiftMask(src: Uint8Array, h: number, w: number, dy: number, dx: number): Uint8Array {
  const out = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) {
    const sy = y - dy;
    if (sy < 0 || sy >= h) continue;
    for (let x = 0; x < w; x++) {
      const sx = x - dx;
      if (sx >= 0 && sx < w) out[y * w + x] = src[sy * w + sx] as number;
    }
  }
  return out;
}

/** 3x3 binary dilation. */
export function dilate3(src: Uint8Array, h: number, w: number): Uint8Array {
  const out = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let v = 0;
      for (let dy = -1; dy <= 1 && !v; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= h) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if (xx >= 0 && xx < w && src[yy * w + xx]) {
            v = 1;
            break;
          }
        }
      }
      out[y * w + x] = v;
    }
  }
  return out;
}

/** Fraction of set pixels of `a` among the set pixels of `within`. */
export function fractionWithin(a: Uint8Array, within: Uint8Array): number {
  let n = 0;
  let k = 0;
  for (let i = 0; i < a.length; i++)
    if (within[i]) {
      n++;
      if (a[i]) k++;
    }
  return n === 0 ? 0 : k / n;
}
