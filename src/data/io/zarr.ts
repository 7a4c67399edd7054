/**
 * Scroll volumes stored as Zarr v2 arrays or OME-Zarr multiscale groups (docs/data-formats.md: uint8,
 * 128^3 chunks, blosc, `/`-nested chunk keys, 6-level pyramid), read with zarrita + @zarrita/storage.
 *
 * The pitfall documented in docs/data-formats.md: a `.zarray` without `dimension_separator` over nested chunk files
 * (`0/0/0`) makes readers look for `0.0.0`, find nothing, and silently return the fill value. Before opening,
 * the array folder is listed and the separator the files actually use wins over the metadata (zarr v2 spec:
 * `dimension_separator` defaults to "."; chunk keys are the indices joined by it).
 */
import FileSystemStore from '@zarrita/storage/fs';
import type { AbsolutePath, AsyncReadable, GetOptions, RangeQuery } from '@zarrita/storage';
import * as zarr from 'zarrita';
import type { PixelArray } from './tiff-strips.js';
import type { PixelDType } from './layer.js';
import { kindOf, listDir, readText } from './files.js';
import { isUrl, joinLocation as join } from '../remote/url.js';
import { HttpZarrStore } from '../remote/zarr-store.js';
import { validateMultiscales, validateZarray } from './zarr-metadata.js';

export interface ZarrVolumeInfo {
  /** The folder given (array or OME-Zarr group). */
  path: string;
  /** The array folder actually read (a pyramid level for OME-Zarr). */
  arrayDir: string;
  /** OME-Zarr level paths, finest first; empty for a plain array. */
  levels: string[];
  level: number;
  shape: [number, number, number];
  chunks: [number, number, number];
  dtype: PixelDType;
  separator: '.' | '/';
  /** True when the separator came from the files on disk rather than from `.zarray`. */
  separatorInferred: boolean;
}

async function readJson(path: string, op: string): Promise<Record<string, unknown> | null> {
  const text = await readText(path);
  if (text === null) return null;
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${op}: ${path} is not valid JSON metadata (${(err as Error).message})`);
  }
}

/** True when `dir` is a Zarr v2 array or an OME-Zarr multiscale group. */
export async function isZarr(dir: string): Promise<boolean> {
  if (await exists(join(dir, '.zarray'))) return true;
  const attrs = await readJson(join(dir, '.zattrs'), 'isZarr').catch(() => null);
  return attrs !== null && Array.isArray(attrs['multiscales']);
}

async function exists(path: string): Promise<boolean> {
  return (await kindOf(path)) !== null;
}

/**
 * The separator the chunk files under `arrayDir` use: '/' if chunks sit in numbered sub-folders, '.' if they
 * are dotted file names, null if there are no chunk files to tell (an empty array: the metadata stands).
 */
export async function detectChunkSeparator(arrayDir: string, ndim: number): Promise<'.' | '/' | null> {
  const names = await listDir(arrayDir);
  const dotted = new RegExp(`^\\d+(\\.\\d+){${ndim - 1}}$`);
  let nested = false;
  let flat = false;
  for (const e of names) {
    if (e.dir && /^\d+$/.test(e.name)) nested = true;
    else if (!e.dir && ndim > 1 && dotted.test(e.name)) flat = true;
  }
  if (nested && !flat) return '/';
  if (flat && !nested) return '.';
  return null;
}

/**
 * Checks a blosc frame's header against the file: blosc 1.x headers are 16 bytes, with the uncompressed size
 * at bytes 4-7 and the whole frame's size at bytes 12-15 (c-blosc README_HEADER.rst). A chunk file cut short
 * otherwise decodes "successfully" into garbage past its end in the WASM decoder.
 */
export function bloscFrameProblem(bytes: Uint8Array, expectedBytes: number): string | null {
  if (bytes.length < 16) return `${bytes.length} bytes, shorter than a blosc header (16)`;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const nbytes = dv.getUint32(4, true);
  const cbytes = dv.getUint32(12, true);
  if (cbytes !== bytes.length)
    return `blosc header announces ${cbytes} bytes, the file has ${bytes.length} (truncated?)`;
  if (nbytes !== expectedBytes) return `blosc header announces ${nbytes} decoded bytes, expected ${expectedBytes}`;
  return null;
}

/**
 * A read-only view of the file store that serves one array's `.zarray` with a corrected separator and
 * checks blosc chunk frames before they reach the decoder.
 */
class CheckedStore implements AsyncReadable {
  constructor(
    private readonly inner: AsyncReadable,
    private readonly zarrayKey: string,
    private readonly patched: Uint8Array,
    private readonly bloscChunkBytes: number | null,
  ) {}
  async get(key: AbsolutePath, opts?: GetOptions): Promise<Uint8Array | undefined> {
    if (key === this.zarrayKey) return this.patched;
    const bytes = await this.inner.get(key, opts);
    if (
      bytes !== undefined &&
      this.bloscChunkBytes !== null &&
      !key.endsWith('/.zarray') &&
      !key.endsWith('/.zattrs') &&
      !key.endsWith('/.zgroup')
    ) {
      const problem = bloscFrameProblem(bytes, this.bloscChunkBytes);
      if (problem !== null) throw new Error(problem);
    }
    return bytes;
  }
  async getRange(key: AbsolutePath, range: RangeQuery, opts?: GetOptions): Promise<Uint8Array | undefined> {
    if (!this.inner.getRange) throw new Error(`readZarr: the store behind ${key} cannot read byte ranges`);
    return this.inner.getRange(key, range, opts);
  }
}

export class ZarrVolume {
  private constructor(
    readonly info: ZarrVolumeInfo,
    private readonly array: zarr.Array<zarr.DataType, AsyncReadable>,
  ) {}

  /** Opens a Zarr v2 array folder, or level `level` of an OME-Zarr group folder. */
  static async open(path: string, opts: { level?: number } = {}): Promise<ZarrVolume> {
    const op = 'openZarr';
    let arrayRel = '';
    let levels: string[] = [];
    const level = opts.level ?? 0;
    if (!(await exists(join(path, '.zarray')))) {
      const attrsPath = join(path, '.zattrs');
      const attrs = await readJson(attrsPath, op);
      if (!Array.isArray(attrs?.['multiscales'])) {
        throw new Error(
          `${op}: ${path} has no .zarray and no OME-Zarr 'multiscales' in .zattrs, expected a Zarr v2 array or OME-Zarr group`,
        );
      }
      levels = validateMultiscales(attrs, attrsPath, op);
      if (!Number.isInteger(level) || level < 0 || level >= levels.length) {
        throw new Error(`${op}: ${path} has pyramid levels 0..${levels.length - 1}, level ${level} requested`);
      }
      arrayRel = levels[level]!;
    } else if (level !== 0) {
      throw new Error(`${op}: ${path} is a single Zarr array (no pyramid), level ${level} requested`);
    }
    const arrayDir = arrayRel ? join(path, arrayRel) : path;
    const zarrayPath = join(arrayDir, '.zarray');
    const meta = await readJson(zarrayPath, op);
    if (meta === null) throw new Error(`${op}: ${zarrayPath} is missing, expected Zarr v2 array metadata`);
    const { shape, chunks, compressor, filters, dtype, dimensionSeparator } = validateZarray(meta, zarrayPath, op);
    const declared = dimensionSeparator ?? '.';
    const onDisk = await detectChunkSeparator(arrayDir, 3);
    const separator = onDisk ?? declared;
    const store = isUrl(path) ? new HttpZarrStore(path) : new FileSystemStore(path);
    const zarrayKey = `/${arrayRel ? `${arrayRel}/` : ''}.zarray` as AbsolutePath;
    const patched = new TextEncoder().encode(JSON.stringify({ ...meta, dimension_separator: separator }));
    const itemSize = dtype.endsWith('2') ? 2 : 1;
    const bloscChunkBytes =
      compressor?.id === 'blosc' && filters === null ? chunks.reduce((a, b) => a * b, 1) * itemSize : null;
    const readable = new CheckedStore(store, zarrayKey, patched, bloscChunkBytes);
    let array: zarr.Array<zarr.DataType, AsyncReadable>;
    try {
      const loc = zarr.root(readable);
      array = await zarr.open.v2(arrayRel ? loc.resolve(arrayRel) : loc, { kind: 'array' });
    } catch (err) {
      throw new Error(`${op}: cannot open ${arrayDir} (${(err as Error).message})`);
    }
    if (array.dtype !== 'uint8' && array.dtype !== 'uint16') {
      throw new Error(`${op}: ${arrayDir} holds ${array.dtype}, expected uint8 or uint16 (unsupported bit depth)`);
    }
    return new ZarrVolume(
      {
        path,
        arrayDir,
        levels,
        level,
        shape,
        chunks,
        dtype: array.dtype,
        separator,
        separatorInferred: onDisk !== null && onDisk !== declared,
      },
      array,
    );
  }

  get shape(): [number, number, number] {
    return this.info.shape;
  }
  get dtype(): PixelDType {
    return this.info.dtype;
  }

  /** The chunk file behind chunk coordinates `c` (for error messages). */
  chunkFile(c: number[]): string {
    return join(this.info.arrayDir, c.join(this.info.separator));
  }

  /** Voxels [z0,z1) x [y0,y1) x [x0,x1) as one row-major [z,y,x] array, assembled chunk by chunk. */
  async readWindow(z0: number, z1: number, y0: number, y1: number, x0: number, x1: number): Promise<PixelArray> {
    const [D, H, W] = this.info.shape;
    const lo = [z0, y0, x0];
    const hi = [z1, y1, x1];
    if (
      lo.some((v, i) => !Number.isInteger(v) || !Number.isInteger(hi[i]) || v < 0 || v >= hi[i]!) ||
      z1 > D ||
      y1 > H ||
      x1 > W
    ) {
      throw new Error(
        `readWindow: [${z0}:${z1}, ${y0}:${y1}, ${x0}:${x1}] is not a non-empty window inside ${this.info.arrayDir} (shape ${D}x${H}x${W})`,
      );
    }
    const [oz, oy, ox] = [z1 - z0, y1 - y0, x1 - x0];
    const out = this.info.dtype === 'uint16' ? new Uint16Array(oz * oy * ox) : new Uint8Array(oz * oy * ox);
    const cs = this.info.chunks;
    const ranges = [0, 1, 2].map((d) => [Math.floor(lo[d]! / cs[d]!), Math.floor((hi[d]! - 1) / cs[d]!)] as const);
    const coords: number[][] = [];
    for (let a = ranges[0]![0]; a <= ranges[0]![1]; a++) {
      for (let b = ranges[1]![0]; b <= ranges[1]![1]; b++) {
        for (let c = ranges[2]![0]; c <= ranges[2]![1]; c++) coords.push([a, b, c]);
      }
    }
    // A few chunks in flight at once: enough to overlap file reads with (synchronous, WASM) blosc decoding.
    const inFlight = 4;
    for (let i = 0; i < coords.length; i += inFlight) {
      await Promise.all(
        coords.slice(i, i + inFlight).map(async (c) => {
          let chunk: zarr.Chunk<zarr.DataType>;
          try {
            chunk = await this.array.getChunk(c);
          } catch (err) {
            throw new Error(
              `readZarr: chunk ${c.join(',')} of ${this.info.arrayDir} failed to decode (${(err as Error).message}); expected a ${cs.join('x')} ${this.info.dtype} chunk in ${this.chunkFile(c)}`,
            );
          }
          const data = chunk.data as PixelArray;
          const [s0, s1, s2] = chunk.stride as [number, number, number];
          if (data.length !== cs[0] * cs[1] * cs[2]) {
            throw new Error(
              `readZarr: chunk ${c.join(',')} of ${this.info.arrayDir} failed to decode (${data.length} values); expected a ${cs.join('x')} ${this.info.dtype} chunk in ${this.chunkFile(c)}`,
            );
          }
          const zs = Math.max(z0, c[0]! * cs[0]);
          const ze = Math.min(z1, (c[0]! + 1) * cs[0]);
          const ys = Math.max(y0, c[1]! * cs[1]);
          const ye = Math.min(y1, (c[1]! + 1) * cs[1]);
          const xs = Math.max(x0, c[2]! * cs[2]);
          const xe = Math.min(x1, (c[2]! + 1) * cs[2]);
          for (let z = zs; z < ze; z++) {
            for (let y = ys; y < ye; y++) {
              const dst = ((z - z0) * oy + (y - y0)) * ox + (xs - x0);
              const src = (z - c[0]! * cs[0]) * s0 + (y - c[1]! * cs[1]) * s1 + (xs - c[2]! * cs[2]) * s2;
              if (s2 === 1) out.set(data.subarray(src, src + (xe - xs)), dst);
              else for (let x = 0; x < xe - xs; x++) out[dst + x] = data[src + x * s2]!;
            }
          }
        }),
      );
    }
    return out;
  }
}
