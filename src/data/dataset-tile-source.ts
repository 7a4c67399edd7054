/**
 * The pipeline's sample source over real datasets (fragments, segments, folders of segments): each dataset's
 * z-range is loaded once (uint8 under the default bit-depth policy, or normalised), tiles are selected as the
 * reference study did (eroded mask, no all-zero tiles, optional ink requirement, a band of rows for train/validation
 * splits), and each sample is a crop with two independent augmented views (self-supervised) or one view with
 * its ink label and valid-region mask (supervised). Used through PrefetchPipeline as
 * `{ module: tileSourceModule, options: TileSourceOptions }`.
 */
import { fileURLToPath } from 'node:url';
import { Augmenter } from './augment/compose.js';
import { extractCrop, extractPlane, type VolumeView } from './augment/crop.js';
import type { AugmentConfig, Crop } from './augment/types.js';
import { detectLayout, SURFACE_Z_RANGE } from './layout.js';
import type { Sample, SampleSource } from './pipeline.js';
import { createRng } from './rng.js';
import { contentMap, selectTiles, type Tile } from './tiles.js';
import { parseNormalizeSpec, type NormalizeSpec } from './normalize.js';
import { Volume } from './volume.js';
import type { LayerOrderChoice } from './layer-order.js';

/** The module path to give PrefetchPipeline (this file, compiled). */
export const tileSourceModule: string = fileURLToPath(import.meta.url);

export interface TileDatasetSpec {
  /** A fragment or segment folder, or a folder of segments (each becomes a dataset). */
  path: string;
  /** Layers read, [start, end) (default SURFACE_Z_RANGE: 22 layers, narrowed to `depth` by the z-shift). */
  z?: [number, number];
  /** Resolution factor (default: the dataset's pixel size over the model's, src/data/layout.ts). */
  scale?: number;
  /** Layer order reversed (default: from the dataset's manifest, else detected). */
  reversed?: boolean;
  /** 'auto' (default): a flag or manifest, else detected from the density profile (src/data/layer-order.ts). */
  layerOrder?: LayerOrderChoice;
  /**
   * Normalisation before augmentation, as text (default 'none': raw uint8 values on the 0..255 scale):
   * `scale[:D]`, `clip:LOW:HIGH[:D]`, `zscore`, `percentile:LOW:HIGH`, or `histogram:<dataset folder>` to match
   * this dataset's value histogram to a reference volume's (the reference study's remedy for the scroll/fragment shift).
   */
  normalize?: string;
  /** Band of rows used, as fractions [from, to) of the height (e.g. [0, 0.7] to train, [0.7, 1] to validate). */
  rows?: [number, number];
}

export interface TileSourceOptions {
  datasets: TileDatasetSpec[];
  tile: number;
  stride: number;
  /** Mask erosion kernel (default 16, the reference study's). */
  erode?: number;
  /** Share of a tile inside the eroded mask (default 1: fully inside; src/data/tiles.ts). */
  minMaskFraction?: number;
  /** Slices fed to the model; a longer z-range is narrowed by the augmentation's z-shift, or centred without one. */
  depth: number;
  /** Keep only tiles with ink (the reference study's evaluation on fragment 4). */
  requireInk?: boolean;
  augment: AugmentConfig | null;
  /** 2: { view0, view1 }; 1: { image, label, valid }. */
  views: 1 | 2;
  /** Use at most this many tiles (a seeded random subset). */
  maxTiles?: number;
  seed?: number;
}

interface LoadedDataset {
  id: string;
  vol: VolumeView;
  labels: Uint8Array | null;
  mask: Uint8Array | null;
}

interface TileRef {
  dataset: number;
  tile: Tile;
}

/** Loads every dataset and lists the selected tiles; also used to count tiles without a worker. */
export async function loadTileSet(o: TileSourceOptions): Promise<{ datasets: LoadedDataset[]; tiles: TileRef[] }> {
  if (o.datasets.length === 0) throw new Error('tile source: no datasets given');
  const datasets: LoadedDataset[] = [];
  const tiles: TileRef[] = [];
  for (const spec of o.datasets) {
    const normalize = await resolveNormalize(spec.normalize);
    const detected = await detectLayout(spec.path);
    for (const ds of detected.datasets) {
      const vol = await Volume.open(ds, {
        z: spec.z ?? [...SURFACE_Z_RANGE],
        ...(spec.scale === undefined ? {} : { scale: spec.scale }),
        ...(spec.reversed === undefined ? {} : { reversed: spec.reversed }),
        ...(spec.layerOrder === undefined ? {} : { layerOrder: spec.layerOrder }),
        normalize,
      });
      const [D, H, W] = vol.shape;
      if (D < o.depth)
        throw new Error(
          `tile source: ${ds.root} z-range ${vol.zStart}:${vol.zEnd} has ${D} layers, the model needs ${o.depth}`,
        );
      const raw = await vol.load();
      let data: VolumeView['data'] = raw.data as Uint8Array;
      if (normalize.kind !== 'none') {
        // Normalised values are put back on the 0..255 scale the augmentations expect (they end with /255).
        data = (await vol.normalizer()).apply(raw.data);
        for (let i = 0; i < data.length; i++) data[i] = (data[i] as number) * 255;
      }
      const mask = await vol.readMask();
      const labels = await vol.readInkLabels();
      if (o.requireInk && !labels)
        throw new Error(`tile source: ${ds.root} has no ink labels, but tiles with ink were asked for`);
      const view: VolumeView = { data, depth: D, height: H, width: W };
      const rows = spec.rows ?? [0, 1];
      if (!(rows[0] >= 0 && rows[1] <= 1 && rows[0] < rows[1]))
        throw new Error(`tile source: rows must be fractions 0 <= from < to <= 1, got [${rows.join(', ')}]`);
      const selected = selectTiles({
        height: H,
        width: W,
        tile: o.tile,
        stride: o.stride,
        mask,
        erode: o.erode ?? 16,
        ...(o.minMaskFraction === undefined ? {} : { minMaskFraction: o.minMaskFraction }),
        content: contentMap({ dtype: raw.dtype, shape: raw.shape, data: raw.data }),
        inkLabels: labels,
        requireInk: o.requireInk ?? false,
        region: { y0: Math.round(rows[0] * H), y1: Math.round(rows[1] * H) },
      });
      const index = datasets.length;
      datasets.push({ id: ds.id, vol: view, labels, mask });
      for (const tile of selected) tiles.push({ dataset: index, tile });
    }
  }
  if (tiles.length === 0) {
    throw new Error(
      `tile source: no ${o.tile}x${o.tile} tile fits inside the eroded masks of ${datasets.map((d) => d.id).join(', ')} (try a smaller tile, stride or erosion)`,
    );
  }
  const picked =
    o.maxTiles !== undefined && o.maxTiles < tiles.length
      ? createRng(o.seed ?? 0)
          .shuffle([...tiles])
          .slice(0, o.maxTiles)
      : tiles;
  return { datasets, tiles: picked };
}

/** Parses a normalisation's text; `histogram:<folder>` samples the reference dataset's histogram. */
export async function resolveNormalize(text: string | undefined): Promise<NormalizeSpec> {
  if (text === undefined) return { kind: 'none' };
  if (!text.startsWith('histogram:')) return parseNormalizeSpec(text);
  const ref = await Volume.open(text.slice('histogram:'.length));
  return { kind: 'histogram', reference: await ref.sampleHistogram() };
}

function centreDepth(crop: Crop, depth: number): Crop {
  if (crop.depth === depth) return crop;
  const off = Math.floor((crop.depth - depth) / 2);
  const plane = crop.height * crop.width;
  return { ...crop, data: crop.data.slice(off * plane, (off + depth) * plane), depth };
}

export async function createSource(o: TileSourceOptions): Promise<SampleSource> {
  const { datasets, tiles } = await loadTileSet(o);
  const aug = o.augment ? new Augmenter(o.augment) : null;
  return {
    length: tiles.length,
    get(index: number, seed: number): Sample {
      const ref = tiles[index];
      if (!ref) throw new Error(`tile source: index ${index} is outside 0..${tiles.length - 1}`);
      const d = datasets[ref.dataset]!;
      const { y, x, height, width } = ref.tile;
      const crop = extractCrop(d.vol, { z0: 0, depth: d.vol.depth, y0: y, x0: x, height, width });
      if (o.views === 2) {
        if (!aug) throw new Error('tile source: two views need an augmentation config');
        const [a, b] = aug.twoViews(crop, seed);
        return { view0: centreDepth(a, o.depth).data, view1: centreDepth(b, o.depth).data, dataset: d.id, y, x };
      }
      if (d.labels) crop.label = extractPlane(d.labels, d.vol.height, d.vol.width, y, x, height, width);
      crop.mask = d.mask
        ? extractPlane(d.mask, d.vol.height, d.vol.width, y, x, height, width)
        : new Uint8Array(height * width).fill(1);
      const out = centreDepth(aug ? aug.apply(crop, seed) : { ...crop, data: crop.data.map((v) => v / 255) }, o.depth);
      const label = out.label
        ? Float32Array.from(out.label, (v) => (v > 0 ? Math.min(v, 1) : 0))
        : new Float32Array(height * width);
      return { image: out.data, label, valid: Uint8Array.from(out.mask!, (v) => (v > 0 ? 1 : 0)), dataset: d.id, y, x };
    },
  };
}
