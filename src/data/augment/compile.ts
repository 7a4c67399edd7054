/**
 * Validates a JSON augmentation config and turns each op into a step: a geometric step contributes a
 * coordinate-map stage (fused with its geometric neighbours by the runner), a pixel step edits the crop.
 * Defaults are albumentations 1.3.1's (p = 0.5 for its random transforms; Normalize always applies).
 */
import type { BorderMode, Crop, OpConfig, OpType } from './types.js';
import type { Random } from './random.js';
import { affineStage, gridStage, gridTables, hflipStage, rot90Stage, vflipStage, type GeoStage } from './geometry.js';
import {
  brightnessContrast,
  brightnessOffset,
  channelDropout,
  coarseDropout,
  cutout,
  gamma,
  gaussianBlur,
  gaussNoise,
  motionBlur,
  normalize,
} from './pixel.js';
import { temporal, zFlip, zShift } from './depth.js';

export type Step =
  | { kind: 'geo'; type: OpType; p: number; make(rng: Random, h: number, w: number): GeoStage }
  /** `inPlace`: edits crop.data in place (the runner copies a borrowed input first); else replaces it. */
  | { kind: 'pixel'; type: OpType; p: number; inPlace: boolean; apply(crop: Crop, rng: Random): void }
  | { kind: 'oneOf'; type: 'oneOf'; p: number; children: Step[]; weights: number[] };

const DEFAULT_P: Record<OpType, number> = {
  hflip: 0.5,
  vflip: 0.5,
  rot90: 0.5,
  shiftScaleRotate: 0.5,
  gridDistortion: 0.5,
  oneOf: 0.5,
  gaussNoise: 0.5,
  gaussianBlur: 0.5,
  motionBlur: 0.5,
  coarseDropout: 0.5,
  cutout: 0.5,
  brightnessContrast: 0.5,
  gamma: 0.5,
  channelDropout: 0.5,
  temporal: 1,
  zShift: 1,
  zflip: 0.5,
  brightnessOffset: 1,
  normalize: 1,
};

const ALLOWED_KEYS: Record<OpType, readonly string[]> = {
  hflip: [],
  vflip: [],
  rot90: [],
  shiftScaleRotate: ['shiftLimit', 'scaleLimit', 'rotateLimit', 'border', 'value', 'maskValue'],
  gridDistortion: ['numSteps', 'distortLimit', 'border', 'value', 'maskValue'],
  oneOf: ['ops'],
  gaussNoise: ['varLimit', 'mean', 'perVoxel', 'maxValue'],
  gaussianBlur: ['blurLimit'],
  motionBlur: ['blurLimit'],
  coarseDropout: [
    'maxHoles',
    'minHoles',
    'maxHeight',
    'maxWidth',
    'minHeight',
    'minWidth',
    'fillValue',
    'maskFillValue',
  ],
  cutout: ['numHoles', 'maxHSize', 'maxWSize', 'fillValue'],
  brightnessContrast: ['brightnessLimit', 'contrastLimit', 'maxValue'],
  gamma: ['gammaLimit', 'maxValue'],
  channelDropout: ['dropRange', 'fillValue'],
  temporal: ['minSlices', 'maxSlices', 'maxCutout', 'cutoutP'],
  zShift: ['choices', 'depth'],
  zflip: [],
  brightnessOffset: ['choices', 'maxValue'],
  normalize: ['mean', 'std', 'maxPixelValue'],
};

interface NumOpts {
  min?: number;
  max?: number;
  int?: boolean;
  exclusiveMin?: boolean;
}

function num(where: string, v: unknown, dflt: number | undefined, o: NumOpts = {}): number {
  const x = v === undefined ? dflt : v;
  if (typeof x !== 'number' || !Number.isFinite(x))
    throw new Error(`augment: ${where} must be a finite number, got ${JSON.stringify(v)}`);
  if (o.int && !Number.isInteger(x)) throw new Error(`augment: ${where} must be an integer, got ${x}`);
  if (o.min !== undefined && (o.exclusiveMin ? x <= o.min : x < o.min))
    throw new Error(`augment: ${where} must be ${o.exclusiveMin ? '>' : '>='} ${o.min}, got ${x}`);
  if (o.max !== undefined && x > o.max) throw new Error(`augment: ${where} must be <= ${o.max}, got ${x}`);
  return x;
}

function pair(where: string, v: unknown, dflt: [number, number], o: NumOpts = {}): [number, number] {
  const x = v === undefined ? dflt : v;
  if (!Array.isArray(x) || x.length !== 2)
    throw new Error(`augment: ${where} must be a [low, high] pair, got ${JSON.stringify(v)}`);
  const lo = num(`${where}[0]`, x[0], undefined, o);
  const hi = num(`${where}[1]`, x[1], undefined, o);
  if (lo > hi) throw new Error(`augment: ${where} must have low <= high, got [${lo}, ${hi}]`);
  return [lo, hi];
}

function list(where: string, v: unknown, dflt: number[], o: NumOpts = {}): number[] {
  const x = v === undefined ? dflt : v;
  if (!Array.isArray(x) || x.length === 0)
    throw new Error(`augment: ${where} must be a non-empty list of numbers, got ${JSON.stringify(v)}`);
  return x.map((e, i) => num(`${where}[${i}]`, e, undefined, o));
}

function border(where: string, v: unknown): BorderMode {
  if (v === undefined) return 'reflect101';
  if (v === 'reflect101' || v === 'constant') return v;
  throw new Error(`augment: ${where} must be 'reflect101' or 'constant', got ${JSON.stringify(v)}`);
}

/**
 * What the warping ops (shiftScaleRotate, gridDistortion) put where the source lies outside the crop:
 * albumentations' border_mode, value (image) and mask_value (label), defaults reflect-101, 0 and 0.
 */
function outsideFill(
  w: string,
  op: { border?: unknown; value?: unknown; maskValue?: unknown },
): [BorderMode, number, number] {
  return [border(`${w}.border`, op.border), num(`${w}.value`, op.value, 0), num(`${w}.maskValue`, op.maskValue, 0)];
}

function bool(where: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw new Error(`augment: ${where} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** Compiles one op; `where` names it in errors, e.g. `ops[3] (shiftScaleRotate)`. */
export function compileOp(op: OpConfig, where: string): Step {
  if (op === null || typeof op !== 'object' || Array.isArray(op))
    throw new Error(`augment: ${where} must be an object with a 'type', got ${JSON.stringify(op)}`);
  const type = (op as { type?: unknown }).type;
  if (typeof type !== 'string' || !(type in ALLOWED_KEYS)) {
    throw new Error(
      `augment: ${where} has unknown type ${JSON.stringify(type)} (expected one of ${Object.keys(ALLOWED_KEYS).join(', ')})`,
    );
  }
  const w = `${where} (${type})`;
  const allowed = new Set(['type', 'p', ...ALLOWED_KEYS[type as OpType]]);
  for (const key of Object.keys(op))
    if (!allowed.has(key))
      throw new Error(`augment: ${w} has unknown field '${key}' (allowed: ${[...allowed].join(', ')})`);
  const p = num(`${w}.p`, op.p, DEFAULT_P[op.type], { min: 0, max: 1 });
  switch (op.type) {
    case 'hflip':
      return { kind: 'geo', type: op.type, p, make: (_r, h, wd) => hflipStage(h, wd) };
    case 'vflip':
      return { kind: 'geo', type: op.type, p, make: (_r, h, wd) => vflipStage(h, wd) };
    case 'rot90':
      return { kind: 'geo', type: op.type, p, make: (r, h, wd) => rot90Stage(h, wd, r.int(0, 3)) };
    case 'shiftScaleRotate': {
      const shift = num(`${w}.shiftLimit`, op.shiftLimit, 0.0625, { min: 0, max: 1 });
      const scale = num(`${w}.scaleLimit`, op.scaleLimit, 0.1, { min: 0, max: 0.99 });
      const rot = num(`${w}.rotateLimit`, op.rotateLimit, 45, { min: 0, max: 360 });
      const [b, value, maskValue] = outsideFill(w, op);
      // albumentations get_params order: angle, scale (biased by 1), dx, dy.
      return {
        kind: 'geo',
        type: op.type,
        p,
        make(r, h, wd) {
          const angle = r.uniform(-rot, rot);
          const s = r.uniform(1 - scale, 1 + scale);
          const dx = r.uniform(-shift, shift);
          const dy = r.uniform(-shift, shift);
          return affineStage(h, wd, angle, s, dx, dy, b, value, maskValue);
        },
      };
    }
    case 'gridDistortion': {
      const steps = num(`${w}.numSteps`, op.numSteps, 5, { min: 1, int: true });
      const limit = num(`${w}.distortLimit`, op.distortLimit, 0.3, { min: 0, max: 1 });
      const [b, value, maskValue] = outsideFill(w, op);
      return {
        kind: 'geo',
        type: op.type,
        p,
        make(r, h, wd) {
          const sx = Array.from({ length: steps + 1 }, () => 1 + r.uniform(-limit, limit));
          const sy = Array.from({ length: steps + 1 }, () => 1 + r.uniform(-limit, limit));
          return gridStage(h, wd, gridTables(wd, steps, sx), gridTables(h, steps, sy), b, value, maskValue);
        },
      };
    }
    case 'oneOf': {
      if (!Array.isArray(op.ops) || op.ops.length === 0)
        throw new Error(`augment: ${w}.ops must be a non-empty list of ops`);
      const children = op.ops.map((c, i) => compileOp(c, `${w}.ops[${i}]`));
      const weights = children.map((c) => c.p);
      if (!(weights.reduce((a, b) => a + b, 0) > 0))
        throw new Error(`augment: ${w} children's p (used as weights) sum to 0`);
      return { kind: 'oneOf', type: 'oneOf', p, children, weights };
    }
    case 'gaussNoise': {
      const v = pair(`${w}.varLimit`, op.varLimit, [10, 50], { min: 0 });
      const mean = num(`${w}.mean`, op.mean, 0);
      const perVoxel = bool(`${w}.perVoxel`, op.perVoxel, true);
      const maxValue = num(`${w}.maxValue`, op.maxValue, 255, { min: 0, exclusiveMin: true });
      return {
        kind: 'pixel',
        type: op.type,
        p,
        inPlace: true,
        apply: (c, r) => gaussNoise(c, r, v, mean, perVoxel, maxValue),
      };
    }
    case 'gaussianBlur': {
      const lim = pair(`${w}.blurLimit`, op.blurLimit, [3, 7], { min: 0, int: true });
      if (lim[0] % 2 !== 1 || lim[1] % 2 !== 1)
        throw new Error(`augment: ${w}.blurLimit must hold odd sizes, got [${lim[0]}, ${lim[1]}]`);
      return { kind: 'pixel', type: op.type, p, inPlace: true, apply: (c, r) => gaussianBlur(c, r, lim) };
    }
    case 'motionBlur': {
      const lim = pair(`${w}.blurLimit`, op.blurLimit, [3, 7], { min: 3, int: true });
      if (lim[1] % 2 !== 1) throw new Error(`augment: ${w}.blurLimit upper size must be odd, got ${lim[1]}`);
      return { kind: 'pixel', type: op.type, p, inPlace: true, apply: (c, r) => motionBlur(c, r, lim) };
    }
    case 'coarseDropout': {
      const maxHoles = num(`${w}.maxHoles`, op.maxHoles, 8, { min: 1, int: true });
      const minHoles = num(`${w}.minHoles`, op.minHoles, maxHoles, { min: 1, max: maxHoles, int: true });
      const maxHeight = num(`${w}.maxHeight`, op.maxHeight, 8, { min: 0, exclusiveMin: true });
      const maxWidth = num(`${w}.maxWidth`, op.maxWidth, 8, { min: 0, exclusiveMin: true });
      const minHeight = num(`${w}.minHeight`, op.minHeight, maxHeight, { min: 0, exclusiveMin: true, max: maxHeight });
      const minWidth = num(`${w}.minWidth`, op.minWidth, maxWidth, { min: 0, exclusiveMin: true, max: maxWidth });
      const fillValue = num(`${w}.fillValue`, op.fillValue, 0);
      const mf = op.maskFillValue;
      const maskFillValue = mf === undefined || mf === null ? null : num(`${w}.maskFillValue`, mf, undefined);
      const params = { maxHoles, minHoles, maxHeight, maxWidth, minHeight, minWidth, fillValue, maskFillValue };
      return { kind: 'pixel', type: op.type, p, inPlace: true, apply: (c, r) => coarseDropout(c, r, params) };
    }
    case 'cutout': {
      const n = num(`${w}.numHoles`, op.numHoles, 8, { min: 1, int: true });
      const hs = num(`${w}.maxHSize`, op.maxHSize, 8, { min: 0, exclusiveMin: true });
      const ws = num(`${w}.maxWSize`, op.maxWSize, 8, { min: 0, exclusiveMin: true });
      const fill = num(`${w}.fillValue`, op.fillValue, 0);
      return { kind: 'pixel', type: op.type, p, inPlace: true, apply: (c, r) => cutout(c, r, n, hs, ws, fill) };
    }
    case 'brightnessContrast': {
      const bl = num(`${w}.brightnessLimit`, op.brightnessLimit, 0.2, { min: 0 });
      const cl = num(`${w}.contrastLimit`, op.contrastLimit, 0.2, { min: 0 });
      const maxValue = num(`${w}.maxValue`, op.maxValue, 255, { min: 0, exclusiveMin: true });
      return {
        kind: 'pixel',
        type: op.type,
        p,
        inPlace: true,
        apply: (c, r) => brightnessContrast(c, r, bl, cl, maxValue),
      };
    }
    case 'gamma': {
      const gl = pair(`${w}.gammaLimit`, op.gammaLimit, [80, 120], { min: 0, exclusiveMin: true });
      const maxValue = num(`${w}.maxValue`, op.maxValue, 255, { min: 0, exclusiveMin: true });
      return { kind: 'pixel', type: op.type, p, inPlace: true, apply: (c, r) => gamma(c, r, gl, maxValue) };
    }
    case 'channelDropout': {
      const range = pair(`${w}.dropRange`, op.dropRange, [1, 1], { min: 1, int: true });
      const fill = num(`${w}.fillValue`, op.fillValue, 0);
      return { kind: 'pixel', type: op.type, p, inPlace: true, apply: (c, r) => channelDropout(c, r, range, fill) };
    }
    case 'temporal': {
      const maxSlices = num(`${w}.maxSlices`, op.maxSlices, 22, { min: 1, int: true });
      const minSlices = num(`${w}.minSlices`, op.minSlices, 12, { min: 1, max: maxSlices, int: true });
      const maxCutout = num(`${w}.maxCutout`, op.maxCutout, 2, { min: 0, int: true });
      const cutoutP = num(`${w}.cutoutP`, op.cutoutP, 0.6, { min: 0, max: 1 });
      const params = { minSlices, maxSlices, maxCutout, cutoutP };
      return { kind: 'pixel', type: op.type, p, inPlace: false, apply: (c, r) => temporal(c, r, params) };
    }
    case 'zShift': {
      const choices = list(`${w}.choices`, op.choices, [0, 1, 1, 2], { min: 0, int: true });
      const depth = num(`${w}.depth`, op.depth, undefined, { min: 1, int: true });
      return { kind: 'pixel', type: op.type, p, inPlace: false, apply: (c, r) => zShift(c, r, choices, depth) };
    }
    case 'zflip':
      return { kind: 'pixel', type: op.type, p, inPlace: false, apply: (c) => zFlip(c) };
    case 'brightnessOffset': {
      const choices = list(`${w}.choices`, op.choices, [0, 0, 0, 5, 10]);
      const maxValue = num(`${w}.maxValue`, op.maxValue, 255, { min: 0, exclusiveMin: true });
      return {
        kind: 'pixel',
        type: op.type,
        p,
        inPlace: true,
        apply: (c, r) => brightnessOffset(c, r, choices, maxValue),
      };
    }
    case 'normalize': {
      const mean = num(`${w}.mean`, op.mean, 0);
      const std = num(`${w}.std`, op.std, 1, { min: 0, exclusiveMin: true });
      const mpv = num(`${w}.maxPixelValue`, op.maxPixelValue, 255, { min: 0, exclusiveMin: true });
      return { kind: 'pixel', type: op.type, p, inPlace: true, apply: (c) => normalize(c, mean, std, mpv) };
    }
  }
}

export function compileOps(ops: unknown, where: string): Step[] {
  if (!Array.isArray(ops)) throw new Error(`augment: ${where} must be a list of ops, got ${JSON.stringify(ops)}`);
  return ops.map((op, i) => compileOp(op as OpConfig, `${where}[${i}]`));
}
