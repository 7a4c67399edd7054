/**
 * Writes synthetic fragments and segments in the real on-disk layouts (docs/data-formats.md):
 *   <out>/fragments/<id>/surface_volume/00.tif..64.tif  (uint16, uncompressed, single strip), mask.png,
 *                       inklabels.png, ir.png                                        (Kaggle layout)
 *   <out>/segments/<id>/layers/00.tif..64.tif (uint8), <id>_mask.png, <id>_inklabels.png (ground truth that
 *                       pretraining never reads), meta.json                           (segment layout)
 *   <out>/fragments/<id>/meta.json  the pixel size (`voxelsize`, um) the readers match resolutions with
 *   <out>/manifest.json           what was made (family, ids, domain, reversed, seeds, ink delta, fractions)
 *   <out>/segments/inkwell-manifest.json   {"reversed": [...]} for the layout detector (src/data/layout.ts);
 *                                 family A only: family B leaves the layer order to detection
 *                                 (src/data/layer-order.ts), as real data without a manifest does.
 * Two independently written families (docs/synthetic-data.md): 'a' (./fragment.ts, ./segment.ts) and 'b'
 * (./family-b/). Every file is written atomically; the manifest comes last, so its presence means the set is
 * complete.
 */
import sharp from 'sharp';
import { join } from 'node:path';
import { writeFileAtomic } from '../../util/atomic.js';
import { progress } from '../../util/progress.js';
import { writeTiff } from '../io/tiff-write.js';
import { deriveSeed, Random } from '../augment/random.js';
import { synthFragment } from './fragment.js';
import { synthSegment } from './segment.js';
import type { GlyphOptions } from './masks.js';
import type { SurfaceWander } from './fields.js';
import { synthFragmentB, synthSegmentB, type PapyrusSide } from './family-b/generate.js';

export type SynthFamily = 'a' | 'b';
export const SYNTH_FAMILIES: readonly SynthFamily[] = ['a', 'b'];

/**
 * Pixel size written into every synthetic volume's meta.json (`voxelsize`, um). Fragments and segments are
 * drawn at the same geometry, so they share it; half the model's 7.91 um (src/data/layout.ts) makes both
 * read at scale 0.5, the resolution the first family's ink was calibrated at (docs/synthetic-data.md).
 */
export const SYNTH_PIXEL_SIZE_UM = 3.955;

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
  /** Which generator: 'a' (default) or 'b'. */
  family?: SynthFamily;
  /**
   * Pixel size written into meta.json (um; default SYNTH_PIXEL_SIZE_UM). 7.91 makes the volumes reach the model at
   * scale 1: small test volumes then keep all their tiles.
   */
  pixelSize?: number;
  /**
   * Family B: bit depth and papyrus side of fragment i (drawn per volume where absent), for a set that must
   * cover both bit depths and both layer orders, e.g. the demo's cross-family check.
   */
  fragmentVariants?: readonly FragmentVariant[];
  /**
   * Family A: 'fixed' (default) draws every volume with the same surface and glyph model; 'wide' draws each
   * fragment's and segment's surface wander and glyph scale from ranges (familyAVariety), for ink models that
   * must not learn one surface and one hand as part of what ink looks like.
   */
  variety?: SynthVariety;
}

export type SynthVariety = 'fixed' | 'wide';
export const SYNTH_VARIETIES: readonly SynthVariety[] = ['fixed', 'wide'];

/**
 * Family A's 'wide' variety, drawn per volume (docs/synthetic-data.md, "Variety"): the surface wanders by 2..6
 * layers with a correlation length of 20..60 px (fragments: 4 and 60 when fixed; segments' sheet stacks: 3 and
 * 60), and the glyphs are scaled by 0.5..1 (size, pitch, line spacing) with strokes of half-width lo..lo + 2,
 * lo in 1.5..3 (3..5 when fixed).
 */
export function familyAVariety(rng: Random): { wander: SurfaceWander; glyphs: GlyphOptions } {
  const k = rng.uniform(0.5, 1);
  const lo = rng.uniform(1.5, 3);
  return {
    wander: { amplitude: rng.uniform(2, 6), length: rng.uniform(20, 60) },
    glyphs: { lineSpacing: 70 * k, pitch: [40 * k, 60 * k], size: [20 * k, 45 * k], halfWidth: [lo, lo + 2] },
  };
}

/** What a family-A volume of this seed draws under `variety`: null for 'fixed' (the generators' defaults). */
function drawVariety(variety: SynthVariety, seed: number): { wander: SurfaceWander; glyphs: GlyphOptions } | null {
  return variety === 'wide' ? familyAVariety(new Random(deriveSeed(seed, 11))) : null;
}

export interface FragmentVariant {
  bits?: 8 | 16;
  papyrusSide?: PapyrusSide;
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
  /** Family A with variety 'wide': the surface wander and glyph model this volume was drawn with. */
  wander?: SurfaceWander;
  glyphs?: GlyphOptions;
  /** Segments: sheet count and which one carries the ink. */
  sheets?: number;
  targetSheet?: number;
  /** Family B: which side of the surface the papyrus lies on as stored, and the stored value of papyrus 1.0. */
  papyrusSide?: 'after' | 'before';
  papyrusLevel?: number;
}

export interface Manifest {
  version: 1;
  generator: 'inkwell synth';
  family: SynthFamily;
  /** Pixel size of every volume (um), also in each meta.json as `voxelsize`. */
  pixelSize: number;
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
  return sharp(Buffer.from(px.buffer, px.byteOffset, px.byteLength), { raw: { width, height, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
}

function checkCount(name: string, n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new Error(`synthesize: ${name} must be a non-negative integer, got ${n}`);
}

/** One generated volume, whichever family made it, ready to write. */
interface Made {
  volume: Uint8Array | Uint16Array;
  mask: Uint8Array;
  labels: Uint8Array;
  ir: Uint8Array | null;
  /** Extra meta.json fields. */
  meta: Record<string, unknown>;
  /** Manifest fields beyond id, domain, path and seed. */
  entry: Omit<ManifestEntry, 'id' | 'domain' | 'path' | 'seed'>;
}

function makeFragment(
  family: SynthFamily,
  H: number,
  W: number,
  layers: number,
  seed: number,
  inkDelta: number,
  variant: FragmentVariant,
  variety: SynthVariety,
): Made {
  if (family === 'b') {
    const f = synthFragmentB({ height: H, width: W, layers, seed, inkDelta, ...variant });
    const i = f.info;
    return {
      volume: f.volume,
      mask: f.mask,
      labels: f.labels,
      ir: f.ir,
      meta: { papyrusSide: i.papyrusSide, bits: i.bits, papyrusLevel: i.papyrusLevel },
      entry: {
        dtype: i.bits === 16 ? 'uint16' : 'uint8',
        reversed: i.reversed,
        inkDelta,
        surfaceLayer: i.surfaceLayer,
        inkFraction: i.inkFraction,
        maskFraction: i.maskFraction,
        labelShift: i.labelShift!,
        papyrusSide: i.papyrusSide,
        papyrusLevel: i.papyrusLevel,
      },
    };
  }
  const drawn = drawVariety(variety, seed);
  const f = synthFragment({ height: H, width: W, layers, seed, inkDelta, ...drawn });
  const i = f.info;
  return {
    volume: f.volume,
    mask: f.mask,
    labels: f.labels,
    ir: f.ir,
    meta: {},
    entry: {
      dtype: 'uint16',
      reversed: false,
      inkDelta,
      surfaceLayer: i.surfaceLayer,
      inkFraction: i.inkFraction,
      maskFraction: i.maskFraction,
      labelShift: i.labelShift,
      labelsDilated: i.labelsDilated,
      cracks: i.cracks,
      ...(drawn ?? {}),
    },
  };
}

function makeSegment(
  family: SynthFamily,
  H: number,
  W: number,
  layers: number,
  seed: number,
  inkDelta: number,
  reversed: boolean,
  variety: SynthVariety,
): Made {
  if (family === 'b') {
    const s = synthSegmentB({ height: H, width: W, layers, seed, inkDelta });
    const i = s.info;
    return {
      volume: s.volume,
      mask: s.mask,
      labels: s.labels,
      ir: null,
      meta: {
        reversed: i.reversed,
        papyrusSide: i.papyrusSide,
        surfaceLayer: i.surfaceLayer,
        sheets: i.sheets,
        targetSheet: i.targetSheet,
        inkDelta: i.inkDelta,
        bits: i.bits,
        papyrusLevel: i.papyrusLevel,
      },
      entry: {
        dtype: i.bits === 16 ? 'uint16' : 'uint8',
        reversed: i.reversed,
        inkDelta: i.inkDelta,
        surfaceLayer: i.surfaceLayer,
        inkFraction: i.inkFraction,
        maskFraction: i.maskFraction,
        sheets: i.sheets!,
        targetSheet: i.targetSheet!,
        papyrusSide: i.papyrusSide,
        papyrusLevel: i.papyrusLevel,
      },
    };
  }
  const drawn = drawVariety(variety, seed);
  const s = synthSegment({ height: H, width: W, layers, seed, inkDelta, reversed, ...drawn });
  const i = s.info;
  return {
    volume: s.volume,
    mask: s.mask,
    labels: s.labels,
    ir: null,
    meta: {
      reversed: i.reversed,
      surfaceLayer: i.surfaceLayer,
      sheets: i.sheets,
      targetSheet: i.targetSheet,
      inkDelta: i.inkDelta,
      gain: i.gain,
      offset: i.offset,
    },
    entry: {
      dtype: 'uint8',
      reversed: i.reversed,
      inkDelta: i.inkDelta,
      surfaceLayer: i.surfaceLayer,
      inkFraction: i.inkFraction,
      maskFraction: i.maskFraction,
      sheets: i.sheets,
      targetSheet: i.targetSheet,
      ...(drawn ?? {}),
    },
  };
}

/** Generates and writes the requested fragments and segments; returns the manifest it wrote. */
export async function synthesize(opts: SynthesizeOptions): Promise<Manifest> {
  checkCount('fragments', opts.fragments);
  checkCount('segments', opts.segments);
  if (opts.fragments + opts.segments === 0) throw new Error('synthesize: nothing to make (0 fragments and 0 segments)');
  const family = opts.family ?? 'a';
  const pixelSize = opts.pixelSize ?? SYNTH_PIXEL_SIZE_UM;
  if (!(pixelSize > 0)) throw new Error(`synthesize: pixelSize must be a positive number of um, got ${pixelSize}`);
  if (!SYNTH_FAMILIES.includes(family))
    throw new Error(`synthesize: family must be one of ${SYNTH_FAMILIES.join(', ')}, got '${String(family)}'`);
  const layers = opts.layers ?? 65;
  const inkDelta = opts.inkDelta ?? (family === 'b' ? 0.2 : 0.18);
  if (!(inkDelta >= 0 && inkDelta <= 1)) throw new Error(`synthesize: inkDelta must be in [0, 1], got ${inkDelta}`);
  const { height: H, width: W, seed } = opts;
  const frac = opts.reverseFraction ?? 0.25;
  if (!(frac >= 0 && frac <= 1)) throw new Error(`synthesize: reverseFraction must be in [0, 1], got ${frac}`);
  const variants = opts.fragmentVariants ?? [];
  if (variants.length > 0 && family !== 'b')
    throw new Error(`synthesize: fragmentVariants need family 'b', got '${family}'`);
  const variety = opts.variety ?? 'fixed';
  if (!SYNTH_VARIETIES.includes(variety))
    throw new Error(`synthesize: variety must be one of ${SYNTH_VARIETIES.join(', ')}, got '${String(variety)}'`);
  if (variety !== 'fixed' && family !== 'a')
    throw new Error(
      `synthesize: variety '${variety}' applies to family 'a' (family 'b' draws its own), got family '${family}'`,
    );

  // Family A: which segments are reversed is a fixed count, spread by a seeded shuffle. Family B draws the
  // papyrus side of every volume itself.
  const nRev = opts.segments >= 2 ? Math.max(1, Math.round(frac * opts.segments)) : Math.round(frac * opts.segments);
  const order = new Random(deriveSeed(seed, 3)).shuffle(Array.from({ length: opts.segments }, (_, i) => i));
  const reversedSet = new Set(order.slice(0, nRev));

  const total = (opts.fragments + opts.segments) * (layers + 2);
  const bar = progress('synth', total, {
    unit: 'steps',
    ...(opts.progress === undefined ? {} : { enabled: opts.progress }),
  });
  const manifest: Manifest = {
    version: 1,
    generator: 'inkwell synth',
    family,
    pixelSize,
    seed,
    inkDelta,
    layers,
    height: H,
    width: W,
    fragments: [],
    segments: [],
    reversed: [],
  };
  const plane = H * W;
  const writeLayers = async (dir: string, volume: Uint8Array | Uint16Array, what: string): Promise<void> => {
    for (let z = 0; z < layers; z++) {
      await writeTiff(join(dir, `${layerName(z, layers)}.tif`), {
        width: W,
        height: H,
        data: volume.subarray(z * plane, (z + 1) * plane),
      });
      bar.tick(1, `${what}: layer ${z}`);
    }
  };
  const meta = (id: string, domain: string, itemSeed: number, extra: Record<string, unknown>) =>
    JSON.stringify(
      {
        uuid: id,
        name: id,
        type: domain === 'scroll' ? 'seg' : 'fragment',
        synthetic: true,
        family,
        domain,
        layers,
        height: H,
        width: W,
        voxelsize: pixelSize,
        ...extra,
        seed: itemSeed,
      },
      null,
      2,
    ) + '\n';
  try {
    for (let f = 0; f < opts.fragments; f++) {
      const id = String(f + 1);
      const itemSeed = deriveSeed(seed, 1, f);
      bar.tick(1, `fragment ${id}: generating`);
      const made = makeFragment(family, H, W, layers, itemSeed, inkDelta, variants[f] ?? {}, variety);
      const dir = join(opts.out, 'fragments', id);
      await writeLayers(join(dir, 'surface_volume'), made.volume, `fragment ${id}`);
      await writeFileAtomic(join(dir, 'mask.png'), await encodePng(made.mask, W, H, true));
      await writeFileAtomic(join(dir, 'inklabels.png'), await encodePng(made.labels, W, H, true));
      if (made.ir) await writeFileAtomic(join(dir, 'ir.png'), await encodePng(made.ir, W, H, false));
      await writeFileAtomic(join(dir, 'meta.json'), meta(id, 'fragment', itemSeed, made.meta));
      bar.tick(1, `fragment ${id}: images`);
      manifest.fragments.push({ id, domain: 'fragment', path: `fragments/${id}`, seed: itemSeed, ...made.entry });
    }
    for (let s = 0; s < opts.segments; s++) {
      const id = `seg${String(s + 1).padStart(3, '0')}`;
      const itemSeed = deriveSeed(seed, 2, s);
      bar.tick(1, `segment ${id}: generating`);
      const made = makeSegment(family, H, W, layers, itemSeed, inkDelta, reversedSet.has(s), variety);
      const dir = join(opts.out, 'segments', id);
      await writeLayers(join(dir, 'layers'), made.volume, `segment ${id}`);
      await writeFileAtomic(join(dir, `${id}_mask.png`), await encodePng(made.mask, W, H, true));
      await writeFileAtomic(join(dir, `${id}_inklabels.png`), await encodePng(made.labels, W, H, true));
      await writeFileAtomic(join(dir, 'meta.json'), meta(id, 'scroll', itemSeed, made.meta));
      bar.tick(1, `segment ${id}: images`);
      manifest.segments.push({ id, domain: 'scroll', path: `segments/${id}`, seed: itemSeed, ...made.entry });
      if (made.entry.reversed) manifest.reversed.push(id);
    }
  } finally {
    bar.stop();
  }
  if (opts.segments > 0 && family === 'a') {
    await writeFileAtomic(
      join(opts.out, 'segments', LAYOUT_MANIFEST_NAME),
      JSON.stringify({ reversed: manifest.reversed }, null, 2) + '\n',
    );
  }
  await writeFileAtomic(join(opts.out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}
