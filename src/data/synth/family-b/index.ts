/** The second synthetic family (docs/synthetic-data.md, family B). */
export {
  synthFragmentB,
  synthSegmentB,
  type FamilyBOptions,
  type FamilyBInfo,
  type FamilyBVolume,
  type PapyrusSide,
} from './generate.js';
export { cursiveInk, type CursiveOptions } from './strokes.js';
export { valueNoise, waveField, binomialPass, ellipseRegion } from './fields.js';
