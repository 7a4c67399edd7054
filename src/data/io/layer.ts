/**
 * One layer file (a z-slice) behind a common interface: uncompressed strip TIFFs are read with positioned
 * reads, everything else (LZW/deflate/tiled TIFF, PNG, JPEG) is decoded whole through sharp and kept in a
 * shared LRU cache (issue: "other encodings decode through sharp with a small LRU cache of decoded layers").
 * A layer at an http(s) URL is read the same way: strip TIFFs with Range requests, other files fetched whole.
 */
import { extname } from 'node:path';
import { RemoteStripReader } from '../remote/strips.js';
import { isUrl } from '../remote/url.js';
import { decodeGrey, type DecodeCache, readImageInfo } from './image.js';
import { positionedReadBlocker, readTiffInfo, unsupportedLayerReason } from './tiff.js';
import { TiffStripReader, type PixelArray } from './tiff-strips.js';

export type PixelDType = 'uint8' | 'uint16';

export interface LayerSource {
  readonly path: string;
  readonly width: number;
  readonly height: number;
  readonly dtype: PixelDType;
  /** 'positioned': windows read from disk; 'decode': whole layer decoded (and cached). */
  readonly method: 'positioned' | 'decode';
  /** Pixels of rows [y0,y1) x columns [x0,x1), row-major. */
  readWindow(y0: number, y1: number, x0: number, x1: number): Promise<PixelArray>;
  /** The whole layer, without going through (or filling) the decode cache. */
  readAll(): Promise<PixelArray>;
  close(): void;
}

export const LAYER_EXTENSIONS = ['.tif', '.tiff', '.png', '.jpg', '.jpeg'] as const;

function checkWindow(path: string, h: number, w: number, y0: number, y1: number, x0: number, x1: number): void {
  if (
    !(Number.isInteger(y0) && Number.isInteger(y1) && Number.isInteger(x0) && Number.isInteger(x1)) ||
    y0 < 0 ||
    x0 < 0 ||
    y1 > h ||
    x1 > w ||
    y0 >= y1 ||
    x0 >= x1
  ) {
    throw new Error(
      `readWindow: rows ${y0}..${y1} x columns ${x0}..${x1} is not a non-empty window inside ${path} (${h}x${w})`,
    );
  }
}

/** Copies a window out of a whole decoded image. */
export function cropPixels(src: PixelArray, width: number, y0: number, y1: number, x0: number, x1: number): PixelArray {
  const w = x1 - x0;
  const out = src instanceof Uint16Array ? new Uint16Array((y1 - y0) * w) : new Uint8Array((y1 - y0) * w);
  for (let y = y0; y < y1; y++) out.set(src.subarray(y * width + x0, y * width + x1), (y - y0) * w);
  return out;
}

/** A strip reader over a file or a URL (local reads are synchronous, remote ones are not). */
interface StripReader {
  readonly path: string;
  readonly width: number;
  readonly height: number;
  readonly dtype: PixelDType;
  readWindow(y0: number, y1: number, x0: number, x1: number): PixelArray | Promise<PixelArray>;
  close(): void;
}

class PositionedLayer implements LayerSource {
  readonly method = 'positioned' as const;
  constructor(private readonly reader: StripReader) {}
  get path(): string {
    return this.reader.path;
  }
  get width(): number {
    return this.reader.width;
  }
  get height(): number {
    return this.reader.height;
  }
  get dtype(): PixelDType {
    return this.reader.dtype;
  }
  async readWindow(y0: number, y1: number, x0: number, x1: number): Promise<PixelArray> {
    return this.reader.readWindow(y0, y1, x0, x1);
  }
  async readAll(): Promise<PixelArray> {
    return this.reader.readWindow(0, this.height, 0, this.width);
  }
  close(): void {
    this.reader.close();
  }
}

class DecodedLayer implements LayerSource {
  readonly method = 'decode' as const;
  constructor(
    readonly path: string,
    readonly width: number,
    readonly height: number,
    readonly dtype: PixelDType,
    private readonly cache: DecodeCache,
  ) {}
  async readWindow(y0: number, y1: number, x0: number, x1: number): Promise<PixelArray> {
    checkWindow(this.path, this.height, this.width, y0, y1, x0, x1);
    const img = await this.cache.get(this.path, 'readLayer');
    this.checkDecoded(img.width, img.height, img.bits);
    return cropPixels(img.data, img.width, y0, y1, x0, x1);
  }
  async readAll(): Promise<PixelArray> {
    const img = await decodeGrey(this.path, 'readLayer');
    this.checkDecoded(img.width, img.height, img.bits);
    return img.data;
  }
  private checkDecoded(w: number, h: number, bits: number): void {
    if (w !== this.width || h !== this.height || bits !== (this.dtype === 'uint16' ? 16 : 8)) {
      throw new Error(
        `readLayer: ${this.path} decoded as ${h}x${w} ${bits}-bit, expected ${this.height}x${this.width} ${this.dtype} as its header said (file changed?)`,
      );
    }
  }
  close(): void {
    /* nothing held open: decoded pixels live in the shared cache */
  }
}

/**
 * Opens a layer file, choosing positioned reads where the file allows them. Throws a clear Error for
 * unreadable files, unsupported bit depths and colour images.
 */
export async function openLayer(path: string, cache: DecodeCache): Promise<LayerSource> {
  const ext = extname(path).toLowerCase();
  if (ext === '.tif' || ext === '.tiff') {
    const info = await readTiffInfo(path);
    const unsupported = unsupportedLayerReason(info);
    if (unsupported !== null) throw new Error(`readLayer: ${path} has ${unsupported}`);
    if (positionedReadBlocker(info) === null) {
      return new PositionedLayer(
        isUrl(path) ? await RemoteStripReader.open(path, info) : await TiffStripReader.open(path, info),
      );
    }
    // Compressed or tiled: sharp decodes it (checked here so that an undecodable file fails at open, not mid-run).
    const meta = await readImageInfo(path, 'readLayer');
    if (meta.width !== info.width || meta.height !== info.height) {
      throw new Error(
        `readLayer: ${path} header says ${info.height}x${info.width} but sharp sees ${meta.height}x${meta.width}`,
      );
    }
    return new DecodedLayer(path, info.width, info.height, info.bitsPerSample === 16 ? 'uint16' : 'uint8', cache);
  }
  if ((LAYER_EXTENSIONS as readonly string[]).includes(ext)) {
    const meta = await readImageInfo(path, 'readLayer');
    const colour = meta.channels - (meta.hasAlpha ? 1 : 0);
    if (colour !== 1)
      throw new Error(`readLayer: ${path} has ${meta.channels} channels, expected a single-channel grey image`);
    return new DecodedLayer(path, meta.width, meta.height, meta.bits === 16 ? 'uint16' : 'uint8', cache);
  }
  throw new Error(`readLayer: ${path} has extension '${ext}', expected one of ${LAYER_EXTENSIONS.join(', ')}`);
}
