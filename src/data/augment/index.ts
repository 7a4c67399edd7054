/** Augmentations for surface-volume crops: config types, presets, runner, two views, batch mixing. */
export type {
  AugmentConfig,
  BorderMode,
  Crop,
  MixConfig,
  OpConfig,
  OpType,
} from './types.js';
export { Random, deriveSeed } from './random.js';
export { Augmenter, twoViews, runSteps, checkCrop } from './compose.js';
export { referenceAugmentations, kaggleAugmentations, type ReferencePresetOptions } from './presets.js';
export { mixup, cutmix, cutmixBox, mixBatch, type CutBox, type MixResult } from './mix.js';
export { extractCrop, extractPlane, type CropBox, type VolumeView } from './crop.js';
