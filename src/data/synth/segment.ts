/**
 * A synthetic scroll segment (docs/synthetic-data.md, scroll domain): 3..6 papyrus sheets 8..12 layers thick
 * with 2..10-layer gaps, stacked around the flattened target sheet whose surface wanders around layer 32
 * (undulation 6 layers), blurred by sigma 1 voxel, with a random gain (0.8..1.2) and offset (+-10%); the ink
 * on the target sheet is half as strong as on fragments and the noise 1.5x stronger; uint8 output (papyrus
 * ~147 +- 32, air 0..20). Some segments store their layers in reverse order.
 */
import { Random, normalTable16 } from '../augment/random.js';
import { blurAxis, smoothNoise2D, smoothNoise3D, surfaceWander, type SurfaceWander } from './fields.js';
import { fractionWithin, type GlyphOptions, glyphInk, validRegion } from './masks.js';
import { renderDensity, type SheetSpec } from './sheet.js';

export interface SegmentOptions {
  height: number;
  width: number;
  seed: number;
  layers?: number;
  /** Fragment-scale ink step; the scroll's ink is half of it (x0.5). */
  inkDelta?: number;
  /** Layer of the target sheet's surface in the usual (not reversed) order. */
  surfaceLayer?: number;
  /** Store the layers in reverse order. */
  reversed?: boolean;
  /** Number of sheets (3..6 at random by default). */
  sheets?: number;
  coverage?: number;
  /** Glyph model of the target sheet's ink; glyphInk's defaults where absent. */
  glyphs?: GlyphOptions;
  /** Undulation of the sheet stack: amplitude (layers, default 3) and correlation length (px, default 60). */
  wander?: SurfaceWander;
}

export interface SegmentInfo {
  seed: number;
  /** Ink step actually used (inkDelta x 0.5). */
  inkDelta: number;
  reversed: boolean;
  /** Surface layer of the target sheet in the stored order (64 - 32 = 32 when reversed, for 65 layers). */
  surfaceLayer: number;
  sheets: number;
  targetSheet: number;
  gain: number;
  offset: number;
  inkFraction: number;
  maskFraction: number;
}

export interface SynthSegment {
  kind: 'segment';
  layers: number;
  height: number;
  width: number;
  /** [layers, height, width] uint8 in stored order (reversed when info.reversed), zero outside the mask. */
  volume: Uint8Array;
  /** 0/1 per pixel. */
  mask: Uint8Array;
  /** Ground-truth ink of the target sheet, 0/1 (pretraining never reads it). */
  labels: Uint8Array;
  info: SegmentInfo;
}

/** Papyrus density 1.0 maps to this uint8 value (docs/synthetic-data.md: papyrus ~147 +- 32). */
export const SEGMENT_SCALE = 147;

/** Rolls a [h, w] field by (dy, dx) with wrap-around: cheap distinct textures for each sheet. */
function roll(f: Float32Array, h: number, w: number, dy: number, dx: number): Float32Array {
  const out = new Float32Array(h * w);
  for (let y = 0; y < h; y++) {
    const sy = (((y - dy) % h) + h) % h;
    for (let x = 0; x < w; x++) out[y * w + x] = f[sy * w + ((((x - dx) % w) + w) % w)] as number;
  }
  return out;
}

export function synthSegment(opts: SegmentOptions): SynthSegment {
  const { height: H, width: W, seed } = opts;
  const L = opts.layers ?? 65;
  if (!Number.isInteger(H) || !Number.isInteger(W) || H < 16 || W < 16)
    throw new Error(`synthSegment: size must be integers >= 16, got ${H}x${W}`);
  if (!Number.isInteger(L) || L < 8) throw new Error(`synthSegment: layers must be an integer >= 8, got ${L}`);
  const inkDelta = 0.5 * (opts.inkDelta ?? 0.18);
  const s0 = opts.surfaceLayer ?? Math.floor(L / 2);
  const rng = new Random(seed);
  const plane = H * W;
  const mask = validRegion(H, W, opts.coverage ?? 0.57, rng.fork(1));

  const grng = rng.fork(2);
  const nSheets = opts.sheets ?? grng.int(3, 6);
  if (!Number.isInteger(nSheets) || nSheets < 1)
    throw new Error(`synthSegment: sheets must be a positive integer, got ${nSheets}`);
  const target = grng.int(0, nSheets - 1);
  const thick = Array.from({ length: nSheets }, () => grng.uniform(8, 12));
  const gaps = Array.from({ length: nSheets }, () => grng.uniform(2, 10));
  // Offsets of each sheet's surface from the target's: sheets below follow after thickness + gap, above before.
  const rel = new Array<number>(nSheets).fill(0);
  for (let k = target + 1; k < nSheets; k++)
    rel[k] = (rel[k - 1] as number) + (thick[k - 1] as number) + (gaps[k - 1] as number);
  for (let k = target - 1; k >= 0; k--) rel[k] = (rel[k + 1] as number) - (gaps[k] as number) - (thick[k] as number);

  // Undulation: "6 layers" taken as an amplitude of about two standard deviations (3 x unit noise).
  const { amplitude, length } = surfaceWander('synthSegment', opts.wander, { amplitude: 3, length: 60 });
  const und = smoothNoise2D(H, W, length, length, grng);
  const frng = rng.fork(3);
  const fibreH = smoothNoise2D(H, W, 1.2, 12, frng);
  const fibreV = smoothNoise2D(H, W, 12, 1.2, frng);
  const ink = glyphInk(H, W, rng.fork(4), opts.glyphs);
  const sheets: SheetSpec[] = [];
  for (let k = 0; k < nSheets; k++) {
    // Sheets are not perfectly parallel: each gets its own small deviation (0.7 layer std).
    const dev = smoothNoise2D(H, W, 80, 80, grng);
    const surface = new Float32Array(plane);
    for (let i = 0; i < plane; i++)
      surface[i] =
        s0 + (rel[k] as number) + amplitude * (und[i] as number) + (k === target ? 0 : 0.7 * (dev[i] as number));
    const spec: SheetSpec = {
      surface,
      thickness: new Float32Array(plane).fill(thick[k] as number),
      fibreH: k === target ? fibreH : roll(fibreH, H, W, grng.int(0, H - 1), grng.int(0, W - 1)),
      fibreV: k === target ? fibreV : roll(fibreV, H, W, grng.int(0, H - 1), grng.int(0, W - 1)),
    };
    if (k === target) {
      spec.ink = ink;
      spec.inkDelta = inkDelta;
    }
    sheets.push(spec);
  }
  const grain = smoothNoise3D(L, H, W, 3, 3, 3, rng.fork(5));
  let density = renderDensity(L, H, W, sheets, grain, null);
  // Scanner blur: sigma 1 voxel in z, y and x.
  density = blurAxis(density, L * H, W, 1, 1);
  density = blurAxis(density, L, H, W, 1);
  density = blurAxis(density, 1, L, plane, 1);

  const nrng = rng.fork(6);
  const gain = nrng.uniform(0.8, 1.2);
  const offset = nrng.uniform(-0.1, 0.1);
  const drift = smoothNoise2D(H, W, 150, 150, nrng);
  const reversed = opts.reversed ?? false;
  const table = normalTable16();
  const volume = new Uint8Array(L * plane);
  for (let z = 0; z < L; z++) {
    const src = z * plane;
    const dst = (reversed ? L - 1 - z : z) * plane;
    for (let i = 0; i < plane; i++) {
      if (!mask[i]) continue;
      const n = table[nrng.nextUint32() & 0xffff] as number;
      const d = ((density[src + i] as number) * gain + offset) * (1 + 0.08 * (drift[i] as number)) + 0.15 * n;
      const v = Math.round(d * SEGMENT_SCALE);
      volume[dst + i] = v < 0 ? 0 : Math.min(v, 255);
    }
  }
  let inMask = 0;
  for (let i = 0; i < plane; i++) inMask += mask[i] as number;
  const labels = new Uint8Array(plane);
  for (let i = 0; i < plane; i++) labels[i] = mask[i] ? (ink[i] as number) : 0;
  return {
    kind: 'segment',
    layers: L,
    height: H,
    width: W,
    volume,
    mask,
    labels,
    info: {
      seed,
      inkDelta,
      reversed,
      surfaceLayer: reversed ? L - 1 - s0 : s0,
      sheets: nSheets,
      targetSheet: target,
      gain,
      offset,
      inkFraction: fractionWithin(ink, mask),
      maskFraction: inMask / plane,
    },
  };
}
