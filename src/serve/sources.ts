/**
 * What `inkwell serve` shows: the datasets of `--input` (a dataset, a folder of segments, a URL, or a run
 * folder / report whose config names its datasets) and, per dataset, overlays: its mask, its ink labels, and
 * every prediction PNG found under `--predictions` (a PNG, a folder of PNGs, or a run / report folder with
 * `predictions/<id>_prob.png` or `predictions/<name>/<id>_prob.png`, as `inkwell report` reads them).
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import YAML from 'yaml';
import { readImageInfo } from '../data/io/image.js';
import { kindOf, readText } from '../data/io/files.js';
import { detectLayout, type Dataset } from '../data/layout.js';
import { histogramPercentile } from '../data/normalize.js';
import { isUrl } from '../data/remote/url.js';
import { Volume } from '../data/volume.js';
import sharp from 'sharp';

export type OverlayKind = 'mask' | 'inklabels' | 'prediction';

export interface OverlayInfo {
  name: string;
  kind: OverlayKind;
}

export interface Overlay extends OverlayInfo {
  /** Values scaled to 0..255 at the dataset's size (row-major), loaded on first use. */
  load(): Promise<Uint8Array>;
}

export interface ViewerDataset {
  id: string;
  volume: Volume;
  /** Layer numbers shown by the z slider. */
  layers: number[];
  overlays: Overlay[];
  /** Default window (raw values) from the 0.5 / 99.5 percentiles of a sample inside the mask. */
  window: [number, number];
}

function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | null = null;
  return () => {
    p ??= fn();
    p.catch(() => {
      p = null;
    });
    return p;
  };
}

function binaryOverlay(name: string, kind: OverlayKind, read: () => Promise<Uint8Array | null>): Overlay {
  return {
    name,
    kind,
    load: once(async () => {
      const v = await read();
      if (!v) throw new Error(`serve: overlay ${name} is empty`);
      return v.map((x) => (x ? 255 : 0));
    }),
  };
}

/**
 * A prediction PNG as 0..255 grey at the dataset's size: resized when it was written at another resolution,
 * converted to grey when it was saved as RGB (sharp writes single-channel raw data as sRGB by default).
 */
function predictionOverlay(name: string, path: string, height: number, width: number): Overlay {
  return {
    name,
    kind: 'prediction',
    load: once(async () => {
      try {
        const out = await sharp(path, { limitInputPixels: false })
          .removeAlpha()
          .resize(width, height, { fit: 'fill', kernel: 'linear' })
          .toColourspace('b-w')
          .raw({ depth: 'uchar' })
          .toBuffer({ resolveWithObject: true });
        if (out.info.channels !== 1) throw new Error(`${out.info.channels} channels after grey conversion`);
        return new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.length);
      } catch (err) {
        throw new Error(`serve: cannot read prediction ${path} (${(err as Error).message}); expected a grey PNG`);
      }
    }),
  };
}

async function pngsUnder(dir: string, depth: number): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() && depth > 0 && e.name !== 'checkpoints' && e.name !== 'node_modules')
      out.push(...(await pngsUnder(p, depth - 1)));
    else if (e.isFile() && e.name.toLowerCase().endsWith('.png')) out.push(p);
  }
  return out.sort();
}

/**
 * The prediction PNGs under `--predictions` that belong to dataset `id` of size `height` x `width`: named
 * `<id>_prob.png`, or any PNG of the dataset's aspect ratio that is not a mask, labels or IR image.
 */
export async function findPredictions(
  paths: readonly string[],
  id: string,
  height: number,
  width: number,
): Promise<{ name: string; path: string }[]> {
  const found: { name: string; path: string }[] = [];
  for (const p of paths) {
    const st = await stat(p).catch(() => null);
    if (!st)
      throw new Error(
        `serve: --predictions ${p} does not exist, expected a PNG, a folder of PNGs or a ` + `run/report folder`,
      );
    const root = st.isDirectory() ? p : dirname(p);
    const files = st.isDirectory() ? await pngsUnder(p, 3) : [p];
    for (const f of files) {
      const name = basename(f);
      if (/_(labels|ir|mask)\.png$/i.test(name) || /^(mask|inklabels|ir)\.png$/i.test(name)) continue;
      const m = /^(.+)_prob\.png$/i.exec(name);
      if (m && m[1] !== id) continue;
      if (!m) {
        const info = await readImageInfo(f, 'serve').catch(() => null);
        if (!info) continue;
        if (Math.abs(info.width / info.height - width / height) > 0.02) continue;
      }
      found.push({ name: `${basename(p)}/${relative(root, f)}`.replace(/^\.\//, ''), path: f });
    }
  }
  return found;
}

/**
 * `--input` as datasets; a run folder (or its report.html) is read through the dataset paths in its
 * config.yaml (data.datasets, data.train, data.val) and is searched for predictions itself.
 */
export async function resolveInput(input: string): Promise<{ datasets: Dataset[]; predictionDirs: string[] }> {
  const dir = !isUrl(input) && input.toLowerCase().endsWith('.html') ? dirname(input) : input;
  if (!isUrl(dir) && (await kindOf(join(dir, 'config.yaml'))) === 'file') {
    const cfg = YAML.parse((await readText(join(dir, 'config.yaml')))!) as { data?: Record<string, unknown> } | null;
    const lists = ['datasets', 'train', 'val'].map((k) => cfg?.data?.[k]).filter(Array.isArray) as {
      path?: unknown;
    }[][];
    const paths = [
      ...new Set(
        lists
          .flat()
          .map((d) => d.path)
          .filter((x): x is string => typeof x === 'string'),
      ),
    ];
    if (paths.length === 0)
      throw new Error(
        `serve: ${join(dir, 'config.yaml')} names no datasets (data.datasets / data.train / data.val), ` +
          `expected a run folder`,
      );
    const datasets: Dataset[] = [];
    for (const p of paths) datasets.push(...(await detectLayout(p)).datasets);
    return { datasets, predictionDirs: [dir] };
  }
  return { datasets: (await detectLayout(input)).datasets, predictionDirs: [] };
}

export async function openViewerDataset(d: Dataset, predictionPaths: readonly string[]): Promise<ViewerDataset> {
  const volume = await Volume.open(d, { scale: 1, bitDepth: 'keep' });
  const layers = Array.from({ length: volume.depth }, (_, z) => volume.zStart + z);
  const overlays: Overlay[] = [];
  if (d.layout !== 'zarr' && d.mask) overlays.push(binaryOverlay('mask', 'mask', () => volume.readMask()));
  if (d.layout !== 'zarr' && d.inklabels)
    overlays.push(binaryOverlay('ink labels', 'inklabels', () => volume.readInkLabels()));
  for (const p of await findPredictions(predictionPaths, d.id, volume.height, volume.width)) {
    overlays.push(predictionOverlay(p.name, p.path, volume.height, volume.width));
  }
  const hist = await volume.sampleHistogram({ windows: 16, size: 64 });
  const window: [number, number] = [histogramPercentile(hist, 0.5), histogramPercentile(hist, 99.5)];
  if (window[1] <= window[0]) window[1] = window[0] + 1;
  return { id: d.id, volume, layers, overlays, window };
}
