/**
 * A small writer for uncompressed greyscale TIFFs (TIFF 6.0 baseline, little-endian "II"), 8- or 16-bit,
 * one strip or several: the format of the Kaggle fragments' layers (docs/data-formats.md: 16-bit grey,
 * uncompressed, single strip) and of scroll segments' layers (8-bit). Layout: 8-byte header, the image
 * directory (IFD) and its out-of-line values, then the pixel strips, so a reader finds every tag in the
 * first few hundred bytes and can read windows with positioned reads.
 */
import { endianness } from 'node:os';
import { writeFileAtomic } from '../../util/atomic.js';

export interface GreyImage {
  width: number;
  height: number;
  /** Row-major pixels: Uint8Array for 8-bit, Uint16Array for 16-bit. */
  data: Uint8Array | Uint16Array;
}

export interface TiffWriteOptions {
  /** Rows per strip; default the whole image in one strip (the Kaggle layers' layout). */
  rowsPerStrip?: number;
}

// Tag numbers (TIFF 6.0, section 8 "Baseline Field Reference").
const ImageWidth = 256;
const ImageLength = 257;
const BitsPerSample = 258;
const Compression = 259;
const PhotometricInterpretation = 262;
const StripOffsets = 273;
const SamplesPerPixel = 277;
const RowsPerStrip = 278;
const StripByteCounts = 279;
const XResolution = 282;
const YResolution = 283;
const PlanarConfiguration = 284;
const ResolutionUnit = 296;
const SampleFormat = 339;

// Field types.
const SHORT = 3;
const LONG = 4;
const RATIONAL = 5;

interface Entry {
  tag: number;
  type: number;
  values: number[];
}

/**
 * Encodes `img` as TIFF; returns the chunks to write in order (header + directory, then the pixel bytes as a
 * view of `img.data` when the host is little-endian, so 16-bit layers are not copied).
 */
export function encodeTiff(img: GreyImage, opts: TiffWriteOptions = {}): Uint8Array[] {
  const { width, height, data } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`encodeTiff: width and height must be positive integers, got ${height}x${width} (HxW)`);
  }
  if (!(data instanceof Uint8Array) && !(data instanceof Uint16Array)) {
    throw new Error('encodeTiff: data must be a Uint8Array (8-bit) or Uint16Array (16-bit)');
  }
  if (data.length !== width * height)
    throw new Error(
      `encodeTiff: data holds ${data.length} pixels, expected ${height}x${width} (HxW) = ${width * height}`,
    );
  const bytesPerPixel = data.BYTES_PER_ELEMENT;
  const rowBytes = width * bytesPerPixel;
  const total = rowBytes * height;
  if (total > 0xffffffff - 4096)
    throw new Error(`encodeTiff: ${total} bytes of pixels do not fit a classic TIFF (4 GiB)`);
  const rps = opts.rowsPerStrip ?? height;
  if (!Number.isInteger(rps) || rps < 1)
    throw new Error(`encodeTiff: rowsPerStrip must be a positive integer, got ${rps}`);
  const strips = Math.ceil(height / rps);

  const entries: Entry[] = [
    { tag: ImageWidth, type: LONG, values: [width] },
    { tag: ImageLength, type: LONG, values: [height] },
    { tag: BitsPerSample, type: SHORT, values: [8 * bytesPerPixel] },
    { tag: Compression, type: SHORT, values: [1] },
    { tag: PhotometricInterpretation, type: SHORT, values: [1] }, // BlackIsZero
    { tag: StripOffsets, type: LONG, values: new Array<number>(strips).fill(0) },
    { tag: SamplesPerPixel, type: SHORT, values: [1] },
    { tag: RowsPerStrip, type: LONG, values: [Math.min(rps, height)] },
    {
      tag: StripByteCounts,
      type: LONG,
      values: Array.from({ length: strips }, (_, s) => Math.min(rps, height - s * rps) * rowBytes),
    },
    { tag: XResolution, type: RATIONAL, values: [1, 1] },
    { tag: YResolution, type: RATIONAL, values: [1, 1] },
    { tag: PlanarConfiguration, type: SHORT, values: [1] },
    { tag: ResolutionUnit, type: SHORT, values: [1] }, // no absolute unit
    { tag: SampleFormat, type: SHORT, values: [1] }, // unsigned integer
  ];
  const size = (e: Entry) => (e.type === SHORT ? 2 : 4) * e.values.length;
  const ifdOffset = 8;
  const ifdSize = 2 + 12 * entries.length + 4;
  // Out-of-line values (more than 4 bytes) follow the directory, word aligned.
  let extra = ifdOffset + ifdSize;
  const extraAt = new Map<Entry, number>();
  for (const e of entries) {
    if (size(e) > 4) {
      extraAt.set(e, extra);
      extra += size(e) + (size(e) % 2);
    }
  }
  // Pixels start 16-byte aligned (keeps 16-bit strips aligned for typed-array views on read).
  const dataStart = Math.ceil(extra / 16) * 16;
  const offsets = entries.find((e) => e.tag === StripOffsets) as Entry;
  for (let s = 0; s < strips; s++) offsets.values[s] = dataStart + s * rps * rowBytes;

  const head = new Uint8Array(dataStart);
  const dv = new DataView(head.buffer);
  head[0] = 0x49;
  head[1] = 0x49; // "II": little-endian
  dv.setUint16(2, 42, true);
  dv.setUint32(4, ifdOffset, true);
  dv.setUint16(ifdOffset, entries.length, true);
  const put = (at: number, type: number, values: number[]) => {
    values.forEach((v, i) => {
      if (type === SHORT) dv.setUint16(at + 2 * i, v, true);
      else dv.setUint32(at + 4 * i, v, true);
    });
  };
  entries.forEach((e, i) => {
    const o = ifdOffset + 2 + 12 * i;
    dv.setUint16(o, e.tag, true);
    dv.setUint16(o + 2, e.type, true);
    // RATIONAL counts pairs of LONGs.
    dv.setUint32(o + 4, e.type === RATIONAL ? e.values.length / 2 : e.values.length, true);
    const at = extraAt.get(e);
    if (at === undefined) put(o + 8, e.type, e.values);
    else {
      dv.setUint32(o + 8, at, true);
      put(at, e.type === RATIONAL ? LONG : e.type, e.values);
    }
  });
  dv.setUint32(ifdOffset + 2 + 12 * entries.length, 0, true); // no next directory

  let pixels = new Uint8Array(data.buffer, data.byteOffset, total);
  if (bytesPerPixel === 2 && endianness() === 'BE') {
    const swapped = new Uint8Array(total);
    for (let i = 0; i < total; i += 2) {
      swapped[i] = pixels[i + 1] as number;
      swapped[i + 1] = pixels[i] as number;
    }
    pixels = swapped;
  }
  return [head, pixels];
}

/** Writes `img` to `path` as an uncompressed grey TIFF, atomically (temp file + rename). */
export async function writeTiff(path: string, img: GreyImage, opts: TiffWriteOptions = {}): Promise<void> {
  await writeFileAtomic(path, encodeTiff(img, opts));
}
