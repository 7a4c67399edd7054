/**
 * Crops and the JSON-able augmentation config. The config is plain data (no functions, no class
 * instances) so that a typed config schema can embed it and a worker thread can receive it.
 */

/**
 * A crop of a surface volume: `data` is [depth, height, width] in C order on the 0..255 intensity scale the
 * reference study works in (uint8 layers, docs/reference-study.md) until a `normalize` op maps it to [0, 1].
 * `label` (ink) and `mask` (valid region) are [height, width] and follow every geometric transform.
 */
export interface Crop {
  data: Float32Array;
  depth: number;
  height: number;
  width: number;
  /** Ink label: Uint8Array is resampled with nearest neighbour, Float32Array (soft labels) bilinearly. */
  label?: Uint8Array | Float32Array;
  /** Valid-region mask: always nearest neighbour. */
  mask?: Uint8Array | Float32Array;
}

export type BorderMode = 'reflect101' | 'constant';

/** Every op has a probability `p` (default 1 where albumentations has none, else albumentations' default). */
interface OpBase {
  p?: number;
}

export interface HFlipOp extends OpBase {
  type: 'hflip';
}
export interface VFlipOp extends OpBase {
  type: 'vflip';
}
/** np.rot90 by a random multiple of 90 degrees (0..3), as albumentations.RandomRotate90. */
export interface Rot90Op extends OpBase {
  type: 'rot90';
}
/** albumentations.ShiftScaleRotate: shift as a fraction of the side, scale biased by 1, rotation in degrees. */
export interface ShiftScaleRotateOp extends OpBase {
  type: 'shiftScaleRotate';
  shiftLimit?: number;
  scaleLimit?: number;
  rotateLimit?: number;
  border?: BorderMode;
  value?: number;
  maskValue?: number;
}
/** albumentations.GridDistortion: `numSteps` cells per side, each step scaled by 1 + U(-limit, limit). */
export interface GridDistortionOp extends OpBase {
  type: 'gridDistortion';
  numSteps?: number;
  distortLimit?: number;
  border?: BorderMode;
  value?: number;
  maskValue?: number;
}
/** albumentations.OneOf: applies one child (children's `p` are weights), with probability `p`. */
export interface OneOfOp extends OpBase {
  type: 'oneOf';
  ops: OpConfig[];
}
/**
 * albumentations.GaussNoise: variance drawn from `varLimit` on the 0..255 scale. Independent per voxel by default,
 * as albumentations' per_channel=True does over the reference study's z-slice channels; `perVoxel: false` shares one field.
 */
export interface GaussNoiseOp extends OpBase {
  type: 'gaussNoise';
  varLimit?: [number, number];
  mean?: number;
  perVoxel?: boolean;
  maxValue?: number;
}
/** albumentations.GaussianBlur: odd kernel size from `blurLimit`, sigma from OpenCV's rule for that size. */
export interface GaussianBlurOp extends OpBase {
  type: 'gaussianBlur';
  blurLimit?: [number, number];
}
/** albumentations.MotionBlur: a random line kernel of odd size from `blurLimit`. */
export interface MotionBlurOp extends OpBase {
  type: 'motionBlur';
  blurLimit?: [number, number];
}
/**
 * albumentations.CoarseDropout: `minHoles..maxHoles` rectangles. Sizes below 1 are fractions of the side,
 * floored like the reference study's `int(size * 0.06)`; sizes >= 1 are pixels. `maskFillValue: null` leaves labels alone.
 */
export interface CoarseDropoutOp extends OpBase {
  type: 'coarseDropout';
  maxHoles?: number;
  minHoles?: number;
  maxHeight?: number;
  maxWidth?: number;
  minHeight?: number;
  minWidth?: number;
  fillValue?: number;
  maskFillValue?: number | null;
}
/** albumentations.Cutout (deprecated there, used by the reference study): holes centred on random pixels, clipped at borders. */
export interface CutoutOp extends OpBase {
  type: 'cutout';
  numHoles?: number;
  maxHSize?: number;
  maxWSize?: number;
  fillValue?: number;
}
/** albumentations.RandomBrightnessContrast (brightness_by_max): v * (1 + c) + b * maxValue, clamped. */
export interface BrightnessContrastOp extends OpBase {
  type: 'brightnessContrast';
  brightnessLimit?: number;
  contrastLimit?: number;
  maxValue?: number;
}
/** albumentations.RandomGamma: gamma = U(gammaLimit) / 100 applied to v / maxValue. */
export interface GammaOp extends OpBase {
  type: 'gamma';
  gammaLimit?: [number, number];
  maxValue?: number;
}
/** albumentations.ChannelDropout over z-slices: `dropRange` slices set to `fillValue`. */
export interface ChannelDropoutOp extends OpBase {
  type: 'channelDropout';
  dropRange?: [number, number];
  fillValue?: number;
}
/**
 * The Kaggle 4th place "temporal" augmentation (docs/reference-study.md): crop `minSlices..maxSlices` consecutive
 * slices, paste them at a random depth into a zero volume, then (with probability `cutoutP`) zero 0..`maxCutout`
 * of the pasted slices.
 */
export interface TemporalOp extends OpBase {
  type: 'temporal';
  minSlices?: number;
  maxSlices?: number;
  maxCutout?: number;
  cutoutP?: number;
}
/** The reference study's z-translation: keep `depth` slices starting at an offset drawn from `choices` ({0,1,1,2}). */
export interface ZShiftOp extends OpBase {
  type: 'zShift';
  choices?: number[];
  depth: number;
}
/** Reverses the slice order (the other layer order), with probability `p` (default 0.5). */
export interface ZFlipOp extends OpBase {
  type: 'zflip';
}
/** The reference study's brightness offset ({0,0,0,5,10} added to uint8 data), clamped to `maxValue` instead of wrapping. */
export interface BrightnessOffsetOp extends OpBase {
  type: 'brightnessOffset';
  choices?: number[];
  maxValue?: number;
}
/** albumentations.Normalize: (v - mean * maxPixelValue) / (std * maxPixelValue); the reference study used mean 0, std 1 (/255). */
export interface NormalizeOp extends OpBase {
  type: 'normalize';
  mean?: number;
  std?: number;
  maxPixelValue?: number;
}

export type OpConfig =
  | HFlipOp
  | VFlipOp
  | Rot90Op
  | ShiftScaleRotateOp
  | GridDistortionOp
  | OneOfOp
  | GaussNoiseOp
  | GaussianBlurOp
  | MotionBlurOp
  | CoarseDropoutOp
  | CutoutOp
  | BrightnessContrastOp
  | GammaOp
  | ChannelDropoutOp
  | TemporalOp
  | ZShiftOp
  | ZFlipOp
  | BrightnessOffsetOp
  | NormalizeOp;

export type OpType = OpConfig['type'];

/** Batch-level mixing for supervised training (Kaggle 2nd/4th place: mixup, cutmix). */
export interface MixConfig {
  /** Probability that a sample is cut-mixed with a random partner; the box area follows Beta(alpha, alpha). */
  cutmixP?: number;
  cutmixAlpha?: number;
  /** Probability that a sample is mixed up with a random partner; lambda ~ Beta(alpha, alpha). */
  mixupP?: number;
  mixupAlpha?: number;
}

/**
 * A full augmentation config. `pre` ops are drawn once per sample, before two views split (the reference study draws its
 * z-offset and brightness offset once in `__getitem__`, then runs the albumentations list twice); `ops` are
 * drawn independently for every view. `mix` is applied by batch-level code (supervised training only).
 */
export interface AugmentConfig {
  pre?: OpConfig[];
  ops: OpConfig[];
  mix?: MixConfig;
}
