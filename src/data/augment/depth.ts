/**
 * Ops along z (the layer axis of a surface volume): the reference study's z-translation, the Kaggle 4th place
 * temporal crop/paste/cutout, and a z-flip. Each returns a new data array; labels and masks are unaffected.
 */
import type { Crop } from './types.js';
import type { Random } from './random.js';

/**
 * The reference study's z-translation (docs/reference-study.md): it reads 22 layers (14..35) and keeps
 * `image[:, :, offset:offset + 20]` with offset = random.choice([0, 1, 1, 2]).
 */
export function zShift(crop: Crop, rng: Random, choices: readonly number[], depth: number): void {
  const off = rng.choice(choices);
  if (!Number.isInteger(off) || off < 0 || off + depth > crop.depth) {
    throw new Error(
      `zShift: offset ${off} + depth ${depth} does not fit a crop of ${crop.depth} slices (read ${Math.max(...choices) + depth} slices)`,
    );
  }
  const plane = crop.height * crop.width;
  crop.data = crop.data.slice(off * plane, (off + depth) * plane);
  crop.depth = depth;
}

export interface TemporalParams {
  minSlices: number;
  maxSlices: number;
  maxCutout: number;
  cutoutP: number;
}

/**
 * Kaggle 4th place temporal augmentation (docs/reference-study.md; the same code lives on in the Grand Prize
 * repository's `fourth_augment`): cropping_num = randint(min, max) consecutive slices from a random start are
 * pasted at a random depth into a zero volume; then randint(0, 2) of the pasted slices are zeroed with
 * probability 0.6 (`random.random() > 0.4`). The original draws the cut-out slices from
 * `np.arange(start_paste_idx, cropping_num)`, which is empty or short whenever the paste starts late; we draw
 * them from the pasted range [paste, paste + cropping_num), which is what the write-up describes.
 * Slice counts larger than the crop are clamped to its depth.
 */
export function temporal(crop: Crop, rng: Random, p: TemporalParams): void {
  const D = crop.depth;
  const hi = Math.min(p.maxSlices, D);
  const lo = Math.min(p.minSlices, hi);
  const count = rng.int(lo, hi);
  const start = rng.int(0, D - count);
  const paste = rng.int(0, D - count);
  const nCut = Math.min(rng.int(0, p.maxCutout), count);
  const cut = rng.sample(count, nCut).map((i) => paste + i);
  const doCut = rng.chance(p.cutoutP);
  const plane = crop.height * crop.width;
  const out = new Float32Array(crop.data.length);
  out.set(crop.data.subarray(start * plane, (start + count) * plane), paste * plane);
  if (doCut) for (const z of cut) out.fill(0, z * plane, (z + 1) * plane);
  crop.data = out;
}

/**
 * Reverses the order of the slices: the same crop as a volume stored in the other layer order would give
 * (docs/synthetic-data.md, "Layer order"). A model trained with it cannot rely on which side of the surface
 * the papyrus lies, for volumes whose order was not detected.
 */
export function zFlip(crop: Crop): void {
  const plane = crop.height * crop.width;
  const D = crop.depth;
  const out = new Float32Array(crop.data.length);
  for (let z = 0; z < D; z++) out.set(crop.data.subarray(z * plane, (z + 1) * plane), (D - 1 - z) * plane);
  crop.data = out;
}
