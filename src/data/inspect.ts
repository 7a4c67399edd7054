/**
 * `inkwell inspect`'s library side: what a dataset folder holds, checked (every layer's header, the mask's
 * and labels' sizes) and summarised as JSON.
 */
import { relative, resolve } from 'node:path';
import { isUrl, trimLocation } from './remote/url.js';
import type { PixelDType } from './io/layer.js';
import { detectLayout, type Dataset, type DatasetLayout, type DetectOptions, type LayerOrderSource } from './layout.js';
import type { LayerOrderEvidence } from './layer-order.js';
import { Volume } from './volume.js';

export interface DatasetFiles {
  /** Layer files in layer-number order (a Zarr volume lists its array folder). */
  layers: string[];
  mask: string | null;
  inklabels: string | null;
  ir: string | null;
  meta: string | null;
}

export interface DatasetInfo {
  layout: DatasetLayout;
  id: string;
  /** Number of layers (z-slices). */
  layers: number;
  /** Size on disk, in pixels. */
  height: number;
  width: number;
  /** Element type as stored. */
  dtype: PixelDType;
  /** Fraction of the image inside the mask; null without a mask. */
  maskCoverage: number | null;
  /** Ink pixels / mask pixels (the whole image when there is no mask); null without labels. */
  inkFraction: number | null;
  /** The layers are flipped on reading (stored in the reverse of the canonical order). */
  reversed: boolean;
  /** Who decided the order, and the density-profile evidence when it was detected or tried. */
  layerOrder: { source: LayerOrderSource; evidence: LayerOrderEvidence | null };
  /** Pixel size (um) and where it came from; the resolution factor models read the volume at. */
  pixelSize: number;
  pixelSizeSource: 'meta.json' | 'default';
  scale: number;
  /** Paths relative to the inspected folder. */
  files: DatasetFiles;
}

async function inspectOne(d: Dataset, base: string, opts: DetectOptions): Promise<DatasetInfo> {
  const rel = (p: string | null): string | null => {
    if (p === null) return null;
    if (!isUrl(base)) return relative(base, p) || '.';
    return p === base ? '.' : p.startsWith(`${base}/`) ? decodeURIComponent(p.slice(base.length + 1)) : p;
  };
  // Scale 1: sizes and fractions as on disk. Opening checks that every layer matches the first, and detects
  // the layer order when nothing else decided it.
  const vol = await Volume.open(d, {
    scale: 1,
    bitDepth: 'keep',
    ...(opts.layerOrder === undefined ? {} : { layerOrder: opts.layerOrder }),
  });
  try {
    const { mask, labels } = await vol.validate();
    const n = vol.sourceHeight * vol.sourceWidth;
    let maskCount = n;
    if (mask) {
      maskCount = 0;
      for (let i = 0; i < n; i++) maskCount += mask[i]!;
    }
    let inkFraction: number | null = null;
    if (labels) {
      let ink = 0;
      for (let i = 0; i < n; i++) if (labels[i] !== 0 && mask?.[i] !== 0) ink++;
      inkFraction = ink / maskCount;
    }
    const files: DatasetFiles =
      d.layout === 'zarr'
        ? { layers: [rel(d.root)!], mask: null, inklabels: null, ir: null, meta: null }
        : {
            layers: d.layers.map((l) => rel(l.path)!),
            mask: rel(d.mask),
            inklabels: rel(d.inklabels),
            ir: rel(d.ir),
            meta: rel(d.meta),
          };
    return {
      layout: d.layout,
      id: d.id,
      layers: vol.depth,
      height: vol.sourceHeight,
      width: vol.sourceWidth,
      dtype: vol.sourceDtype,
      maskCoverage: mask ? maskCount / n : null,
      inkFraction,
      reversed: vol.reversed,
      layerOrder: { source: vol.dataset.orderSource, evidence: vol.dataset.orderEvidence ?? null },
      pixelSize: d.pixelSize,
      pixelSizeSource: d.pixelSizeSource,
      scale: d.defaultScale,
      files,
    };
  } finally {
    await vol.close();
  }
}

/**
 * Detects the layout at `path` and describes each dataset: one object for a single dataset, an array (one
 * entry per segment) for a folder of segments. Throws a clear Error for inconsistent data.
 */
export async function inspectDataset(path: string, opts: DetectOptions = {}): Promise<DatasetInfo | DatasetInfo[]> {
  const found = await detectLayout(path, opts);
  const base = isUrl(path) ? trimLocation(path) : resolve(path);
  const infos: DatasetInfo[] = [];
  for (const d of found.datasets) infos.push(await inspectOne(d, base, opts));
  return found.layout === 'segment-folder' ? infos : infos[0]!;
}
