/**
 * The augmentations' generator is the project's one PRNG in `../rng.ts` (sfc32); re-exported here so that the
 * augmentation and synth modules keep importing it from next to them.
 */
export { deriveSeed, normalQuantile, normalTable16, Random } from '../rng.js';
