/**
 * Shared helpers of the data-reader tests: fixtures written by other tools (Debian's python3 with PIL,
 * numpy, zarr, and libtiff's tiffcp: test/fixtures/data_fixtures.py) and small dataset trees built here.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

/** Debian's python (python3-pil/numpy/zarr); the pyenv `python3` on PATH lacks them. */
export const DATA_PYTHON = process.env['INKWELL_DATA_PYTHON'] ?? '/usr/bin/python3';
const here = dirname(fileURLToPath(import.meta.url));
export const FIXTURE_SCRIPT = join(here, '..', '..', '..', 'test', 'fixtures', 'data_fixtures.py');

export interface FixtureEntry {
  group: 'tiff' | 'images' | 'zarr';
  file: string;
  dtype: 'uint8' | 'uint16';
  shape: number[];
  expected: string;
  compression?: string;
  layout?: 'strips' | 'tiles';
  positioned?: boolean;
  lossy?: boolean;
  binary?: boolean;
  separator?: '.' | '/';
  level?: number;
}

export interface Fixtures {
  dir: string;
  files: FixtureEntry[];
  /** Exact values of an entry, as a typed array of its dtype. */
  expected(e: FixtureEntry): Uint8Array | Uint16Array;
  path(name: string): string;
}

const made = new Map<string, Fixtures | string>();

/**
 * Runs the fixture script once per process for `groups`; returns the fixtures, or a skip reason (string) when
 * /usr/bin/python3 or one of its packages / tiffcp is missing.
 */
export function pythonFixtures(...groups: string[]): Fixtures | string {
  const key = groups.join(',');
  const cached = made.get(key);
  if (cached !== undefined) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'inkwell-data-fx-'));
  const r = spawnSync(DATA_PYTHON, [FIXTURE_SCRIPT, dir, ...groups], { encoding: 'utf8', timeout: 120_000 });
  let result: Fixtures | string;
  if (r.error)
    result = `needs ${DATA_PYTHON} (${r.error.message}): apt-get install python3 python3-pil python3-numpy python3-zarr libtiff-tools`;
  else if (r.status === 3) result = `fixture writers missing at ${DATA_PYTHON}: ${r.stderr.trim()}`;
  else if (r.status !== 0) throw new Error(`data_fixtures.py failed (status ${r.status}): ${r.stderr}`);
  else {
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { files: FixtureEntry[] };
    result = {
      dir,
      files: manifest.files,
      path: (name) => join(dir, name),
      expected(e) {
        const b = readFileSync(join(dir, e.expected));
        const copy = new Uint8Array(b.byteLength);
        copy.set(b);
        return e.dtype === 'uint16' ? new Uint16Array(copy.buffer) : copy;
      },
    };
    removeOnExit(dir);
  }
  made.set(key, result);
  return result;
}

const toRemove = new Set<string>();
/** One exit listener for every temp folder (a listener per folder piles up: MaxListenersExceededWarning). */
function removeOnExit(dir: string): void {
  if (toRemove.size === 0)
    process.once('exit', () => {
      for (const d of toRemove) rmSync(d, { recursive: true, force: true });
    });
  toRemove.add(dir);
}

/** A fresh temp folder removed when the process exits. */
export function tempDir(prefix = 'inkwell-data-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  removeOnExit(dir);
  return dir;
}

/** Deterministic pixel value of layer z at (y, x) for the synthetic stacks below. */
export function pixel(z: number, y: number, x: number, bits: 8 | 16): number {
  const v = (z * 7919 + y * 104729 + x * 1299709 + ((y * x) % 97) * 31) >>> 0;
  return bits === 16 ? v % 65536 : v % 256;
}

export function plane(z: number, h: number, w: number, bits: 8 | 16): Uint8Array | Uint16Array {
  const a = bits === 16 ? new Uint16Array(h * w) : new Uint8Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) a[y * w + x] = pixel(z, y, x, bits);
  return a;
}

/** Writes a grey image with sharp (TIFF uncompressed, PNG, or JPEG at quality 100). */
export async function writeImage(
  path: string,
  data: Uint8Array | Uint16Array,
  h: number,
  w: number,
  opts: { tiffCompression?: 'none' | 'lzw' | 'deflate' } = {},
): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  let img = sharp(data, { raw: { width: w, height: h, channels: 1 } });
  img = img.toColourspace(data instanceof Uint16Array ? 'grey16' : 'b-w');
  if (path.endsWith('.tif')) await img.tiff({ compression: opts.tiffCompression ?? 'none' }).toFile(path);
  else if (path.endsWith('.png')) await img.png().toFile(path);
  else await img.jpeg({ quality: 100 }).toFile(path);
}

export interface StackOptions {
  layers?: number;
  first?: number;
  height?: number;
  width?: number;
  bits?: 8 | 16;
  ext?: 'tif' | 'png' | 'jpg';
  digits?: 2 | 3;
  tiffCompression?: 'none' | 'lzw' | 'deflate';
}

/** Writes layers `first..first+layers-1` of the synthetic volume into `dir`. */
export async function writeStack(dir: string, o: StackOptions = {}): Promise<void> {
  const { layers = 4, first = 0, height = 24, width = 20, bits = 16, ext = 'tif', digits = 2 } = o;
  for (let z = first; z < first + layers; z++) {
    await writeImage(
      join(dir, `${String(z).padStart(digits, '0')}.${ext}`),
      plane(z, height, width, bits),
      height,
      width,
      o.tiffCompression === undefined ? {} : { tiffCompression: o.tiffCompression },
    );
  }
}

/** A {0,1} pattern written as a {0,255} PNG. */
export async function writeMask(path: string, bits: Uint8Array, h: number, w: number): Promise<void> {
  const v = new Uint8Array(bits.length);
  for (let i = 0; i < v.length; i++) v[i] = bits[i] ? 255 : 0;
  await writeImage(path, v, h, w);
}

/** A mask with a filled rectangle [y0,y1) x [x0,x1). */
export function rectMask(h: number, w: number, y0: number, y1: number, x0: number, x1: number): Uint8Array {
  const m = new Uint8Array(h * w);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) m[y * w + x] = 1;
  return m;
}

export function writeJson(path: string, v: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(v));
}

/** A Kaggle-style fragment at `root`: surface_volume/NN.tif, mask.png, inklabels.png, ir.png. */
export async function writeKaggleFragment(
  root: string,
  o: StackOptions & { mask?: Uint8Array; labels?: Uint8Array } = {},
): Promise<void> {
  const h = o.height ?? 24;
  const w = o.width ?? 20;
  await writeStack(join(root, 'surface_volume'), { ...o, height: h, width: w });
  await writeMask(join(root, 'mask.png'), o.mask ?? rectMask(h, w, 2, h - 2, 2, w - 2), h, w);
  await writeMask(join(root, 'inklabels.png'), o.labels ?? rectMask(h, w, 4, 8, 4, 10), h, w);
  await writeImage(join(root, 'ir.png'), plane(99, h, w, 8), h, w);
}

/** A scroll segment at `root` (= <...>/<id>): layers/NN.ext, <id>_mask.png, <id>_inklabels.png, meta.json. */
export async function writeSegment(
  root: string,
  id: string,
  o: StackOptions & { labels?: boolean } = {},
): Promise<void> {
  const h = o.height ?? 24;
  const w = o.width ?? 20;
  await writeStack(join(root, 'layers'), { ...o, height: h, width: w });
  await writeMask(join(root, `${id}_mask.png`), rectMask(h, w, 1, h - 1, 1, w - 1), h, w);
  if (o.labels ?? true) await writeMask(join(root, `${id}_inklabels.png`), rectMask(h, w, 3, 9, 3, 9), h, w);
  writeJson(join(root, 'meta.json'), { uuid: id, type: 'seg' });
}
