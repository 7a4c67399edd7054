/**
 * Whole-image decoding through sharp (libvips): PNG, JPEG and every TIFF encoding the positioned-read path
 * does not handle (LZW, deflate, tiles). sharp was the fastest decoder measured here (docs/engine.md:
 * 66 ms uncompressed / 200 ms LZW for 4000x4000 uint16, vs 0.5-7 s for geotiff/utif2/pngjs); 16-bit output
 * needs `.toColourspace('grey16').raw({ depth: 'ushort' })`. An http(s) URL is fetched whole (and cached)
 * and decoded from memory.
 */
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { fileInput } from './files.js';
import type { PixelArray } from './tiff-strips.js';

export interface ImageInfo {
  path: string;
  width: number;
  height: number;
  /** Sample bits as decoded: 8 or 16 (other depths are rejected). */
  bits: 8 | 16;
  channels: number;
  hasAlpha: boolean;
  format: string;
}

export interface DecodedImage {
  path: string;
  width: number;
  height: number;
  bits: 8 | 16;
  /** Row-major single-channel pixels. */
  data: PixelArray;
}

/** libvips band formats that map onto the two supported depths. */
function bitsOfDepth(depth: string | undefined): 8 | 16 | null {
  if (depth === 'uchar') return 8;
  if (depth === 'ushort') return 16;
  return null;
}

function describeSharpError(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();
}

/** Size, depth and channels of an image, from its header only. */
export async function readImageInfo(path: string, op = 'readImageInfo'): Promise<ImageInfo> {
  let meta: Metadata;
  const input = await fileInput(path, op);
  try {
    meta = await sharp(input, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new Error(
      `${op}: cannot read ${path} (${describeSharpError(err)}); expected a readable TIFF, PNG or JPEG image`,
    );
  }
  const bits = bitsOfDepth(meta.depth);
  if (bits === null) {
    throw new Error(
      `${op}: ${path} has unsupported bit depth (${meta.depth ?? 'unknown'} samples), expected 8- or 16-bit unsigned`,
    );
  }
  if (meta.width === undefined || meta.height === undefined)
    throw new Error(`${op}: ${path} has no image size in its header`);
  return {
    path,
    width: meta.width,
    height: meta.height,
    bits,
    channels: meta.channels ?? 1,
    hasAlpha: meta.hasAlpha ?? false,
    format: meta.format ?? 'unknown',
  };
}

/**
 * The raw pixels of the image `info` describes as one grey channel at its own bit depth (alpha dropped);
 * a decoding error names `op`, the file and `expected`.
 */
async function decodeToGrey(
  info: ImageInfo,
  op: string,
  expected: string,
): Promise<{ data: Buffer; info: OutputInfo }> {
  const input = await fileInput(info.path, op);
  try {
    // failOn 'truncated' (not the default 'warning', which rejects some valid PNGs with ancillary-chunk warnings)
    // still rejects files cut short, which libvips would otherwise return partly black.
    let pipe = sharp(input, { limitInputPixels: false, failOn: 'truncated' });
    if (info.hasAlpha) pipe = pipe.removeAlpha();
    return await (info.bits === 16
      ? pipe.toColourspace('grey16').raw({ depth: 'ushort' })
      : pipe.toColourspace('b-w').raw({ depth: 'uchar' })
    ).toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new Error(`${op}: cannot decode ${info.path} (${describeSharpError(err)}); expected ${expected}`);
  }
}

/**
 * Decodes a single-channel grey image at its own bit depth (grey + alpha: alpha dropped).
 * Colour images are refused: a layer must be one grey channel, and silently mixing RGB would hide a wrong file.
 */
export async function decodeGrey(path: string, op = 'decodeGrey'): Promise<DecodedImage> {
  const info = await readImageInfo(path, op);
  const colour = info.channels - (info.hasAlpha ? 1 : 0);
  if (colour !== 1)
    throw new Error(`${op}: ${path} has ${info.channels} channels, expected a single-channel grey image`);
  const out = await decodeToGrey(info, op, `a readable ${info.bits}-bit grey ${info.format.toUpperCase()}`);
  const n = info.width * info.height;
  if (
    out.info.width !== info.width ||
    out.info.height !== info.height ||
    out.info.channels !== 1 ||
    out.data.byteLength !== n * (info.bits / 8)
  ) {
    throw new Error(
      `${op}: ${path} decoded to ${out.info.height}x${out.info.width}x${out.info.channels} (HxWxC, ${out.data.byteLength} bytes), expected ${info.height}x${info.width}x1 at ${info.bits} bits`,
    );
  }
  // sharp's Buffers may come from a pool at an odd offset; copy only when a 16-bit view would be misaligned.
  let data: PixelArray;
  if (info.bits === 16) {
    const aligned = out.data.byteOffset % 2 === 0 ? out.data : Buffer.from(out.data);
    data = new Uint16Array(aligned.buffer, aligned.byteOffset, n);
  } else {
    data = new Uint8Array(out.data.buffer, out.data.byteOffset, n);
  }
  return { path, width: info.width, height: info.height, bits: info.bits, data };
}

/**
 * Decodes a mask or label image as {0,1}: a pixel is set when its grey value is > 0 (Kaggle labels come as
 * {0,1} or {0,255}: docs/data-formats.md). Colour masks are converted to grey first; alpha is dropped.
 */
export async function decodeBinary(
  path: string,
  op = 'decodeBinary',
): Promise<{ width: number; height: number; data: Uint8Array }> {
  const info = await readImageInfo(path, op);
  const out = await decodeToGrey(info, op, 'a readable PNG/TIFF mask');
  const n = info.width * info.height;
  const data = new Uint8Array(n);
  if (info.bits === 16) {
    for (let i = 0; i < n; i++) data[i] = (out.data[2 * i]! | out.data[2 * i + 1]!) !== 0 ? 1 : 0;
  } else {
    for (let i = 0; i < n; i++) data[i] = out.data[i]! > 0 ? 1 : 0;
  }
  return { width: info.width, height: info.height, data };
}

/**
 * A byte-bounded LRU cache of decoded layers, so that random windows of compressed layers decode each layer
 * once rather than once per window. Concurrent requests for one file share a single decode.
 */
export class DecodeCache {
  private readonly entries = new Map<string, Promise<DecodedImage>>();
  private readonly sizes = new Map<string, number>();
  private bytes = 0;

  constructor(readonly maxBytes = 512 * 1024 * 1024) {}

  get usedBytes(): number {
    return this.bytes;
  }

  async get(path: string, op = 'DecodeCache.get'): Promise<DecodedImage> {
    const hit = this.entries.get(path);
    if (hit !== undefined) {
      // Re-insert to mark as most recently used (a Map iterates in insertion order).
      this.entries.delete(path);
      this.entries.set(path, hit);
      return hit;
    }
    const pending = decodeGrey(path, op);
    this.entries.set(path, pending);
    let img: DecodedImage;
    try {
      img = await pending;
    } catch (err) {
      this.entries.delete(path);
      throw err;
    }
    if (this.entries.get(path) === pending && !this.sizes.has(path)) {
      this.sizes.set(path, img.data.byteLength);
      this.bytes += img.data.byteLength;
      this.evict(path);
    }
    return img;
  }

  private evict(keep: string): void {
    for (const key of this.entries.keys()) {
      if (this.bytes <= this.maxBytes) break;
      if (key === keep) continue;
      const size = this.sizes.get(key);
      if (size === undefined) continue; // still decoding
      this.entries.delete(key);
      this.sizes.delete(key);
      this.bytes -= size;
    }
  }

  clear(): void {
    this.entries.clear();
    this.sizes.clear();
    this.bytes = 0;
  }
}
