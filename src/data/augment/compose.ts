/**
 * The augmentation runner. Steps run in config order; each draws `rng < p` first (albumentations'
 * BasicTransform/Compose order), then its parameters. Consecutive geometric steps are fused into one
 * resampling of the whole crop (see geometry.ts), flushed before the next pixel step, so the order of
 * geometric and intensity ops is kept while every slice shares one precomputed plan.
 */
import type { AugmentConfig, Crop } from './types.js';
import { deriveSeed, Random } from './random.js';
import { compileOps, type Step } from './compile.js';
import { fuseStages, resampleLinearPlane, resampleNearest, resampleVolume, type GeoStage } from './geometry.js';

/** Checks that a crop's arrays match its shape. */
export function checkCrop(crop: Crop, where: string): void {
  const { depth, height, width } = crop;
  for (const [k, v] of [
    ['depth', depth],
    ['height', height],
    ['width', width],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${where}: crop ${k} must be a positive integer, got ${v}`);
  }
  if (!(crop.data instanceof Float32Array) || crop.data.length !== depth * height * width) {
    throw new Error(
      `${where}: crop data must be a Float32Array of ${depth}x${height}x${width} = ${depth * height * width} values, got ${crop.data?.length}`,
    );
  }
  for (const k of ['label', 'mask'] as const) {
    const a = crop[k];
    if (a !== undefined && a.length !== height * width)
      throw new Error(`${where}: crop ${k} must hold ${height}x${width} values, got ${a.length}`);
  }
}

/** A working copy that still borrows the input's voxel data (copied on the first in-place edit). */
function borrowCrop(crop: Crop): Crop {
  const out: Crop = { data: crop.data, depth: crop.depth, height: crop.height, width: crop.width };
  if (crop.label !== undefined) out.label = crop.label.slice();
  if (crop.mask !== undefined) out.mask = crop.mask.slice();
  return out;
}

function flush(work: Crop, pending: GeoStage[]): void {
  if (pending.length === 0) return;
  const plan = fuseStages(pending);
  pending.length = 0;
  work.data = resampleVolume(plan, work.data, work.depth);
  if (work.label !== undefined)
    work.label =
      work.label instanceof Uint8Array ? resampleNearest(plan, work.label) : resampleLinearPlane(plan, work.label);
  if (work.mask !== undefined) work.mask = resampleNearest(plan, work.mask);
  work.height = plan.outH;
  work.width = plan.outW;
}

/** Runs `steps` on a copy of `crop` (the input is never modified). */
export function runSteps(steps: readonly Step[], crop: Crop, rng: Random): Crop {
  const work = borrowCrop(crop);
  const pending: GeoStage[] = [];
  let h = work.height;
  let w = work.width;
  const exec = (step: Step, forced: boolean): void => {
    const applies = rng.chance(step.p);
    if (!forced && !applies) return;
    if (step.kind === 'oneOf') {
      // albumentations OneOf: children's p are normalised weights; the chosen child is force-applied.
      exec(step.children[rng.weightedIndex(step.weights)] as Step, true);
    } else if (step.kind === 'geo') {
      const stage = step.make(rng, h, w);
      pending.push(stage);
      h = stage.outH;
      w = stage.outW;
    } else {
      flush(work, pending);
      if (step.inPlace && work.data === crop.data) work.data = crop.data.slice();
      step.apply(work, rng);
    }
  };
  for (const step of steps) exec(step, false);
  flush(work, pending);
  if (work.data === crop.data) work.data = crop.data.slice();
  return work;
}

/** A compiled augmentation config. */
export class Augmenter {
  readonly config: AugmentConfig;
  private readonly pre: Step[];
  private readonly ops: Step[];

  constructor(config: AugmentConfig) {
    if (config === null || typeof config !== 'object')
      throw new Error(`augment: config must be an object with 'ops', got ${JSON.stringify(config)}`);
    for (const key of Object.keys(config)) {
      if (key !== 'pre' && key !== 'ops' && key !== 'mix')
        throw new Error(`augment: config has unknown field '${key}' (allowed: pre, ops, mix)`);
    }
    this.pre = compileOps(config.pre ?? [], 'pre');
    this.ops = compileOps(config.ops, 'ops');
    this.config = config;
  }

  /** The once-per-sample ops (z-shift, brightness offset) on a copy of `crop`. */
  applyPre(crop: Crop, rng: Random): Crop {
    checkCrop(crop, 'augment');
    return runSteps(this.pre, crop, rng);
  }

  /** The per-view ops on a copy of `crop`. */
  applyOps(crop: Crop, rng: Random): Crop {
    checkCrop(crop, 'augment');
    return runSteps(this.ops, crop, rng);
  }

  /** One augmented view (pre then ops); equals the first view of `twoViews` for the same seed. */
  apply(crop: Crop, seed: number): Crop {
    const base = this.applyPre(crop, new Random(deriveSeed(seed, 0)));
    return runSteps(this.ops, base, new Random(deriveSeed(seed, 1)));
  }

  /**
   * Two views of the same tile for self-supervised training (the reference study's `__getitem__`): the `pre` ops are drawn
   * once, then the per-view ops twice with independent streams.
   */
  twoViews(crop: Crop, seed: number): [Crop, Crop] {
    const base = this.applyPre(crop, new Random(deriveSeed(seed, 0)));
    return [
      runSteps(this.ops, base, new Random(deriveSeed(seed, 1))),
      runSteps(this.ops, base, new Random(deriveSeed(seed, 2))),
    ];
  }
}

/** Convenience: two views of `crop` under `config`. */
export function twoViews(crop: Crop, config: AugmentConfig, seed: number): [Crop, Crop] {
  return new Augmenter(config).twoViews(crop, seed);
}
