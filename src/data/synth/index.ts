/** Synthetic scrolls (docs/synthetic-data.md): in-memory generators, on-disk layouts, calibration. */
export {
  synthFragment,
  FRAGMENT_SCALE,
  type FragmentOptions,
  type FragmentInfo,
  type SynthFragment,
} from './fragment.js';
export { synthSegment, SEGMENT_SCALE, type SegmentOptions, type SegmentInfo, type SynthSegment } from './segment.js';
export {
  synthesize,
  layerName,
  encodePng,
  LAYOUT_MANIFEST_NAME,
  type SynthesizeOptions,
  type Manifest,
  type ManifestEntry,
} from './write.js';
export {
  rocAuc,
  separation,
  boxMeanPlanes,
  layerAucs,
  surfaceFollowingScore,
  calibrate,
  type LayerAuc,
  type SurfaceScoreOptions,
  type Calibration,
} from './calibrate.js';
export { glyphInk, validRegion, crackFactor, shiftMask, dilate3, type GlyphOptions } from './masks.js';
export { smoothNoise2D, smoothNoise3D, blurAxis, standardize } from './fields.js';
export { createSource as createSynthTileSource, type SynthTileSourceOptions } from './synth-tile-source.js';
