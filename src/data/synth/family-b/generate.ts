/**
 * The second synthetic family (docs/synthetic-data.md, family B): fragments and scroll segments written by
 * code independent of the first family, with the same physics (ink is added density in the few layers around
 * a wandering papyrus surface, the surface near the middle layer) but everything else different: cursive ink
 * (./strokes.ts), plane-wave surfaces and lattice-noise fibres (./fields.ts), a smoothstep edge and a density
 * gradient through the sheet, papyrus on either side of the surface (chosen per volume), 8- or 16-bit output
 * at other grey levels with an offset, Poisson (photon) noise, speckle, column stripes and a binomial blur.
 * It exists to check that an ink model has learned ink rather than the first family's habits.
 */
import { Random } from '../../augment/random.js';
import { binomialPass, ellipseRegion, valueNoise, waveField } from './fields.js';
import { cursiveInk } from './strokes.js';

/** 'after': papyrus at higher layer numbers than the surface (the canonical order); 'before': the other side. */
export type PapyrusSide = 'after' | 'before';

export interface FamilyBOptions {
  height: number;
  width: number;
  seed: number;
  /** Layers (65 by default). */
  layers?: number;
  /** Ink density step on fragments, relative to papyrus 1.0 (scroll segments get 0.6 of it). */
  inkDelta?: number;
  /** Which side of the surface the papyrus lies on in the stored order; random per volume by default. */
  papyrusSide?: PapyrusSide;
  /** Stored bit depth; random per volume by default. */
  bits?: 8 | 16;
}

export interface FamilyBInfo {
  seed: number;
  inkDelta: number;
  papyrusSide: PapyrusSide;
  /** True when the stored order is the reverse of the canonical one (papyrus before the surface). */
  reversed: boolean;
  bits: 8 | 16;
  /** Stored value of papyrus density 1.0, and of density 0. */
  papyrusLevel: number;
  offsetLevel: number;
  /** Mean surface layer in the stored order. */
  surfaceLayer: number;
  inkFraction: number;
  maskFraction: number;
  /** Fragments: label misalignment. */
  labelShift?: [number, number];
  /** Segments: sheet count and which one carries the ink. */
  sheets?: number;
  targetSheet?: number;
}

export interface FamilyBVolume {
  kind: 'fragment' | 'segment';
  layers: number;
  height: number;
  width: number;
  /** [layers, height, width] in stored order, zero outside the mask. */
  volume: Uint8Array | Uint16Array;
  mask: Uint8Array;
  /** Ink labels as traced (fragments: shifted by up to 1 px), 0/1, zero outside the mask. */
  labels: Uint8Array;
  /** Fragments: an infrared stand-in (ink dark), 0..255. */
  ir: Uint8Array | null;
  info: FamilyBInfo;
}

interface Sheet {
  surface: Float32Array;
  thickness: Float32Array;
  ink: Uint8Array | null;
  delta: number;
}

interface Textures {
  /** Fibres across (upper part of the sheet) and along (lower part). */
  across: Float32Array;
  along: Float32Array;
  patch: Float32Array;
  fibreAmp: number;
  /** Density change from the surface to the back of the sheet (a per-volume gradient). */
  gradient: number;
  air: number;
  /** Smoothstep edge width, in layers. */
  edge: number;
}

/** Ink band relative to the surface, in layers. */
const INK_FROM = -1;
const INK_TO = 2.5;

function ramp(t: number): number {
  if (t <= 0) return 0;
  if (t >= 1) return 1;
  return t * t * (3 - 2 * t);
}

/** Density [layers, h, w] in canonical order (papyrus after the surface). */
function renderSheets(L: number, H: number, W: number, sheets: readonly Sheet[], tx: Textures): Float32Array {
  const plane = H * W;
  const out = new Float32Array(L * plane).fill(tx.air);
  const e = tx.edge;
  for (const sh of sheets) {
    for (let i = 0; i < plane; i++) {
      const s = sh.surface[i] as number;
      const T = sh.thickness[i] as number;
      const inked = sh.ink !== null && sh.ink[i] === 1;
      const z0 = Math.max(0, Math.floor(s - e - 2));
      const z1 = Math.min(L - 1, Math.ceil(s + T + e + 1));
      for (let z = z0; z <= z1; z++) {
        const u = z - s;
        const occ = ramp((u + e / 2) / e) * ramp((T - u + e / 2) / e);
        if (occ === 0) continue;
        const inBand = inked && u >= INK_FROM && u <= INK_TO;
        const fib = u < 0.45 * T ? (tx.across[i] as number) : (tx.along[i] as number);
        const texture = (inBand ? 0.6 : 1) * tx.fibreAmp * fib + 0.06 * (tx.patch[i] as number);
        const body = 1 + tx.gradient * (u / T - 0.5) + texture;
        const o = z * plane + i;
        out[o] = (out[o] as number) + occ * (body - tx.air) + (inBand ? sh.delta : 0);
      }
    }
  }
  return out;
}

function textures(H: number, W: number, rng: Random): Textures {
  return {
    across: valueNoise(H, W, 2, rng.uniform(10, 18), rng),
    along: valueNoise(H, W, rng.uniform(10, 18), 2, rng),
    patch: valueNoise(H, W, 25, 25, rng),
    fibreAmp: rng.uniform(0.08, 0.14),
    gradient: rng.uniform(-0.2, 0.2),
    air: rng.uniform(0.05, 0.25),
    edge: rng.uniform(1, 1.6),
  };
}

interface Scanner {
  bits: 8 | 16;
  level: number;
  offset: number;
  /** Photons per unit density (Poisson noise: variance density / photons). */
  photons: number;
  speckle: number;
  stripes: number;
}

function scanner(rng: Random, bits: 8 | 16 | undefined, noiseScale: number): Scanner {
  const b = bits ?? (rng.chance(0.5) ? 16 : 8);
  const max = b === 16 ? 65535 : 255;
  return {
    bits: b,
    level: b === 16 ? rng.uniform(14000, 42000) : rng.uniform(80, 180),
    offset: rng.uniform(0, 0.04) * max,
    photons: rng.uniform(70, 160) / (noiseScale * noiseScale),
    speckle: 0.04 * noiseScale,
    stripes: rng.uniform(0.01, 0.04),
  };
}

/**
 * Scanner model: binomial blur (z once, y and x `planeBlur` times), slow gain drift, Poisson noise (Gaussian
 * approximation, variance density / photons), multiplicative speckle, column stripes; then quantisation to the
 * scanner's bit depth and level, flipped to the stored order, zero outside the mask.
 */
function scan(
  density: Float32Array,
  L: number,
  H: number,
  W: number,
  mask: Uint8Array,
  sc: Scanner,
  flip: boolean,
  planeBlur: number,
  rng: Random,
): Uint8Array | Uint16Array {
  const plane = H * W;
  let d = binomialPass(density, 1, L, plane);
  for (let k = 0; k < planeBlur; k++) {
    d = binomialPass(d, L, H, W);
    d = binomialPass(d, L * H, W, 1);
  }
  const drift = waveField(H, W, 3, 150, 400, 0.06, rng);
  const columns = new Float32Array(W);
  for (let x = 0; x < W; x++) columns[x] = rng.normal();
  const max = sc.bits === 16 ? 65535 : 255;
  const out = sc.bits === 16 ? new Uint16Array(L * plane) : new Uint8Array(L * plane);
  const n1 = new Float32Array(plane);
  const n2 = new Float32Array(plane);
  for (let z = 0; z < L; z++) {
    rng.fillNormalFast(n1);
    rng.fillNormalFast(n2);
    const dst = (flip ? L - 1 - z : z) * plane;
    for (let i = 0; i < plane; i++) {
      if (!mask[i]) continue;
      const v = Math.max(0, (d[z * plane + i] as number) * (1 + (drift[i] as number)));
      const photon = v + Math.sqrt(v / sc.photons) * (n1[i] as number);
      const s = photon * (1 + sc.speckle * (n2[i] as number)) + sc.stripes * (columns[i % W] as number);
      const q = Math.round(sc.offset + sc.level * s);
      out[dst + i] = q < 0 ? 0 : Math.min(q, max);
    }
  }
  return out;
}

function fraction(a: Uint8Array, within: Uint8Array): number {
  let n = 0;
  let k = 0;
  for (let i = 0; i < a.length; i++)
    if (within[i]) {
      n++;
      k += a[i] ? 1 : 0;
    }
  return n === 0 ? 0 : k / n;
}

function check(op: string, o: FamilyBOptions, L: number): void {
  if (!Number.isInteger(o.height) || !Number.isInteger(o.width) || o.height < 16 || o.width < 16) {
    throw new Error(`${op}: size must be integers >= 16, got ${o.height}x${o.width}`);
  }
  if (!Number.isInteger(L) || L < 16) throw new Error(`${op}: layers must be an integer >= 16, got ${L}`);
  const d = o.inkDelta ?? 0.2;
  if (!(d >= 0 && d <= 1)) throw new Error(`${op}: inkDelta must be in [0, 1], got ${d}`);
}

/** What every family-B volume starts from: checked sizes, its generator, papyrus side and valid region. */
function begin(op: string, o: FamilyBOptions) {
  const L = o.layers ?? 65;
  check(op, o, L);
  const rng = new Random(o.seed);
  const side: PapyrusSide = o.papyrusSide ?? (rng.fork(1).chance(0.5) ? 'after' : 'before');
  const mask = ellipseRegion(o.height, o.width, rng.fork(2));
  return { L, H: o.height, W: o.width, plane: o.height * o.width, rng, side, flip: side === 'before', mask };
}

/** The info fields both kinds share. */
function baseInfo(
  o: FamilyBOptions,
  inkDelta: number,
  side: PapyrusSide,
  sc: Scanner,
  s0: number,
  L: number,
  ink: Uint8Array,
  mask: Uint8Array,
): FamilyBInfo {
  const flip = side === 'before';
  return {
    seed: o.seed,
    inkDelta,
    papyrusSide: side,
    reversed: flip,
    bits: sc.bits,
    papyrusLevel: sc.level,
    offsetLevel: sc.offset,
    surfaceLayer: flip ? L - 1 - s0 : s0,
    inkFraction: fraction(ink, mask),
    maskFraction: fraction(mask, new Uint8Array(mask.length).fill(1)),
  };
}

/** A family-B fragment: one sheet 10..16 layers thick, cursive ink, Kaggle-like labels and IR image. */
export function synthFragmentB(o: FamilyBOptions): FamilyBVolume {
  const { L, H, W, plane, rng, side, flip, mask } = begin('synthFragmentB', o);
  const srng = rng.fork(3);
  const s0 = Math.floor(L / 2) + srng.uniform(-1.5, 1.5);
  const waves = waveField(H, W, 5, 90, 300, 2.5, srng);
  const bumps = valueNoise(H, W, 40, 40, srng);
  const t0 = srng.uniform(10, 16);
  const tvar = valueNoise(H, W, 80, 80, srng);
  const surface = new Float32Array(plane);
  const thickness = new Float32Array(plane);
  for (let i = 0; i < plane; i++) {
    surface[i] = s0 + (waves[i] as number) + 0.8 * (bumps[i] as number);
    thickness[i] = Math.max(8, t0 + 1.5 * (tvar[i] as number));
  }
  const ink = cursiveInk(H, W, rng.fork(4));
  const inkDelta = o.inkDelta ?? 0.2;
  const density = renderSheets(L, H, W, [{ surface, thickness, ink, delta: inkDelta }], textures(H, W, rng.fork(5)));
  const sc = scanner(rng.fork(6), o.bits, 1);
  const volume = scan(density, L, H, W, mask, sc, flip, 1, rng.fork(7));

  const lrng = rng.fork(8);
  const shift: [number, number] = [lrng.int(-1, 1), lrng.int(-1, 1)];
  const labels = new Uint8Array(plane);
  const ir = new Uint8Array(plane);
  const shade = valueNoise(H, W, 30, 30, lrng);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      if (!mask[i]) continue;
      const sy = y - shift[0];
      const sx = x - shift[1];
      const traced = sy >= 0 && sy < H && sx >= 0 && sx < W ? (ink[sy * W + sx] as number) : 0;
      labels[i] = traced;
      const bright = 190 + 12 * (shade[i] as number) - 110 * traced + 5 * lrng.normal();
      ir[i] = Math.max(1, Math.min(255, Math.round(bright)));
    }
  }
  return {
    kind: 'fragment',
    layers: L,
    height: H,
    width: W,
    volume,
    mask,
    labels,
    ir,
    info: { ...baseInfo(o, inkDelta, side, sc, s0, L, ink, mask), labelShift: shift },
  };
}

/**
 * A family-B scroll segment: 2..5 sheets 7..12 layers thick with 1.5..8-layer gaps, the inked target sheet's
 * surface near the middle layer, ink at 0.6 of the fragment step, noise 1.3x, a stronger blur.
 */
export function synthSegmentB(o: FamilyBOptions): FamilyBVolume {
  const { L, H, W, plane, rng, side, flip, mask } = begin('synthSegmentB', o);
  const grng = rng.fork(3);
  const n = grng.int(2, 5);
  const target = grng.int(0, n - 1);
  const thick = Array.from({ length: n }, () => grng.uniform(7, 12));
  const gaps = Array.from({ length: n }, () => grng.uniform(1.5, 8));
  const rel = new Array<number>(n).fill(0);
  for (let k = target + 1; k < n; k++) {
    rel[k] = (rel[k - 1] as number) + (thick[k - 1] as number) + (gaps[k - 1] as number);
  }
  for (let k = target - 1; k >= 0; k--) rel[k] = (rel[k + 1] as number) - (gaps[k] as number) - (thick[k] as number);
  const s0 = Math.floor(L / 2) + grng.uniform(-1.5, 1.5);
  const und = waveField(H, W, 5, 90, 300, 2.5, grng);
  const ink = cursiveInk(H, W, rng.fork(4));
  const inkDelta = 0.6 * (o.inkDelta ?? 0.2);
  const sheets: Sheet[] = [];
  for (let k = 0; k < n; k++) {
    const dev = k === target ? null : valueNoise(H, W, 70, 70, grng);
    const surface = new Float32Array(plane);
    for (let i = 0; i < plane; i++) {
      surface[i] = s0 + (rel[k] as number) + (und[i] as number) + (dev === null ? 0 : 0.6 * (dev[i] as number));
    }
    const thickness = new Float32Array(plane).fill(thick[k] as number);
    sheets.push({ surface, thickness, ink: k === target ? ink : null, delta: k === target ? inkDelta : 0 });
  }
  const density = renderSheets(L, H, W, sheets, textures(H, W, rng.fork(5)));
  const sc = scanner(rng.fork(6), o.bits, 1.3);
  const volume = scan(density, L, H, W, mask, sc, flip, 2, rng.fork(7));
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
    ir: null,
    info: { ...baseInfo(o, inkDelta, side, sc, s0, L, ink, mask), sheets: n, targetSheet: target },
  };
}
