/**
 * A small TIFF directory (IFD) parser: enough of TIFF 6.0 (Adobe, 1992; sections 2 "TIFF Structure" and
 * 8 "Baseline Field Reference") and BigTIFF to learn where a layer's pixels lie, so that uncompressed strip
 * layers - the Kaggle fragments' format (docs/data-formats.md) - can be read a window at a time with
 * positioned reads instead of decoding ~100 MB per layer (docs/engine.md: 1.1 ms vs ~110 ms).
 * Only the first image directory is read: a layer is one page.
 */
import { openByteSource, type ByteSource } from './files.js';

/** The tags this reader uses (TIFF 6.0 numbering). */
const TAG = {
  ImageWidth: 256,
  ImageLength: 257,
  BitsPerSample: 258,
  Compression: 259,
  Photometric: 262,
  StripOffsets: 273,
  SamplesPerPixel: 277,
  RowsPerStrip: 278,
  StripByteCounts: 279,
  PlanarConfiguration: 284,
  Predictor: 317,
  TileWidth: 322,
  TileLength: 323,
  TileOffsets: 324,
  TileByteCounts: 325,
  SampleFormat: 339,
} as const;

/** Byte size of each TIFF field type (1 BYTE .. 12 DOUBLE from TIFF 6.0; 16-18 LONG8/SLONG8/IFD8 from BigTIFF). */
const TYPE_SIZE: Readonly<Record<number, number>> = {
  1: 1,
  2: 1,
  3: 2,
  4: 4,
  5: 8,
  6: 1,
  7: 1,
  8: 2,
  9: 4,
  10: 8,
  11: 4,
  12: 8,
  13: 4,
  16: 8,
  17: 8,
  18: 8,
};

/** Compression codes seen in scroll data (TIFF 6.0 and the Adobe/libtiff registry). */
export const TIFF_COMPRESSION: Readonly<Record<number, string>> = {
  1: 'none',
  2: 'ccitt-rle',
  5: 'lzw',
  7: 'jpeg',
  8: 'deflate',
  32773: 'packbits',
  32946: 'deflate',
  34887: 'lerc',
  50000: 'zstd',
};

export interface TiffStrips {
  kind: 'strips';
  rowsPerStrip: number;
  offsets: number[];
  byteCounts: number[];
}

export interface TiffTiles {
  kind: 'tiles';
  tileWidth: number;
  tileHeight: number;
  offsets: number[];
  byteCounts: number[];
}

export interface TiffInfo {
  path: string;
  fileSize: number;
  littleEndian: boolean;
  bigTiff: boolean;
  width: number;
  height: number;
  bitsPerSample: number;
  samplesPerPixel: number;
  /** 1 unsigned integer, 2 signed integer, 3 IEEE float (TIFF 6.0 section 19). */
  sampleFormat: number;
  compression: number;
  /** 0 WhiteIsZero, 1 BlackIsZero, 2 RGB, ... */
  photometric: number;
  planarConfiguration: number;
  predictor: number;
  layout: TiffStrips | TiffTiles;
}

/** Reads `length` bytes at `position`; throws naming the file when the file ends first. */
async function readExact(
  src: ByteSource,
  path: string,
  position: number,
  length: number,
  what: string,
): Promise<Buffer> {
  const bytes = await src.read(position, length);
  if (bytes.length !== length) {
    throw new Error(
      `readTiffInfo: ${path} is truncated: ${what} needs bytes ${position}..${position + length}, file ` +
        `ends at ${position + bytes.length}`,
    );
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

interface Entry {
  tag: number;
  type: number;
  count: number;
  valueBytes: Buffer;
}

/**
 * Parses the header and first IFD of the TIFF at `path` (a local path or an http(s) URL).
 * Throws a clear Error (naming the file) for non-TIFF input, truncation, or missing required tags.
 */
export async function readTiffInfo(path: string): Promise<TiffInfo> {
  const fh = await openByteSource(path, 'readTiffInfo');
  try {
    const fileSize = fh.size;
    if (fileSize < 8)
      throw new Error(`readTiffInfo: ${path} has ${fileSize} bytes, too short for a TIFF header (expected at least 8)`);
    const head = await readExact(fh, path, 0, Math.min(16, fileSize), 'the header');
    const order = head.toString('latin1', 0, 2);
    if (order !== 'II' && order !== 'MM') {
      const hex = [...head.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
      throw new Error(
        `readTiffInfo: ${path} is not a TIFF (starts with bytes ${hex}, expected "II" or "MM" = 49 49 or 4d 4d)`,
      );
    }
    const le = order === 'II';
    const u16 = (b: Buffer, o: number): number => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const u64 = (b: Buffer, o: number): number => {
      const v = le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o);
      if (v > BigInt(Number.MAX_SAFE_INTEGER))
        throw new Error(`readTiffInfo: ${path} has an offset beyond 2^53 (${v})`);
      return Number(v);
    };
    const magic = u16(head, 2);
    let bigTiff: boolean;
    let ifdOffset: number;
    if (magic === 42) {
      bigTiff = false;
      ifdOffset = u32(head, 4);
    } else if (magic === 43) {
      if (head.length < 16) throw new Error(`readTiffInfo: ${path} is truncated inside its BigTIFF header`);
      if (u16(head, 4) !== 8)
        throw new Error(`readTiffInfo: ${path} is a BigTIFF with offset size ${u16(head, 4)}, expected 8`);
      bigTiff = true;
      ifdOffset = u64(head, 8);
    } else {
      throw new Error(`readTiffInfo: ${path} has TIFF version ${magic}, expected 42 (TIFF) or 43 (BigTIFF)`);
    }
    if (ifdOffset < 8 || ifdOffset >= fileSize) {
      throw new Error(
        `readTiffInfo: ${path} is truncated or corrupt: its first directory is at byte ${ifdOffset}, the file has ${fileSize} bytes`,
      );
    }
    const countSize = bigTiff ? 8 : 2;
    const entrySize = bigTiff ? 20 : 12;
    const inlineSize = bigTiff ? 8 : 4;
    const countBuf = await readExact(fh, path, ifdOffset, countSize, 'the directory entry count');
    const nEntries = bigTiff ? u64(countBuf, 0) : u16(countBuf, 0);
    if (nEntries === 0 || nEntries > 4096)
      throw new Error(`readTiffInfo: ${path} has a directory of ${nEntries} entries, expected 1..4096`);
    const table = await readExact(fh, path, ifdOffset + countSize, nEntries * entrySize, 'the image directory');

    const entries = new Map<number, Entry>();
    for (let i = 0; i < nEntries; i++) {
      const o = i * entrySize;
      const tag = u16(table, o);
      const type = u16(table, o + 2);
      const count = bigTiff ? u64(table, o + 4) : u32(table, o + 4);
      const size = TYPE_SIZE[type];
      if (size === undefined) continue; // unknown field types are skipped, as TIFF 6.0 section 2 asks readers to
      const total = size * count;
      const valueAt = o + (bigTiff ? 12 : 8);
      let valueBytes: Buffer;
      if (total <= inlineSize) valueBytes = table.subarray(valueAt, valueAt + total);
      else {
        const at = bigTiff ? u64(table, valueAt) : u32(table, valueAt);
        if (!(Object.values(TAG) as number[]).includes(tag)) continue; // do not fetch tags we never use
        valueBytes = await readExact(fh, path, at, total, `tag ${tag}'s ${count} values`);
      }
      entries.set(tag, { tag, type, count, valueBytes });
    }

    const values = (tag: number): number[] | undefined => {
      const e = entries.get(tag);
      if (!e) return undefined;
      const out: number[] = [];
      const size = TYPE_SIZE[e.type] ?? 0;
      for (let i = 0; i < e.count; i++) {
        const o = i * size;
        switch (e.type) {
          case 1:
          case 7:
            out.push(e.valueBytes.readUInt8(o));
            break;
          case 3:
            out.push(u16(e.valueBytes, o));
            break;
          case 4:
          case 13:
            out.push(u32(e.valueBytes, o));
            break;
          case 16:
          case 18:
            out.push(u64(e.valueBytes, o));
            break;
          default:
            throw new Error(
              `readTiffInfo: ${path} stores tag ${tag} as field type ${e.type}, expected an unsigned integer type`,
            );
        }
      }
      return out;
    };
    const one = (tag: number, name: string, fallback?: number): number => {
      const v = values(tag);
      if (v === undefined || v.length === 0) {
        if (fallback === undefined) throw new Error(`readTiffInfo: ${path} lacks the required ${name} tag (${tag})`);
        return fallback;
      }
      return v[0]!;
    };

    const width = one(TAG.ImageWidth, 'ImageWidth');
    const height = one(TAG.ImageLength, 'ImageLength');
    const samplesPerPixel = one(TAG.SamplesPerPixel, 'SamplesPerPixel', 1);
    const bitsAll = values(TAG.BitsPerSample) ?? [1];
    const bitsPerSample = bitsAll[0]!;
    if (bitsAll.some((b) => b !== bitsPerSample)) {
      throw new Error(`readTiffInfo: ${path} mixes bit depths per sample (${bitsAll.join(', ')})`);
    }
    const sampleFormat = one(TAG.SampleFormat, 'SampleFormat', 1);
    const compression = one(TAG.Compression, 'Compression', 1);
    const photometric = one(TAG.Photometric, 'PhotometricInterpretation', 1);
    const planarConfiguration = one(TAG.PlanarConfiguration, 'PlanarConfiguration', 1);
    const predictor = one(TAG.Predictor, 'Predictor', 1);
    if (width <= 0 || height <= 0)
      throw new Error(`readTiffInfo: ${path} is ${height}x${width} (HxW), expected a non-empty image`);

    let layout: TiffStrips | TiffTiles;
    if (entries.has(TAG.TileOffsets)) {
      const tileWidth = one(TAG.TileWidth, 'TileWidth');
      const tileHeight = one(TAG.TileLength, 'TileLength');
      const offsets = values(TAG.TileOffsets) ?? [];
      const byteCounts = values(TAG.TileByteCounts);
      if (byteCounts === undefined) throw new Error(`readTiffInfo: ${path} has TileOffsets but no TileByteCounts`);
      layout = { kind: 'tiles', tileWidth, tileHeight, offsets, byteCounts };
    } else {
      const offsets = values(TAG.StripOffsets);
      if (offsets === undefined)
        throw new Error(`readTiffInfo: ${path} has neither StripOffsets nor TileOffsets: no pixel data`);
      // RowsPerStrip defaults to 2^32-1, i.e. one strip (TIFF 6.0, RowsPerStrip).
      const rowsPerStrip = Math.min(one(TAG.RowsPerStrip, 'RowsPerStrip', 0xffffffff), height);
      let byteCounts = values(TAG.StripByteCounts);
      if (byteCounts === undefined) {
        // Some old writers omit StripByteCounts for uncompressed data; it follows from the geometry.
        if (compression !== 1) throw new Error(`readTiffInfo: ${path} is compressed but lacks StripByteCounts`);
        const rowBytes = Math.ceil((width * samplesPerPixel * bitsPerSample) / 8);
        byteCounts = offsets.map((_, s) => Math.min(rowsPerStrip, height - s * rowsPerStrip) * rowBytes);
      }
      layout = { kind: 'strips', rowsPerStrip, offsets, byteCounts };
    }
    const expectedChunks =
      layout.kind === 'strips'
        ? Math.ceil(height / layout.rowsPerStrip)
        : Math.ceil(height / layout.tileHeight) * Math.ceil(width / layout.tileWidth);
    const perPlane = planarConfiguration === 2 ? samplesPerPixel : 1;
    if (layout.offsets.length < expectedChunks * perPlane || layout.byteCounts.length !== layout.offsets.length) {
      throw new Error(
        `readTiffInfo: ${path} lists ${layout.offsets.length} ${layout.kind} offsets and ${layout.byteCounts.length} byte counts, expected ${expectedChunks * perPlane} of each for a ${height}x${width} (HxW) image`,
      );
    }
    for (let i = 0; i < layout.offsets.length; i++) {
      const end = layout.offsets[i]! + layout.byteCounts[i]!;
      if (end > fileSize) {
        throw new Error(
          `readTiffInfo: ${path} is truncated: ${layout.kind === 'strips' ? 'strip' : 'tile'} ${i} ends at byte ${end}, file has ${fileSize} bytes`,
        );
      }
    }
    return {
      path,
      fileSize,
      littleEndian: le,
      bigTiff,
      width,
      height,
      bitsPerSample,
      samplesPerPixel,
      sampleFormat,
      compression,
      photometric,
      planarConfiguration,
      predictor,
      layout,
    };
  } finally {
    await fh.close();
  }
}

/** Why `info` cannot be read with positioned reads, or null when it can (uncompressed grey 8/16-bit strips). */
export function positionedReadBlocker(info: TiffInfo): string | null {
  if (info.compression !== 1) return `compression ${TIFF_COMPRESSION[info.compression] ?? info.compression}`;
  if (info.layout.kind !== 'strips') return 'tiled layout';
  if (info.samplesPerPixel !== 1) return `${info.samplesPerPixel} samples per pixel`;
  if (info.bitsPerSample !== 8 && info.bitsPerSample !== 16) return `${info.bitsPerSample}-bit samples`;
  if (info.sampleFormat !== 1) return `sample format ${info.sampleFormat}`;
  if (info.photometric !== 1) return `photometric interpretation ${info.photometric}`;
  return null;
}

/** Why `info` is not an image this project can use as a layer (8/16-bit unsigned single-channel), or null. */
export function unsupportedLayerReason(info: TiffInfo): string | null {
  if (info.sampleFormat !== 1) {
    return `sample format ${info.sampleFormat === 3 ? 'float' : info.sampleFormat === 2 ? 'signed integer' : info.sampleFormat}, expected unsigned integer`;
  }
  if (info.bitsPerSample !== 8 && info.bitsPerSample !== 16)
    return `unsupported bit depth ${info.bitsPerSample}, expected 8 or 16`;
  if (info.samplesPerPixel !== 1) return `${info.samplesPerPixel} samples per pixel, expected single-channel grey`;
  return null;
}
