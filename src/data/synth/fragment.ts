/**
 * A synthetic Kaggle-style fragment (docs/synthetic-data.md): one papyrus sheet whose surface wanders
 * (4 layers x correlated noise of length 60 px, plus a 0.004 layer/px tilt) around layer 32, ink glyphs on
 * its surface, labels misaligned by up to +-2 px, noise, a multiplicative drift, a valid-region blob; stored
 * as uint16 with papyrus around 30000.
 */
import { Random, normalTable16 } from '../augment/random.js';
import { smoothNoise2D, smoothNoise3D, surfaceWander, type SurfaceWander } from './fields.js';
import { crackFactor, dilate3, fractionWithin, type GlyphOptions, glyphInk, shiftMask, validRegion } from './masks.js';
import { renderDensity, type SheetSpec } from './sheet.js';

export interface FragmentOptions {
  height: number;
  width: number;
  seed: number;
  /** Layers (65 in the Kaggle data). */
  layers?: number;
  /** Ink density step (docs/synthetic-data.md: .15-.20 keeps ink learnable but not trivial). */
  inkDelta?: number;
  /** Mean surface layer. */
  surfaceLayer?: number;
  /** Number of cracks; random 0..3 by default. */
  cracks?: number;
  /** Labels dilated by 1 px; random by default. */
  dilateLabels?: boolean;
  /** Label misalignment [dy, dx]; random in -2..2 by default. */
  labelShift?: [number, number];
  /** Fraction of the frame inside the valid region (Kaggle fragment 1: 56%). */
  coverage?: number;
  /** Glyph model (line spacing, glyph size, stroke width); glyphInk's defaults where absent. */
  glyphs?: GlyphOptions;
  /** Surface wander: amplitude (layers, default 4) and correlation length (px, default 60). */
  wander?: SurfaceWander;
}

export interface FragmentInfo {
  seed: number;
  inkDelta: number;
  surfaceLayer: number;
  labelShift: [number, number];
  labelsDilated: boolean;
  cracks: number;
  /** Ink (true) share of the valid region, and the valid region's share of the frame. */
  inkFraction: number;
  labelFraction: number;
  maskFraction: number;
}

export interface SynthFragment {
  kind: 'fragment';
  layers: number;
  height: number;
  width: number;
  /** [layers, height, width] uint16, zero outside the valid region. */
  volume: Uint16Array;
  /** 0/1 per pixel. */
  mask: Uint8Array;
  /** Ink labels as traced (shifted, maybe dilated), 0/1, zero outside the mask. */
  labels: Uint8Array;
  /** Where the ink really is, 0/1. */
  ink: Uint8Array;
  /** Infrared photograph stand-in, 0..255 (ink dark), zero outside the mask. */
  ir: Uint8Array;
  /** Surface layer per pixel. */
  surface: Float32Array;
  info: FragmentInfo;
}

/** Papyrus density 1.0 maps to this uint16 value (docs/synthetic-data.md: papyrus ~30k +- 5k). */
export const FRAGMENT_SCALE = 30000;

function checkSize(op: string, h: number, w: number, layers: number): void {
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 16 || w < 16)
    throw new Error(`${op}: size must be integers >= 16, got ${h}x${w}`);
  if (!Number.isInteger(layers) || layers < 8) throw new Error(`${op}: layers must be an integer >= 8, got ${layers}`);
}

export function synthFragment(opts: FragmentOptions): SynthFragment {
  const { height: H, width: W, seed } = opts;
  const L = opts.layers ?? 65;
  checkSize('synthFragment', H, W, L);
  const inkDelta = opts.inkDelta ?? 0.18;
  const s0 = opts.surfaceLayer ?? Math.floor(L / 2);
  const rng = new Random(seed);
  const plane = H * W;

  const mask = validRegion(H, W, opts.coverage ?? 0.57, rng.fork(1));
  // Surface: 4 layers of correlated noise (length 60 px) plus a tilt of 0.004 layers/px in a random direction.
  const { amplitude, length } = surfaceWander('synthFragment', opts.wander, { amplitude: 4, length: 60 });
  const srng = rng.fork(2);
  const wander = smoothNoise2D(H, W, length, length, srng);
  const theta = srng.uniform(0, 2 * Math.PI);
  const thick = srng.uniform(12, 20);
  const thickVar = smoothNoise2D(H, W, 100, 100, srng);
  const surface = new Float32Array(plane);
  const thickness = new Float32Array(plane);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      surface[i] =
        s0 +
        amplitude * (wander[i] as number) +
        0.004 * ((x - W / 2) * Math.cos(theta) + (y - H / 2) * Math.sin(theta));
      thickness[i] = Math.min(20, Math.max(12, thick + (thickVar[i] as number)));
    }
  }
  const frng = rng.fork(3);
  const fibreH = smoothNoise2D(H, W, 1.2, 12, frng);
  const fibreV = smoothNoise2D(H, W, 12, 1.2, frng);
  const grain = smoothNoise3D(L, H, W, 3, 3, 3, rng.fork(4));
  const crng = rng.fork(5);
  const cracks = opts.cracks ?? crng.int(0, 3);
  const crack = cracks > 0 ? crackFactor(H, W, cracks, crng) : null;
  const ink = glyphInk(H, W, rng.fork(6), opts.glyphs);

  const sheet: SheetSpec = { surface, thickness, fibreH, fibreV, ink, inkDelta };
  const density = renderDensity(L, H, W, [sheet], grain, crack);

  // Additive noise sigma .10 and a multiplicative drift 1 +- .08 (correlation length 150 px).
  const nrng = rng.fork(7);
  const drift = smoothNoise2D(H, W, 150, 150, nrng);
  const table = normalTable16();
  const volume = new Uint16Array(L * plane);
  for (let z = 0; z < L; z++) {
    const o = z * plane;
    for (let i = 0; i < plane; i++) {
      if (!mask[i]) continue;
      const n = table[nrng.nextUint32() & 0xffff] as number;
      const d = (density[o + i] as number) * (1 + 0.08 * (drift[i] as number)) + 0.1 * n;
      const v = Math.round(d * FRAGMENT_SCALE);
      volume[o + i] = v < 0 ? 0 : Math.min(v, 65535);
    }
  }

  // Labels: the ink as traced on a misaligned IR photo (shift up to +-2 px), optionally dilated by 1 px.
  const lrng = rng.fork(8);
  const shift: [number, number] = opts.labelShift ?? [lrng.int(-2, 2), lrng.int(-2, 2)];
  const dilated = opts.dilateLabels ?? lrng.chance(0.5);
  const traced = shiftMask(ink, H, W, shift[0], shift[1]);
  const labels = dilated ? dilate3(traced, H, W) : traced;
  for (let i = 0; i < plane; i++) labels[i] = mask[i] ? (labels[i] as number) : 0;
  // IR: bright papyrus with a slow shading, ink dark, at the labels' alignment.
  const irng = rng.fork(9);
  const shade = smoothNoise2D(H, W, 20, 20, irng);
  const ir = new Uint8Array(plane);
  for (let i = 0; i < plane; i++) {
    if (!mask[i]) continue;
    const v = 165 + 15 * (shade[i] as number) - 95 * (traced[i] as number) + 6 * irng.normal();
    ir[i] = Math.max(1, Math.min(255, Math.round(v)));
  }

  let inMask = 0;
  for (let i = 0; i < plane; i++) inMask += mask[i] as number;
  return {
    kind: 'fragment',
    layers: L,
    height: H,
    width: W,
    volume,
    mask,
    labels,
    ink,
    ir,
    surface,
    info: {
      seed,
      inkDelta,
      surfaceLayer: s0,
      labelShift: shift,
      labelsDilated: dilated,
      cracks,
      inkFraction: fractionWithin(ink, mask),
      labelFraction: fractionWithin(labels, mask),
      maskFraction: inMask / plane,
    },
  };
}
