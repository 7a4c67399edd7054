/**
 * Finds out which on-disk layout a dataset folder uses and lists its files (docs/data-formats.md):
 *  - Kaggle fragment: `surface_volume/NN.tif`, `mask.png`, `inklabels.png`, `ir.png`;
 *  - fragment volpkg: `<name>.volpkg/working/<surface>/surface_volume/NN.tif` (+ `ir.png`, `inklabels.png`);
 *  - scroll segment: `layers/NN.tif|png|jpg` (2 or 3 digits), `<id>_mask.png`, `<id>_inklabels.png`,
 *    `meta.json`; masks and labels found by glob (`*mask*`, `*inklabels*`); `<id>_superseded` folders;
 *  - a folder of segments (`<scroll>.volpkg/paths/<id>/...`, or any folder of segment/fragment folders);
 *  - a Zarr v2 array or OME-Zarr group (scroll volumes).
 * Some segments store their layers in reverse order; that comes from a manifest or an explicit flag.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { isZarr } from './io/zarr.js';

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
  /** Layers are stored deepest-first and must be flipped to get the usual order. */
  reversed: boolean;
  /**
   * Default resolution factor: fragments (~3.24-4 um pixels) are halved by area averaging to match scroll
   * segments (7.91 um), as the reference study did (docs/reference-study.md); segments and volumes keep 1.
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
}

export const MANIFEST_NAME = 'inkwell-manifest.json';
const LAYER_NAME = /^(\d{2,3})\.(tif|tiff|png|jpg|jpeg)$/i;
const MASK_EXTS = new Set(['.png', '.tif', '.tiff', '.jpg', '.jpeg', '.bmp']);
const SUPERSEDED = '_superseded';

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * The layer files of `dir` sorted by number. Throws if there are none, if a number appears twice
 * (e.g. `05.tif` and `005.png`), or if numbers are missing in the run.
 */
export async function listLayers(dir: string): Promise<LayerFile[]> {
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
  } catch (err) {
    throw new Error(`listLayers: cannot list ${dir}: ${(err as Error).message}`);
  }
  const byNumber = new Map<number, string>();
  for (const name of names) {
    const m = LAYER_NAME.exec(name);
    if (!m) continue;
    const n = Number(m[1]);
    const prev = byNumber.get(n);
    if (prev !== undefined) throw new Error(`listLayers: ${dir} has two files for layer ${n} (${prev} and ${name}), expected one`);
    byNumber.set(n, name);
  }
  if (byNumber.size === 0) {
    const seen = names.slice(0, 5).join(', ');
    throw new Error(`listLayers: ${dir} has no layer files, expected NN.tif / NNN.tif (or .png/.jpg)${seen ? `; found ${seen}${names.length > 5 ? ', ...' : ''}` : ''}`);
  }
  const numbers = [...byNumber.keys()].sort((a, b) => a - b);
  const first = numbers[0]!;
  const last = numbers[numbers.length - 1]!;
  if (last - first + 1 !== numbers.length) {
    const missing: number[] = [];
    for (let n = first; n <= last && missing.length < 10; n++) if (!byNumber.has(n)) missing.push(n);
    throw new Error(`listLayers: ${dir} is missing layer(s) ${missing.join(', ')}${missing.length === 10 ? ', ...' : ''}: expected contiguous layers ${first}..${last}`);
  }
  const exts = new Set([...byNumber.values()].map((n) => extname(n).toLowerCase().replace('.tiff', '.tif').replace('.jpeg', '.jpg')));
  if (exts.size > 1) throw new Error(`listLayers: ${dir} mixes layer formats (${[...exts].join(', ')}), expected one`);
  return numbers.map((n) => ({ number: n, path: join(dir, byNumber.get(n)!) }));
}

/**
 * The file in `dir` whose name contains `word` (e.g. `*mask*`), preferring the exact names in `preferred`.
 * Several non-preferred matches are an error rather than a silent pick.
 */
async function findByGlob(dir: string, word: string, preferred: string[]): Promise<string | null> {
  const files = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
  for (const p of preferred) if (files.includes(p)) return join(dir, p);
  const hits = files.filter((f) => f.toLowerCase().includes(word) && MASK_EXTS.has(extname(f).toLowerCase()));
  if (hits.length === 0) return null;
  if (hits.length > 1) {
    throw new Error(`detectLayout: ${dir} has ${hits.length} files matching *${word}* (${hits.join(', ')}), expected one (or ${preferred[0]})`);
  }
  return join(dir, hits[0]!);
}

async function optionalFile(path: string): Promise<string | null> {
  return (await isFile(path)) ? path : null;
}

async function kaggleFragment(dir: string, layout: 'kaggle-fragment' | 'fragment-volpkg', id: string): Promise<LayerStackDataset> {
  const layers = await listLayers(join(dir, 'surface_volume'));
  return {
    layout, id, root: dir, reversed: false, defaultScale: 0.5, layers,
    mask: (await optionalFile(join(dir, 'mask.png'))) ?? (await findByGlob(dir, 'mask', [])),
    inklabels: (await optionalFile(join(dir, 'inklabels.png'))) ?? (await findByGlob(dir, 'inklabels', [])),
    ir: await optionalFile(join(dir, 'ir.png')),
    meta: await optionalFile(join(dir, 'meta.json')),
    superseded: false,
  };
}

async function scrollSegment(dir: string): Promise<LayerStackDataset> {
  const id = basename(dir);
  const superseded = id.endsWith(SUPERSEDED);
  const base = superseded ? id.slice(0, -SUPERSEDED.length) : id;
  const layers = await listLayers(join(dir, 'layers'));
  return {
    layout: 'scroll-segment', id, root: dir, reversed: false, defaultScale: 1, layers,
    mask: await findByGlob(dir, 'mask', [`${id}_mask.png`, `${base}_mask.png`]),
    inklabels: await findByGlob(dir, 'inklabels', [`${id}_inklabels.png`, `${base}_inklabels.png`]),
    ir: null,
    meta: await optionalFile(join(dir, 'meta.json')),
    superseded,
  };
}

async function hasWorkingSurfaces(volpkg: string): Promise<boolean> {
  const working = join(volpkg, 'working');
  if (!(await isDir(working))) return false;
  for (const e of await readdir(working, { withFileTypes: true })) {
    if (e.isDirectory() && (await isDir(join(working, e.name, 'surface_volume')))) return true;
  }
  return false;
}

/** `<x>.volpkg/working/<surface>/surface_volume`: one dataset per surface folder. */
async function volpkgFragments(volpkg: string): Promise<LayerStackDataset[]> {
  const working = join(volpkg, 'working');
  const surfaces = (await readdir(working, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  const out: LayerStackDataset[] = [];
  const name = basename(volpkg).replace(/\.volpkg$/, '');
  for (const s of surfaces) {
    if (await isDir(join(working, s, 'surface_volume'))) out.push(await kaggleFragment(join(working, s), 'fragment-volpkg', `${name}/${s}`));
  }
  if (out.length === 0) throw new Error(`detectLayout: ${working} has no <surface>/surface_volume folder, expected e.g. 54keV_exposed_surface/surface_volume`);
  return out;
}

/** Detects a single (non-folder) dataset at `dir`, or returns null when `dir` is none of them. */
async function detectSingle(dir: string): Promise<Dataset[] | null> {
  if (await isDir(join(dir, 'surface_volume'))) {
    const parent = dirname(dir);
    if (basename(parent) === 'working' && basename(dirname(parent)).endsWith('.volpkg')) {
      return [await kaggleFragment(dir, 'fragment-volpkg', `${basename(dirname(parent)).replace(/\.volpkg$/, '')}/${basename(dir)}`)];
    }
    return [await kaggleFragment(dir, 'kaggle-fragment', basename(dir))];
  }
  if (await isDir(join(dir, 'layers'))) return [await scrollSegment(dir)];
  if (await isZarr(dir)) return [{ layout: 'zarr', id: basename(dir).replace(/\.(ome\.)?zarr$/, ''), root: dir, reversed: false, defaultScale: 1 }];
  if (await hasWorkingSurfaces(dir)) return volpkgFragments(dir);
  // `FragN/` holding a single `<name>.volpkg` with working surfaces.
  const volpkgs = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory() && e.name.endsWith('.volpkg'));
  if (volpkgs.length === 1 && (await hasWorkingSurfaces(join(dir, volpkgs[0]!.name)))) return volpkgFragments(join(dir, volpkgs[0]!.name));
  return null;
}

async function readManifest(path: string): Promise<Set<string>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new Error(`detectLayout: cannot read manifest ${path} (${(err as Error).message}), expected JSON {"reversed": ["<id>", ...]}`);
  }
  const list = (parsed as { reversed?: unknown } | null)?.reversed;
  if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) {
    throw new Error(`detectLayout: manifest ${path} has no "reversed" list of ids, expected {"reversed": ["<id>", ...]}`);
  }
  return new Set(list as string[]);
}

/**
 * Detects the layout at `path` and lists every dataset in it (one, or several for a folder of segments).
 * Throws when nothing recognisable is there, or when a dataset's files are inconsistent (missing layers...).
 */
export async function detectLayout(path: string, opts: DetectOptions = {}): Promise<Detected> {
  const dir = resolve(path);
  if (!(await isDir(dir))) {
    throw new Error(`detectLayout: ${path} ${(await isFile(dir)) ? 'is a file' : 'does not exist'}, expected a dataset folder`);
  }
  let layout: Detected['layout'];
  let datasets = await detectSingle(dir);
  if (datasets) layout = datasets.length === 1 ? datasets[0]!.layout : 'segment-folder';
  else {
    layout = 'segment-folder';
    const parent = (await isDir(join(dir, 'paths'))) ? join(dir, 'paths') : dir;
    const names = (await readdir(parent, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
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
      throw new Error(`detectLayout: ${path} matches no known layout: expected surface_volume/, layers/, working/<surface>/surface_volume/, paths/<id>/layers/, sub-folders holding layers/, or a Zarr array (.zarray) / OME-Zarr group (.zattrs multiscales)`);
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
  for (const d of datasets) {
    if (d.layout === 'zarr') continue;
    if (typeof opts.reversed === 'boolean') d.reversed = opts.reversed;
    else if (opts.reversed !== undefined) d.reversed = opts.reversed.includes(d.id);
    else if (reversedIds) d.reversed = reversedIds.has(d.id);
  }
  return { layout, datasets };
}

/** Detects exactly one dataset at `path`; a folder of several is an error naming how many it holds. */
export async function detectDataset(path: string, opts: DetectOptions = {}, op = 'detectDataset'): Promise<Dataset> {
  const found = await detectLayout(path, opts);
  if (found.datasets.length !== 1) {
    throw new Error(`${op}: ${path} holds ${found.datasets.length} datasets (${found.datasets.slice(0, 4).map((d) => d.id).join(', ')}${found.datasets.length > 4 ? ', ...' : ''}), expected one: pass one of its sub-folders`);
  }
  return found.datasets[0]!;
}
