/**
 * A pipeline sample source over an in-memory synthetic fragment or segment: the reference study's tiling (128 px tiles
 * fully inside the valid region, SURFACE_Z_RANGE read) and two augmented views per tile for self-supervised
 * training, or one view plus its label for supervised training. Use as
 * `{ module: <this file>, options: { kind: 'fragment', height: 384, width: 384, seed: 1 } }`.
 */
import { Augmenter } from '../augment/compose.js';
import { extractCrop, extractPlane } from '../augment/crop.js';
import { kaggleAugmentations, referenceAugmentations } from '../augment/presets.js';
import type { AugmentConfig } from '../augment/types.js';
import type { Sample, SampleSource } from '../pipeline.js';
import { selectTiles } from '../tiles.js';
import { SURFACE_Z_RANGE } from '../layout.js';
import { synthFragment } from './fragment.js';
import { synthSegment } from './segment.js';

export interface SynthTileSourceOptions {
  kind?: 'fragment' | 'segment';
  height?: number;
  width?: number;
  layers?: number;
  seed?: number;
  inkDelta?: number;
  /** Tile side and stride (the reference study: 128, stride 32). */
  tile?: number;
  stride?: number;
  /** First layer read and how many (default SURFACE_Z_RANGE, 22 layers, narrowed to 20 by the z-shift). */
  zStart?: number;
  zCount?: number;
  /** 'reference' (the reference study's), 'kaggle', a config, or null for no augmentation. */
  augment?: 'reference' | 'kaggle' | AugmentConfig | null;
  /** 2: { view0, view1 } (self-supervised); 1: { image, label }. */
  views?: 1 | 2;
}

export function createSource(options: SynthTileSourceOptions = {}): SampleSource {
  const kind = options.kind ?? 'fragment';
  // 384 px: a 57% blob on a 256 px frame rarely holds a whole 128 px tile.
  const height = options.height ?? 384;
  const width = options.width ?? 384;
  const layers = options.layers ?? 65;
  const seed = options.seed ?? 0;
  const tile = options.tile ?? 128;
  const stride = options.stride ?? 32;
  const zStart = options.zStart ?? SURFACE_Z_RANGE[0];
  const zCount = options.zCount ?? SURFACE_Z_RANGE[1] - SURFACE_Z_RANGE[0];
  const views = options.views ?? 2;
  const gen = {
    height,
    width,
    layers,
    seed,
    ...(options.inkDelta === undefined ? {} : { inkDelta: options.inkDelta }),
  };
  const made = kind === 'fragment' ? synthFragment(gen) : synthSegment(gen);
  const vol = { data: made.volume, depth: layers, height, width };
  // The reference study's tiling without its 16 px erosion: tiles fully inside the valid region (an all-zero region,
  // which only a degenerate frame gives, is reported by selectTiles itself).
  const tiles = selectTiles({ height, width, tile, stride, mask: made.mask, erode: 0 });
  if (tiles.length === 0)
    throw new Error(
      `synth tile source: no ${tile} px tile fits inside the valid region of a ${height}x${width} ${kind}`,
    );
  const a = options.augment === undefined ? 'reference' : options.augment;
  const cfg =
    a === 'reference' ? referenceAugmentations({ depth: zCount - 2 }) : a === 'kaggle' ? kaggleAugmentations() : a;
  const aug = cfg === null ? null : new Augmenter(cfg);
  return {
    length: tiles.length,
    get(index: number, sampleSeed: number): Sample {
      const t = tiles[index];
      if (t === undefined) throw new Error(`synth tile source: index ${index} is outside 0..${tiles.length - 1}`);
      const { y: y0, x: x0 } = t;
      const crop = extractCrop(vol, { z0: zStart, depth: zCount, y0, x0, height: tile, width: tile });
      crop.label = extractPlane(made.labels, height, width, y0, x0, tile, tile);
      if (views === 2) {
        if (aug === null) return { view0: crop.data, view1: crop.data.slice(), y: y0, x: x0 };
        const [v0, v1] = aug.twoViews(crop, sampleSeed);
        return { view0: v0.data, view1: v1.data, y: y0, x: x0 };
      }
      const out = aug === null ? crop : aug.apply(crop, sampleSeed);
      return { image: out.data, label: out.label as Uint8Array, y: y0, x: x0 };
    },
  };
}
