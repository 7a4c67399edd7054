/**
 * Preset augmentation configs (plain JSON-able objects).
 */
import type { AugmentConfig } from './types.js';

export interface ReferencePresetOptions {
  /** Slices fed to the model after the z-shift (the reference study's in_chans = 20). */
  depth?: number;
}

/**
 * The reference study's pipeline (pretraining.ipynb, docs/reference-study.md). `pre` is drawn once per tile in the reference study's
 * `__getitem__`: z-offset from {0,1,1,2} over 22 read slices -> 20, and a brightness offset from {0,0,0,5,10}
 * (clamped here; the reference study's uint8 addition wrapped). `ops` is its albumentations list, run once per view:
 * HFlip .5, VFlip .5, RandomRotate90 .5, ShiftScaleRotate(shift .15, scale .15, rotate 45, p .5),
 * OneOf(GaussNoise var 10..50, GaussianBlur, MotionBlur) p .4, GridDistortion(2, .3, p .4),
 * CoarseDropout(4 holes of int(size * .06), mask fill 0, p .5), Cutout(1 hole of int(size * .15), p .5),
 * Normalize(mean 0, std 1) = /255. Hole sizes are fractions of the crop side, floored as int(size * f).
 */
export function referenceAugmentations(opts: ReferencePresetOptions = {}): AugmentConfig {
  const depth = opts.depth ?? 20;
  return {
    pre: [
      { type: 'zShift', choices: [0, 1, 1, 2], depth },
      { type: 'brightnessOffset', choices: [0, 0, 0, 5, 10], maxValue: 255 },
    ],
    ops: [
      { type: 'hflip', p: 0.5 },
      { type: 'vflip', p: 0.5 },
      { type: 'rot90', p: 0.5 },
      { type: 'shiftScaleRotate', shiftLimit: 0.15, scaleLimit: 0.15, rotateLimit: 45, p: 0.5 },
      {
        type: 'oneOf',
        p: 0.4,
        ops: [{ type: 'gaussNoise', varLimit: [10, 50] }, { type: 'gaussianBlur' }, { type: 'motionBlur' }],
      },
      { type: 'gridDistortion', numSteps: 2, distortLimit: 0.3, p: 0.4 },
      { type: 'coarseDropout', maxHoles: 4, maxWidth: 0.06, maxHeight: 0.06, maskFillValue: 0, p: 0.5 },
      { type: 'cutout', numHoles: 1, maxHSize: 0.15, maxWSize: 0.15, p: 0.5 },
      { type: 'normalize', mean: 0, std: 1, maxPixelValue: 255 },
    ],
  };
}

/**
 * A supervised pipeline after the Kaggle ink-detection solutions (docs/reference-study.md). Base: the public
 * 2.5D baseline list most top solutions started from (flips, RandomBrightnessContrast .75, ShiftScaleRotate .75,
 * OneOf(noise, blur, motion blur) .4, GridDistortion(5, .3, .5), CoarseDropout(1 hole of 30%, label fill 0, .5),
 * Normalize); added: rot90 (1st place), gamma (4th place), channel (slice) dropout (1st place), the 4th place
 * temporal crop/paste/cutout over 12..22 slices, and cutmix/mixup (2nd/4th place). The probabilities of gamma,
 * channel dropout and the mixing are not given in the write-ups; the values here are our choice.
 */
export function kaggleAugmentations(): AugmentConfig {
  return {
    ops: [
      { type: 'temporal', minSlices: 12, maxSlices: 22, maxCutout: 2, cutoutP: 0.6, p: 1 },
      { type: 'hflip', p: 0.5 },
      { type: 'vflip', p: 0.5 },
      { type: 'rot90', p: 0.5 },
      { type: 'brightnessContrast', brightnessLimit: 0.2, contrastLimit: 0.2, p: 0.75 },
      { type: 'gamma', gammaLimit: [80, 120], p: 0.3 },
      { type: 'shiftScaleRotate', shiftLimit: 0.0625, scaleLimit: 0.1, rotateLimit: 45, p: 0.75 },
      {
        type: 'oneOf',
        p: 0.4,
        ops: [{ type: 'gaussNoise', varLimit: [10, 50] }, { type: 'gaussianBlur' }, { type: 'motionBlur' }],
      },
      { type: 'gridDistortion', numSteps: 5, distortLimit: 0.3, p: 0.5 },
      { type: 'coarseDropout', maxHoles: 1, maxWidth: 0.3, maxHeight: 0.3, maskFillValue: 0, p: 0.5 },
      { type: 'channelDropout', dropRange: [1, 2], fillValue: 0, p: 0.2 },
      { type: 'normalize', mean: 0, std: 1, maxPixelValue: 255 },
    ],
    mix: { cutmixP: 0.5, cutmixAlpha: 1, mixupP: 0.2, mixupAlpha: 0.4 },
  };
}

const DIHEDRAL: AugmentConfig['ops'] = [
  { type: 'hflip', p: 0.5 },
  { type: 'vflip', p: 0.5 },
  { type: 'rot90', p: 0.5 },
];
const TO_UNIT: AugmentConfig['ops'][number] = { type: 'normalize', mean: 0, std: 1, maxPixelValue: 255 };

/** The dihedral group only (flips and rot90): the ink's appearance is kept exactly. */
export function flipAugmentations(): AugmentConfig {
  return { ops: [...DIHEDRAL, TO_UNIT] };
}

/**
 * The dihedral group plus the intensity and noise part of the Kaggle baseline list above (RandomBrightnessContrast
 * .75, OneOf(GaussNoise var 10..50, GaussianBlur, MotionBlur) .4) and the 4th place's gamma, without the
 * geometric warps and dropouts: scans differ from one another in grey levels, contrast and noise, which is
 * what a model trained on one scanner (or one synthetic family) must not lean on. Gamma's probability (.5) is
 * our choice.
 */
export function intensityAugmentations(): AugmentConfig {
  return {
    ops: [
      ...DIHEDRAL,
      { type: 'brightnessContrast', brightnessLimit: 0.2, contrastLimit: 0.2, p: 0.75 },
      { type: 'gamma', gammaLimit: [80, 120], p: 0.5 },
      {
        type: 'oneOf',
        p: 0.4,
        ops: [{ type: 'gaussNoise', varLimit: [10, 50] }, { type: 'gaussianBlur' }, { type: 'motionBlur' }],
      },
      TO_UNIT,
    ],
  };
}

/**
 * The dihedral group plus the baseline list's ShiftScaleRotate (shift .0625, rotate 45, p .75) with a wide scale
 * range, 0.5..1.5 instead of its 0.9..1.1: pen strokes and letters differ in width and size from one scribe,
 * scroll and scan resolution to the next, and a model that has seen one width learns that width as part of
 * what ink looks like (docs/study-design.md, "Cross-family transfer").
 */
export function scaleAugmentations(): AugmentConfig {
  return {
    ops: [
      ...DIHEDRAL,
      { type: 'shiftScaleRotate', shiftLimit: 0.0625, scaleLimit: 0.5, rotateLimit: 45, p: 0.75 },
      TO_UNIT,
    ],
  };
}
