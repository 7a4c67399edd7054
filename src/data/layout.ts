/**
 * Finds out which on-disk layout a dataset folder uses and lists its files (docs/data-formats.md):
 *  - Kaggle fragment: `surface_volume/NN.tif`, `mask.png`, `inklabels.png`, `ir.png`;
 *  - fragment volpkg: `<name>.volpkg/working/<surface>/surface_volume/NN.tif` (+ `ir.png`, `inklabels.png`);
 *  - scroll segment: `layers/NN.tif|png|jpg` (2 or 3 digits), `<id>_mask.png`, `<id>_inklabels.png`,
 *    `meta.json`; masks and labels found by glob (`*mask*`, `*inklabels*`); `<id>_superseded` folders;
 *  - a folder of segments (`<scroll>.volpkg/paths/<id>/...`, or any folder of segment/fragment folders);
 *  - a Zarr v2 array or OME-Zarr group (scroll volumes).
 * Some segments store their layers in reverse order; that comes from an explicit flag, a manifest, or (when
 * neither says) from the volume's density profile when it is opened (src/data/layer-order.ts).
 * Every dataset carries a pixel size: meta.json's `voxelsize` (um) when present, else the layout's default;
 * the default resolution factor brings it to the model resolution, MODEL_PIXEL_SIZE_UM.
 * A dataset may also be an http(s) URL: the same layouts are found through the server's directory listings,
 * or by probing the names above where it lists nothing (src/data/io/files.ts).
 */
import { extname, resolve } from 'node:path';
import { kindOf, listDir, readText } from './io/files.js';
import { isZarr } from './io/zarr.js';
import {
  baseLocation as basename,
  checkUrl,
  dirLocation as dirname,
  isUrl,
  joinLocation as join,
  trimLocation,
} from './remote/url.js';
import type { LayerOrderChoice, LayerOrderEvidence } from './layer-order.js';

/**
 * The resolution models work at (um per pixel): the scroll segments' 7.91 um voxels (docs/data-formats.md),
 * which pretraining reads unscaled. Every dataset is area-averaged from its own pixel size down to this one,
 * so segments and fragments reach models at the same physical scale.
 */
export const MODEL_PIXEL_SIZE_UM = 7.91;
/**
 * Pixel size assumed for Kaggle-layout fragments without a meta.json. The fragment scans are 3.24-4 um; the
 * reference study halves them to meet the segments (docs/reference-study.md), so half the model's pixel is
 * taken: the default factor stays its x0.5. A meta.json `voxelsize` (e.g. 3.24) overrides it.
 */
export const FRAGMENT_PIXEL_SIZE_UM = MODEL_PIXEL_SIZE_UM / 2;
/** Scroll segments and volumes without a `voxelsize`: the scroll scans' 7.91 um. */
export const SEGMENT_PIXEL_SIZE_UM = 7.91;

/**
 * The layers every reader takes by default, [start, end) in canonical order (src/data/layer-order.ts): 22
 * layers around the surface at layer 32 of 65 (10 on its air side, 12 into the papyrus with the
 * surface's ink band), the 22 the reference study read (docs/reference-study.md). Models take `depth` slices
 * centred in it (a z-shift augmentation moves them). The CLI defaults, the demo and the synthetic tile
 * source all read this range, so what a model is trained on and what it is run on are the same layers.
 */
export const SURFACE_Z_RANGE: readonly [number, number] = [22, 44];

/** Where a dataset's layer order came from. 'default': nothing said, the order is as stored. */
export type LayerOrderSource = 'default' | 'flag' | 'manifest' | 'detected';

export type DatasetLayout = 'kaggle-fragment' | 'fragment-volpkg' | 'scroll-segment' | 'zarr';

export interface LayerFile {
  /** The number in the file name (`07.tif` -> 7). */
  number: number;
  path: string;
}

interface DatasetBase {
  layout: DatasetLayout;
  id: string;
  /** The dataset's own folder. */
  root: string;
  /** Layers are stored in the reverse of the canonical order (src/data/layer-order.ts) and are flipped. */
  reversed: boolean;
  /** Who decided `reversed`. */
  orderSource: LayerOrderSource;
  /** The density-profile evidence, when the order was detected (or detection was tried and undecided). */
  orderEvidence?: LayerOrderEvidence;
  /** Pixel size in um, and where it came from. */
  pixelSize: number;
  pixelSizeSource: 'meta.json' | 'default';
  /**
   * Default resolution factor: pixelSize / MODEL_PIXEL_SIZE_UM, at most 1 (Kaggle fragments: 0.5; segments
   * at 7.91 um: 1; synthetic volumes write their own, docs/synthetic-data.md).
   */
  defaultScale: number;
}

export interface LayerStackDataset extends DatasetBase {
  layout: 'kaggle-fragment' | 'fragment-volpkg' | 'scroll-segment';
  /** Layer files sorted by number; numbers are contiguous from `layers[0].number`. */
  layers: LayerFile[];
  mask: string | null;
  inklabels: string | null;
  ir: string | null;
  meta: string | null;
  /** The folder name ends in `_superseded` (a newer render of the segment exists or existed). */
  superseded: boolean;
}

export interface ZarrDataset extends DatasetBase {
  layout: 'zarr';
}

export type Dataset = LayerStackDataset | ZarrDataset;

export interface Detected {
  /** 'segment-folder' when `path` held several datasets. */
  layout: DatasetLayout | 'segment-folder';
  datasets: Dataset[];
}

export interface DetectOptions {
  /** Reversed layer order: true/false for every dataset found, or the ids whose order is reversed. */
  reversed?: boolean | readonly string[];
  /**
   * A JSON manifest `{"reversed": ["<id>", ...]}`. Without this option, `inkwell-manifest.json` is looked for
   * in `path` and in its parent folder.
   */
  manifest?: string;
  /**
   * 'auto' (default): a flag or manifest decides, else the density profile when the volume is opened;
   * 'as-stored' / 'reversed': that order for every dataset, whatever the manifest says.
   */
  layerOrder?: LayerOrderChoice;
}

export const MANIFEST_NAME = 'inkwell-manifest.json';
const LAYER_NAME = /^(\d{2,3})\.(tif|tiff|png|jpg|jpeg)$/i;
const MASK_EXTS = new Set(['.png', '.tif', '.tiff', '.jpg', '.jpeg', '.bmp']);
const SUPERSEDED = '_superseded';

async function isDir(path: string): Promise<boolean> {
  return (await kindOf(path)) === 'dir';
}

async function isFile(path: string): Promise<boolean> {
  return (await kindOf(path)) === 'file';
}

/** Names of the files (`dirs` false) or folders (`dirs` true) in `dir`. */
async function namesIn(dir: string, dirs: boolean): Promise<string[]> {
  return (await listDir(dir)).filter((e) => e.dir === dirs).map((e) => e.name);
}

/**
 * The layer files of `dir` sorted by number. Throws if there are none, if a number appears twice
 * (e.g. `05.tif` and `005.png`), or if numbers are missing in the run.
 */
export async function listLayers(dir: string): Promise<LayerFile[]> {
  if (!(await isDir(dir))) throw new Error(`listLayers: cannot list ${dir}: no such folder`);
  const names = await namesIn(dir, false);
  const byNumber = new Map<number, string>();
  for (const name of names) {
    const m = LAYER_NAME.exec(name);
    if (!m) continue;
    const n = Number(m[1]);
    const prev = byNumber.get(n);
    if (prev !== undefined)
      throw new Error(`listLayers: ${dir} has two files for layer ${n} (${prev} and ${name}), expected one`);
    byNumber.set(n, name);
  }
  if (byNumber.size === 0) {
    const seen = names.slice(0, 5).join(', ');
    throw new Error(
      `listLayers: ${dir} has no layer files, expected NN.tif / NNN.tif (or .png/.jpg)${seen ? `; found ${seen}${names.length > 5 ? ', ...' : ''}` : ''}`,
    );
  }
  const numbers = [...byNumber.keys()].sort((a, b) => a - b);
  const first = numbers[0]!;
  const last = numbers[numbers.length - 1]!;
  if (last - first + 1 !== numbers.length) {
    const missing: number[] = [];
    for (let n = first; n <= last && missing.length < 10; n++) if (!byNumber.has(n)) missing.push(n);
    throw new Error(
      `listLayers: ${dir} is missing layer(s) ${missing.join(', ')}${missing.length === 10 ? ', ...' : ''}: expected contiguous layers ${first}..${last}`,
    );
  }
  const exts = new Set(
    [...byNumber.values()].map((n) => extname(n).toLowerCase().replace('.tiff', '.tif').replace('.jpeg', '.jpg')),
  );
  if (exts.size > 1) throw new Error(`listLayers: ${dir} mixes layer formats (${[...exts].join(', ')}), expected one`);
  return numbers.map((n) => ({ number: n, path: join(dir, byNumber.get(n)!) }));
}

/**
 * The file in `dir` whose name contains `word` (e.g. `*mask*`), preferring the exact names in `preferred`.
 * Several non-preferred matches are an error rather than a silent pick.
 */
async function findByGlob(dir: string, word: string, preferred: string[]): Promise<string | null> {
  const files = await namesIn(dir, false);
  for (const p of preferred) if (files.includes(p)) return join(dir, p);
  const hits = files.filter((f) => f.toLowerCase().includes(word) && MASK_EXTS.has(extname(f).toLowerCase()));
  if (hits.length === 0) return null;
  if (hits.length > 1) {
    throw new Error(
      `detectLayout: ${dir} has ${hits.length} files matching *${word}* (${hits.join(', ')}), expected one (or ${preferred[0]})`,
    );
  }
  return join(dir, hits[0]!);
}

async function optionalFile(path: string): Promise<string | null> {
  return (await isFile(path)) ? path : null;
}

/** Pixel size fields from meta.json's `voxelsize` (um), or the layout's default; a bad value is an error. */
type PixelSizeFields = Pick<DatasetBase, 'pixelSize' | 'pixelSizeSource' | 'defaultScale'>;

async function pixelSize(meta: string | null, fallback: number): Promise<PixelSizeFields> {
  let size = fallback;
  let source: DatasetBase['pixelSizeSource'] = 'default';
  if (meta !== null) {
    let parsed: unknown = null;
    try {
      const text = await readText(meta);
      parsed = text === null ? null : JSON.parse(text);
    } catch {
      // Not JSON we can read: meta.json files in the wild vary; the default pixel size stands.
    }
    const v = (parsed as { voxelsize?: unknown } | null)?.voxelsize;
    if (v !== undefined) {
      if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) {
        throw new Error(`detectLayout: ${meta} has voxelsize ${JSON.stringify(v)}, expected a positive number of um`);
      }
      size = v;
      source = 'meta.json';
    }
  }
  return { pixelSize: size, pixelSizeSource: source, defaultScale: Math.min(1, size / MODEL_PIXEL_SIZE_UM) };
}

async function kaggleFragment(
  dir: string,
  layout: 'kaggle-fragment' | 'fragment-volpkg',
  id: string,
): Promise<LayerStackDataset> {
  const layers = await listLayers(join(dir, 'surface_volume'));
  const meta = await optionalFile(join(dir, 'meta.json'));
  return {
    layout,
    id,
    root: dir,
    reversed: false,
    orderSource: 'default',
    layers,
    ...(await pixelSize(meta, FRAGMENT_PIXEL_SIZE_UM)),
    mask: (await optionalFile(join(dir, 'mask.png'))) ?? (await findByGlob(dir, 'mask', [])),
    inklabels: (await optionalFile(join(dir, 'inklabels.png'))) ?? (await findByGlob(dir, 'inklabels', [])),
    ir: await optionalFile(join(dir, 'ir.png')),
    meta,
    superseded: false,
  };
}

async function scrollSegment(dir: string): Promise<LayerStackDataset> {
  const id = basename(dir);
  const superseded = id.endsWith(SUPERSEDED);
  const base = superseded ? id.slice(0, -SUPERSEDED.length) : id;
  const layers = await listLayers(join(dir, 'layers'));
  const meta = await optionalFile(join(dir, 'meta.json'));
  return {
    layout: 'scroll-segment',
    id,
    root: dir,
    reversed: false,
    orderSource: 'default',
    layers,
    ...(await pixelSize(meta, SEGMENT_PIXEL_SIZE_UM)),
    mask: await findByGlob(dir, 'mask', [`${id}_mask.png`, `${base}_mask.png`]),
    inklabels: await findByGlob(dir, 'inklabels', [`${id}_inklabels.png`, `${base}_inklabels.png`]),
    ir: null,
    meta,
    superseded,
  };
}

async function hasWorkingSurfaces(volpkg: string): Promise<boolean> {
  const working = join(volpkg, 'working');
  if (!(await isDir(working))) return false;
  for (const name of await namesIn(working, true)) {
    if (await isDir(join(working, name, 'surface_volume'))) return true;
  }
  return false;
}

/** `<x>.volpkg/working/<surface>/surface_volume`: one dataset per surface folder. */
async function volpkgFragments(volpkg: string): Promise<LayerStackDataset[]> {
  const working = join(volpkg, 'working');
  const surfaces = (await namesIn(working, true)).sort();
  const out: LayerStackDataset[] = [];
  const name = basename(volpkg).replace(/\.volpkg$/, '');
  for (const s of surfaces) {
    if (await isDir(join(working, s, 'surface_volume')))
      out.push(await kaggleFragment(join(working, s), 'fragment-volpkg', `${name}/${s}`));
  }
  if (out.length === 0)
    throw new Error(
      `detectLayout: ${working} has no <surface>/surface_volume folder, expected e.g. 54keV_exposed_surface/surface_volume`,
    );
  return out;
}

/** Detects a single (non-folder) dataset at `dir`, or returns null when `dir` is none of them. */
async function detectSingle(dir: string): Promise<Dataset[] | null> {
  if (await isDir(join(dir, 'surface_volume'))) {
    const parent = dirname(dir);
    if (basename(parent) === 'working' && basename(dirname(parent)).endsWith('.volpkg')) {
      return [
        await kaggleFragment(
          dir,
          'fragment-volpkg',
          `${basename(dirname(parent)).replace(/\.volpkg$/, '')}/${basename(dir)}`,
        ),
      ];
    }
    return [await kaggleFragment(dir, 'kaggle-fragment', basename(dir))];
  }
  if (await isDir(join(dir, 'layers'))) return [await scrollSegment(dir)];
  if (await isZarr(dir)) {
    const id = basename(dir).replace(/\.(ome\.)?zarr$/, '');
    return [
      {
        layout: 'zarr',
        id,
        root: dir,
        reversed: false,
        orderSource: 'default',
        pixelSize: SEGMENT_PIXEL_SIZE_UM,
        pixelSizeSource: 'default',
        defaultScale: 1,
      },
    ];
  }
  if (await hasWorkingSurfaces(dir)) return volpkgFragments(dir);
  // `FragN/` holding a single `<name>.volpkg` with working surfaces.
  const volpkgs = (await namesIn(dir, true)).filter((name) => name.endsWith('.volpkg'));
  if (volpkgs.length === 1 && (await hasWorkingSurfaces(join(dir, volpkgs[0]!))))
    return volpkgFragments(join(dir, volpkgs[0]!));
  return null;
}

async function readManifest(path: string): Promise<Set<string>> {
  let parsed: unknown;
  try {
    const text = await readText(path);
    if (text === null) throw new Error('no such file');
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(
      `detectLayout: cannot read manifest ${path} (${(err as Error).message}), expected JSON {"reversed": ["<id>", ...]}`,
    );
  }
  const list = (parsed as { reversed?: unknown } | null)?.reversed;
  if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) {
    throw new Error(
      `detectLayout: manifest ${path} has no "reversed" list of ids, expected {"reversed": ["<id>", ...]}`,
    );
  }
  return new Set(list as string[]);
}

/**
 * Detects the layout at `path` and lists every dataset in it (one, or several for a folder of segments).
 * Throws when nothing recognisable is there, or when a dataset's files are inconsistent (missing layers...).
 */
export async function detectLayout(path: string, opts: DetectOptions = {}): Promise<Detected> {
  // A URL with credentials in it is refused here, before anything is fetched or logged.
  const dir = isUrl(path) ? trimLocation(checkUrl(path, 'detectLayout').href) : resolve(path);
  // The dataset's own folder is asked first, so that an auth error names it rather than its parent.
  if (isUrl(dir)) await listDir(dir);
  if (!(await isDir(dir))) {
    throw new Error(
      `detectLayout: ${path} ${(await isFile(dir)) ? 'is a file' : 'does not exist'}, expected a dataset folder`,
    );
  }
  let layout: Detected['layout'];
  let datasets = await detectSingle(dir);
  if (datasets) layout = datasets.length === 1 ? datasets[0]!.layout : 'segment-folder';
  else {
    layout = 'segment-folder';
    const parent = (await isDir(join(dir, 'paths'))) ? join(dir, 'paths') : dir;
    const names = (await namesIn(parent, true)).sort();
    const present = new Set(names);
    datasets = [];
    for (const name of names) {
      // A superseded render is only used when the current one is absent.
      if (name.endsWith(SUPERSEDED) && present.has(name.slice(0, -SUPERSEDED.length))) continue;
      const child = join(parent, name);
      if (!(await isDir(join(child, 'layers'))) && !(await isDir(join(child, 'surface_volume')))) continue;
      const found = await detectSingle(child);
      if (found) datasets.push(...found);
    }
    if (datasets.length === 0) {
      throw new Error(
        `detectLayout: ${path} matches no known layout: expected surface_volume/, layers/, working/<surface>/surface_volume/, paths/<id>/layers/, sub-folders holding layers/, or a Zarr array (.zarray) / OME-Zarr group (.zattrs multiscales)`,
      );
    }
  }

  let reversedIds: Set<string> | null = null;
  if (opts.manifest !== undefined) reversedIds = await readManifest(opts.manifest);
  else {
    for (const candidate of [join(dir, MANIFEST_NAME), join(dirname(dir), MANIFEST_NAME)]) {
      if (await isFile(candidate)) {
        reversedIds = await readManifest(candidate);
        break;
      }
    }
  }
  const choice = opts.layerOrder ?? 'auto';
  if (choice !== 'auto' && choice !== 'as-stored' && choice !== 'reversed') {
    throw new Error(`detectLayout: layer order must be auto, as-stored or reversed, got '${String(choice)}'`);
  }
  for (const d of datasets) {
    if (d.layout === 'zarr') continue;
    if (choice !== 'auto') [d.reversed, d.orderSource] = [choice === 'reversed', 'flag'];
    else if (typeof opts.reversed === 'boolean') [d.reversed, d.orderSource] = [opts.reversed, 'flag'];
    else if (opts.reversed !== undefined) [d.reversed, d.orderSource] = [opts.reversed.includes(d.id), 'flag'];
    // A manifest lists the reversed ids; the others are left to detection.
    else if (reversedIds?.has(d.id)) [d.reversed, d.orderSource] = [true, 'manifest'];
  }
  return { layout, datasets };
}

/** Detects exactly one dataset at `path`; a folder of several is an error naming how many it holds. */
export async function detectDataset(path: string, opts: DetectOptions = {}, op = 'detectDataset'): Promise<Dataset> {
  const found = await detectLayout(path, opts);
  if (found.datasets.length !== 1) {
    throw new Error(
      `${op}: ${path} holds ${found.datasets.length} datasets (${found.datasets
        .slice(0, 4)
        .map((d) => d.id)
        .join(', ')}${found.datasets.length > 4 ? ', ...' : ''}), expected one: pass one of its sub-folders`,
    );
  }
  return found.datasets[0]!;
}
