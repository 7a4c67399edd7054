/**
 * Writes synthetic fragments and segments in the real on-disk layouts (docs/data-formats.md):
 *   <out>/fragments/<id>/surface_volume/00.tif..64.tif  (uint16, uncompressed, single strip), mask.png,
 *                       inklabels.png, ir.png                                        (Kaggle layout)
 *   <out>/segments/<id>/layers/00.tif..64.tif (uint8), <id>_mask.png, <id>_inklabels.png (ground truth that
 *                       pretraining never reads), meta.json                           (segment layout)
 *   <out>/manifest.json           what was made (ids, domain, reversed, seeds, ink delta, fractions)
 *   <out>/segments/inkwell-manifest.json   {"reversed": [...]} for the layout detector (src/data/layout.ts)
 * Every file is written atomically; the manifest comes last, so its presence means the set is complete.
 */
import sharp from 'sharp';
import { join } from 'node:path';
import { writeFileAtomic } from '../../util/atomic.js';
import { progress } from '../../util/progress.js';
import { writeTiff } from '../io/tiff-write.js';
import { deriveSeed, Random } from '../augment/random.js';
import { synthFragment } from './fragment.js';
import { synthSegment } from './segment.js';

export interface SynthesizeOptions {
  out: string;
  fragments: number;
  segments: number;
  height: number;
  width: number;
  seed: number;
  /** Fragment ink step (scroll segments get half). */
  inkDelta?: number;
  layers?: number;
  /** Share of segments stored with reversed layers (at least one when there are two or more segments). */
  reverseFraction?: number;
  /** Show a progress bar (default: when stderr is a terminal). */
  progress?: boolean;
}

export interface ManifestEntry {
  id: string;
  domain: 'fragment' | 'scroll';
  /** Folder relative to the manifest. */
  path: string;
  dtype: 'uint16' | 'uint8';
  seed: number;
  reversed: boolean;
  inkDelta: number;
  /** Surface layer of the inked sheet in stored order. */
  surfaceLayer: number;
  inkFraction: number;
  maskFraction: number;
  /** Fragments: the IR misalignment of the labels and whether they were dilated. */
  labelShift?: [number, number];
  labelsDilated?: boolean;
  cracks?: number;
  /** Segments: sheet count and which one carries the ink. */
  sheets?: number;
  targetSheet?: number;
}

export interface Manifest {
  version: 1;
  generator: 'inkwell synth';
  seed: number;
  inkDelta: number;
  layers: number;
  height: number;
  width: number;
  fragments: ManifestEntry[];
  segments: ManifestEntry[];
  /** Ids whose layers are stored in reverse order (the layout detector's manifest key). */
  reversed: string[];
}

export const LAYOUT_MANIFEST_NAME = 'inkwell-manifest.json';

/** `00`..`64`: two digits as in the Kaggle and segment layouts, three when there are more than 100 layers. */
export function layerName(z: number, layers: number): string {
  return String(z).padStart(layers > 100 ? 3 : 2, '0');
}

/** An 8-bit grey PNG of a 0/1 mask (written as 0/255) or of 0..255 values. */
export async function encodePng(data: Uint8Array, width: number, height: number, binary: boolean): Promise<Buffer> {
  const px = binary ? data.map((v) => (v ? 255 : 0)) : data;
  return sharp(Buffer.from(px.buffer, px.byteOffset, px.byteLength), { raw: { width, height, channels: 1 } }).toColourspace('b-w').png().toBuffer();
}

function checkCount(name: string, n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new Error(`synthesize: ${name} must be a non-negative integer, got ${n}`);
}

/** Generates and writes the requested fragments and segments; returns the manifest it wrote. */
export async function synthesize(opts: SynthesizeOptions): Promise<Manifest> {
  checkCount('fragments', opts.fragments);
  checkCount('segments', opts.segments);
  if (opts.fragments + opts.segments === 0) throw new Error('synthesize: nothing to make (0 fragments and 0 segments)');
  const layers = opts.layers ?? 65;
  const inkDelta = opts.inkDelta ?? 0.18;
  if (!(inkDelta >= 0 && inkDelta <= 1)) throw new Error(`synthesize: inkDelta must be in [0, 1], got ${inkDelta}`);
  const { height: H, width: W, seed } = opts;
  const frac = opts.reverseFraction ?? 0.25;
  if (!(frac >= 0 && frac <= 1)) throw new Error(`synthesize: reverseFraction must be in [0, 1], got ${frac}`);

  // Which segments are reversed: a fixed count, spread by a seeded shuffle.
  const nRev = opts.segments >= 2 ? Math.max(1, Math.round(frac * opts.segments)) : Math.round(frac * opts.segments);
  const order = new Random(deriveSeed(seed, 3)).shuffle(Array.from({ length: opts.segments }, (_, i) => i));
  const reversedSet = new Set(order.slice(0, nRev));

  const total = (opts.fragments + opts.segments) * (layers + 2);
  const bar = progress('synth', total, { unit: 'steps', ...(opts.progress === undefined ? {} : { enabled: opts.progress }) });
  const manifest: Manifest = {
    version: 1, generator: 'inkwell synth', seed, inkDelta, layers, height: H, width: W, fragments: [], segments: [], reversed: [],
  };
  try {
    for (let f = 0; f < opts.fragments; f++) {
      const id = String(f + 1);
      const itemSeed = deriveSeed(seed, 1, f);
      bar.tick(1, `fragment ${id}: generating`);
      const frag = synthFragment({ height: H, width: W, layers, seed: itemSeed, inkDelta });
      const dir = join(opts.out, 'fragments', id);
      const plane = H * W;
      for (let z = 0; z < layers; z++) {
        await writeTiff(join(dir, 'surface_volume', `${layerName(z, layers)}.tif`), { width: W, height: H, data: frag.volume.subarray(z * plane, (z + 1) * plane) });
        bar.tick(1, `fragment ${id}: layer ${z}`);
      }
      await writeFileAtomic(join(dir, 'mask.png'), await encodePng(frag.mask, W, H, true));
      await writeFileAtomic(join(dir, 'inklabels.png'), await encodePng(frag.labels, W, H, true));
      await writeFileAtomic(join(dir, 'ir.png'), await encodePng(frag.ir, W, H, false));
      bar.tick(1, `fragment ${id}: images`);
      const i = frag.info;
      manifest.fragments.push({
        id, domain: 'fragment', path: `fragments/${id}`, dtype: 'uint16', seed: itemSeed, reversed: false, inkDelta,
        surfaceLayer: i.surfaceLayer, inkFraction: i.inkFraction, maskFraction: i.maskFraction,
        labelShift: i.labelShift, labelsDilated: i.labelsDilated, cracks: i.cracks,
      });
    }
    for (let s = 0; s < opts.segments; s++) {
      const id = `seg${String(s + 1).padStart(3, '0')}`;
      const itemSeed = deriveSeed(seed, 2, s);
      bar.tick(1, `segment ${id}: generating`);
      const seg = synthSegment({ height: H, width: W, layers, seed: itemSeed, inkDelta, reversed: reversedSet.has(s) });
      const dir = join(opts.out, 'segments', id);
      const plane = H * W;
      for (let z = 0; z < layers; z++) {
        await writeTiff(join(dir, 'layers', `${layerName(z, layers)}.tif`), { width: W, height: H, data: seg.volume.subarray(z * plane, (z + 1) * plane) });
        bar.tick(1, `segment ${id}: layer ${z}`);
      }
      await writeFileAtomic(join(dir, `${id}_mask.png`), await encodePng(seg.mask, W, H, true));
      await writeFileAtomic(join(dir, `${id}_inklabels.png`), await encodePng(seg.labels, W, H, true));
      const i = seg.info;
      const meta = {
        uuid: id, name: id, type: 'seg', synthetic: true, domain: 'scroll', layers, height: H, width: W,
        reversed: i.reversed, surfaceLayer: i.surfaceLayer, sheets: i.sheets, targetSheet: i.targetSheet,
        inkDelta: i.inkDelta, gain: i.gain, offset: i.offset, seed: itemSeed,
      };
      await writeFileAtomic(join(dir, 'meta.json'), JSON.stringify(meta, null, 2) + '\n');
      bar.tick(1, `segment ${id}: images`);
      manifest.segments.push({
        id, domain: 'scroll', path: `segments/${id}`, dtype: 'uint8', seed: itemSeed, reversed: i.reversed, inkDelta: i.inkDelta,
        surfaceLayer: i.surfaceLayer, inkFraction: i.inkFraction, maskFraction: i.maskFraction, sheets: i.sheets, targetSheet: i.targetSheet,
      });
      if (i.reversed) manifest.reversed.push(id);
    }
  } finally {
    bar.stop();
  }
  if (opts.segments > 0) {
    await writeFileAtomic(join(opts.out, 'segments', LAYOUT_MANIFEST_NAME), JSON.stringify({ reversed: manifest.reversed }, null, 2) + '\n');
  }
  await writeFileAtomic(join(opts.out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}
