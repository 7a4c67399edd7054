/**
 * Cursive ink for the second synthetic family (docs/synthetic-data.md, family B): words written as one pen
 * path of joined cubic Bezier arcs, letter by letter, with loops and ascenders, a pen whose width changes
 * along the stroke, on lines closer together and with smaller letters than the first family's printed
 * capitals. Independent of the first family's glyph code.
 */
import type { Random } from '../../augment/random.js';

export interface CursiveOptions {
  /** Distance between text lines (px). */
  lineSpacing?: [number, number];
  /** Height of the small letters (px). */
  xHeight?: [number, number];
  /** Width of one letter (px). */
  letterWidth?: [number, number];
  /** Letters per word. */
  letters?: [number, number];
  /** Space between words (px). */
  wordGap?: [number, number];
  /** Pen radius (px) at its thinnest and thickest. */
  penRadius?: [number, number];
}

/** Stamps a disc of radius r at (x, y). */
function stamp(ink: Uint8Array, h: number, w: number, x: number, y: number, r: number): void {
  const y0 = Math.max(0, Math.floor(y - r));
  const y1 = Math.min(h - 1, Math.ceil(y + r));
  const x0 = Math.max(0, Math.floor(x - r));
  const x1 = Math.min(w - 1, Math.ceil(x + r));
  const r2 = r * r;
  for (let yy = y0; yy <= y1; yy++) {
    const dy = yy - y;
    for (let xx = x0; xx <= x1; xx++) {
      const dx = xx - x;
      if (dx * dx + dy * dy <= r2) ink[yy * w + xx] = 1;
    }
  }
}

type Pt = [number, number];

/** Draws the cubic Bezier p0..p3 with a pen whose radius goes from r0 to r1, stamping every half pixel. */
function bezier(ink: Uint8Array, h: number, w: number, p0: Pt, p1: Pt, p2: Pt, p3: Pt, r0: number, r1: number): void {
  const dist = (p: Pt, q: Pt) => Math.hypot(q[0] - p[0], q[1] - p[1]);
  const chord = dist(p0, p3) + dist(p0, p1) + dist(p3, p2);
  const steps = Math.max(4, Math.ceil(chord * 2));
  for (let i = 0; i <= steps; i++) {
    const t = i / steps;
    const u = 1 - t;
    const a = u * u * u;
    const b = 3 * u * u * t;
    const c = 3 * u * t * t;
    const d = t * t * t;
    const x = a * p0[0] + b * p1[0] + c * p2[0] + d * p3[0];
    const y = a * p0[1] + b * p1[1] + c * p2[1] + d * p3[1];
    stamp(ink, h, w, x, y, r0 + (r1 - r0) * t);
  }
}

/**
 * Cursive words on slanted baselines across the frame. Each letter moves the pen from the baseline up to the
 * x-height (or an ascender, or down to a descender) and back, through random control points; consecutive
 * letters share their joining point, so a word is one continuous stroke. Returns 0/1 per pixel.
 */
export function cursiveInk(h: number, w: number, rng: Random, opts: CursiveOptions = {}): Uint8Array {
  const [lsLo, lsHi] = opts.lineSpacing ?? [46, 60];
  const [xhLo, xhHi] = opts.xHeight ?? [12, 20];
  const [lwLo, lwHi] = opts.letterWidth ?? [9, 16];
  const [nLo, nHi] = opts.letters ?? [3, 8];
  const [gLo, gHi] = opts.wordGap ?? [10, 24];
  const [rLo, rHi] = opts.penRadius ?? [1.5, 3];
  const ink = new Uint8Array(h * w);
  const slope = rng.uniform(-0.05, 0.05);
  for (let base = rng.uniform(lsLo / 2, lsHi); base < h + lsHi; base += rng.uniform(lsLo, lsHi)) {
    let x = rng.uniform(-20, gHi);
    const xh = rng.uniform(xhLo, xhHi);
    while (x < w) {
      const letters = rng.int(nLo, nHi);
      const baseAt = (px: number) => base + slope * px;
      let p: Pt = [x, baseAt(x)];
      let r = rng.uniform(rLo, rHi);
      for (let l = 0; l < letters; l++) {
        const lw = rng.uniform(lwLo, lwHi);
        const kind = rng.below(6);
        // Letter height: mostly the x-height, sometimes an ascender (1.8x) or a descender below the line.
        const top = kind === 0 ? 1.8 * xh : kind === 1 ? -0.8 * xh : xh * rng.uniform(0.8, 1.1);
        const peakX = p[0] + lw * rng.uniform(0.3, 0.6);
        const peak: Pt = [peakX, baseAt(peakX) - top];
        const end: Pt = [p[0] + lw, baseAt(p[0] + lw) + rng.normal() * 0.8];
        const rMid = Math.min(rHi, Math.max(rLo, r + rng.normal() * 0.4));
        const rEnd = Math.min(rHi, Math.max(rLo, rMid + rng.normal() * 0.4));
        // Up-stroke and down-stroke; a loop letter swings its control points past the peak.
        const loop = kind === 0 || rng.chance(0.3) ? rng.uniform(0.3, 0.7) * lw : 0;
        bezier(ink, h, w, p, [p[0] + 0.2 * lw, p[1] - 0.5 * top], [peak[0] + loop, peak[1] + 0.1 * top], peak, r, rMid);
        const c1: Pt = [peak[0] - loop, peak[1] + 0.2 * top];
        bezier(ink, h, w, peak, c1, [end[0] - 0.3 * lw, end[1] + 0.15 * xh], end, rMid, rEnd);
        p = end;
        r = rEnd;
      }
      x = p[0] + rng.uniform(gLo, gHi);
    }
  }
  return ink;
}
