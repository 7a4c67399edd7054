/**
 * Just enough ZIP for PyTorch's checkpoint container (APPNOTE.TXT, PKWARE's .ZIP File Format Specification,
 * sections 4.3-4.5; zip64 per 4.3.14-4.3.15 and 4.5.3).
 *
 * Reading goes through the central directory (torch 1.13 writes its local headers with zero sizes and a data
 * descriptor), accepts stored and deflated entries, aligned or not, and checks every entry's CRC-32, so a
 * flipped bit anywhere in an entry is reported instead of loaded.
 *
 * Writing is our own rather than fflate's: PyTorch stores each record uncompressed with its data starting on a
 * 64-byte boundary (caffe2/serialize/inline_container.cc pads the local header's extra field with an 'FB'
 * field of 'Z's), which lets readers map tensors in place; fflate's zip writer has no way to place data at an
 * alignment. Data chunks are passed through untouched, so a 200 MB checkpoint is never copied to be written.
 */
import * as zlib from 'node:zlib';

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;

// --- CRC-32 (ISO 3309, the polynomial of APPNOTE 4.4.7). Node >= 20.15 has a native one; older Nodes use a table.
let table: Uint32Array | undefined;
function crc32Js(data: Uint8Array): number {
  if (table === undefined) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
const nativeCrc = (zlib as { crc32?: (d: Uint8Array) => number }).crc32;
export function crc32(data: Uint8Array): number {
  return nativeCrc !== undefined ? nativeCrc(data) >>> 0 : crc32Js(data);
}

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflated. */
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

/** A ZIP archive held in memory; entries are located from the central directory and read on demand. */
export class ZipReader {
  readonly entries: ZipEntry[] = [];
  private readonly byName = new Map<string, ZipEntry>();
  private readonly dv: DataView;

  constructor(
    readonly bytes: Uint8Array,
    readonly where: string,
  ) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.readCentralDirectory();
  }

  private fail(message: string): never {
    throw new Error(`readZip(${this.where}): ${message}`);
  }

  private u16(at: number): number {
    return this.dv.getUint16(at, true);
  }
  private u32(at: number): number {
    return this.dv.getUint32(at, true);
  }
  private u64(at: number, what: string): number {
    const v = this.dv.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} ${v} is impossible`);
    return Number(v);
  }
  private check(at: number, n: number, what: string): void {
    if (at < 0 || n < 0 || at + n > this.bytes.length)
      this.fail(
        `truncated or corrupt: ${what} (bytes ${at}..${at + n}) lies outside the ${this.bytes.length}-byte file`,
      );
  }

  private findEocd(): number {
    const len = this.bytes.length;
    if (len < 22) this.fail(`truncated: ${len} bytes is too short for a zip end record`);
    const lowest = Math.max(0, len - 22 - U16_MAX);
    for (let at = len - 22; at >= lowest; at--) {
      if (this.u32(at) === SIG_EOCD && at + 22 + this.u16(at + 20) <= len) return at;
    }
    return this.fail('no end-of-central-directory record (truncated or not a zip file)');
  }

  private readCentralDirectory(): void {
    const eocd = this.findEocd();
    let count = this.u16(eocd + 10);
    let cdSize = this.u32(eocd + 12);
    let cdOffset = this.u32(eocd + 16);
    const loc = eocd - 20;
    if (loc >= 0 && this.u32(loc) === SIG_ZIP64_LOCATOR) {
      const z = this.u64(loc + 8, 'zip64 end record offset');
      this.check(z, 56, 'zip64 end record');
      if (this.u32(z) !== SIG_ZIP64_EOCD) this.fail(`bad zip64 end record signature at byte ${z}`);
      count = this.u64(z + 32, 'zip64 entry count');
      cdSize = this.u64(z + 40, 'zip64 central directory size');
      cdOffset = this.u64(z + 48, 'zip64 central directory offset');
    }
    this.check(cdOffset, cdSize, 'central directory');
    let at = cdOffset;
    for (let i = 0; i < count; i++) {
      this.check(at, 46, `central directory entry ${i}`);
      if (this.u32(at) !== SIG_CENTRAL)
        this.fail(`bad central directory entry signature at byte ${at} (entry ${i} of ${count})`);
      const flags = this.u16(at + 8);
      const nameLen = this.u16(at + 28);
      const extraLen = this.u16(at + 30);
      const commentLen = this.u16(at + 32);
      this.check(at + 46, nameLen + extraLen + commentLen, `central directory entry ${i}`);
      const nameBytes = this.bytes.subarray(at + 46, at + 46 + nameLen);
      const name = new TextDecoder(flags & 0x800 ? 'utf-8' : 'latin1').decode(nameBytes);
      const entry: ZipEntry = {
        name,
        flags,
        method: this.u16(at + 10),
        crc: this.u32(at + 16),
        compressedSize: this.u32(at + 20),
        size: this.u32(at + 24),
        localHeaderOffset: this.u32(at + 42),
      };
      this.applyZip64Extra(entry, at + 46 + nameLen, extraLen);
      this.entries.push(entry);
      this.byName.set(name, entry);
      at += 46 + nameLen + extraLen + commentLen;
    }
  }

  /** Zip64 extended information (header id 1): 8-byte values for the fields that hold 0xFFFFFFFF, in order. */
  private applyZip64Extra(e: ZipEntry, start: number, len: number): void {
    let p = start;
    while (p + 4 <= start + len) {
      const id = this.u16(p);
      const size = this.u16(p + 2);
      if (p + 4 + size > start + len) this.fail(`entry '${e.name}': extra field overruns its header`);
      if (id === 1) {
        let q = p + 4;
        const take = (what: string): number => {
          if (q + 8 > p + 4 + size) this.fail(`entry '${e.name}': zip64 extra field too short for ${what}`);
          const v = this.u64(q, what);
          q += 8;
          return v;
        };
        if (e.size === U32_MAX) e.size = take('size');
        if (e.compressedSize === U32_MAX) e.compressedSize = take('compressed size');
        if (e.localHeaderOffset === U32_MAX) e.localHeaderOffset = take('local header offset');
      }
      p += 4 + size;
    }
  }

  get(name: string): ZipEntry | undefined {
    return this.byName.get(name);
  }

  /** The entry's bytes (a view into the archive when stored), after checking size and CRC-32. */
  read(e: ZipEntry): Uint8Array {
    const at = e.localHeaderOffset;
    this.check(at, 30, `local header of '${e.name}'`);
    if (this.u32(at) !== SIG_LOCAL) this.fail(`bad local header signature for '${e.name}' at byte ${at}`);
    if (e.flags & 1) this.fail(`entry '${e.name}' is encrypted`);
    const nameLen = this.u16(at + 26);
    const extraLen = this.u16(at + 28);
    const dataAt = at + 30 + nameLen + extraLen;
    this.check(dataAt, e.compressedSize, `data of '${e.name}'`);
    const raw = this.bytes.subarray(dataAt, dataAt + e.compressedSize);
    let data: Uint8Array;
    if (e.method === 0) {
      if (e.compressedSize !== e.size)
        this.fail(`stored entry '${e.name}' has compressed size ${e.compressedSize} but size ${e.size}`);
      data = raw;
    } else if (e.method === 8) {
      try {
        const out = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, e.size) });
        data = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
      } catch (err) {
        return this.fail(`cannot inflate '${e.name}': ${(err as Error).message}`);
      }
      if (data.length !== e.size) this.fail(`entry '${e.name}' inflates to ${data.length} bytes, expected ${e.size}`);
    } else {
      return this.fail(`entry '${e.name}' uses compression method ${e.method} (only stored and deflate are supported)`);
    }
    const crc = crc32(data);
    if (crc !== e.crc)
      this.fail(`CRC-32 mismatch in '${e.name}' (corrupt file): expected ${hex(e.crc)}, got ${hex(crc)}`);
    return data;
  }
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

export interface ZipWriteEntry {
  name: string;
  data: Uint8Array;
}

/**
 * Lays out a ZIP of stored (uncompressed) entries whose data start on `align`-byte boundaries, as chunks to be
 * written in order (headers as small new arrays, data as the caller's own arrays).
 */
export function zipStoredAligned(entries: readonly ZipWriteEntry[], align = 64): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const enc = new TextEncoder();
  const DOS_DATE_1980_01_01 = 0x21; // a fixed valid date keeps the output reproducible
  for (const e of entries) {
    const name = enc.encode(e.name);
    const utf8Flag = name.length !== e.name.length || /[^\x20-\x7e]/.test(e.name) ? 0x800 : 0;
    const size = e.data.byteLength;
    const bigSize = size >= U32_MAX;
    const bigOffset = offset >= U32_MAX;
    const crc = crc32(e.data);
    // Local header: zip64 extra (sizes) when needed, then the 'FB' padding field that aligns the data.
    const localZip64 = bigSize ? 20 : 0;
    const start = offset + 30 + name.length + localZip64 + 4;
    const pad = (align - (start % align)) % align;
    const local = new Uint8Array(30 + name.length + localZip64 + 4 + pad);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, SIG_LOCAL, true);
    lv.setUint16(4, bigSize ? 45 : 20, true);
    lv.setUint16(6, utf8Flag, true);
    lv.setUint16(8, 0, true);
    lv.setUint16(10, 0, true);
    lv.setUint16(12, DOS_DATE_1980_01_01, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, bigSize ? U32_MAX : size, true);
    lv.setUint32(22, bigSize ? U32_MAX : size, true);
    lv.setUint16(26, name.length, true);
    lv.setUint16(28, localZip64 + 4 + pad, true);
    local.set(name, 30);
    let p = 30 + name.length;
    if (bigSize) {
      lv.setUint16(p, 1, true);
      lv.setUint16(p + 2, 16, true);
      lv.setBigUint64(p + 4, BigInt(size), true);
      lv.setBigUint64(p + 12, BigInt(size), true);
      p += 20;
    }
    lv.setUint16(p, 0x4246, true); // 'FB'
    lv.setUint16(p + 2, pad, true);
    local.fill(0x5a, p + 4); // 'Z'
    chunks.push(local, e.data);

    const z64 = (bigSize ? 16 : 0) + (bigOffset ? 8 : 0);
    const cen = new Uint8Array(46 + name.length + (z64 > 0 ? 4 + z64 : 0));
    const cv = new DataView(cen.buffer);
    cv.setUint32(0, SIG_CENTRAL, true);
    cv.setUint16(4, 45, true);
    cv.setUint16(6, z64 > 0 ? 45 : 20, true);
    cv.setUint16(8, utf8Flag, true);
    cv.setUint16(14, DOS_DATE_1980_01_01, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, bigSize ? U32_MAX : size, true);
    cv.setUint32(24, bigSize ? U32_MAX : size, true);
    cv.setUint16(28, name.length, true);
    cv.setUint16(30, z64 > 0 ? 4 + z64 : 0, true);
    cv.setUint32(42, bigOffset ? U32_MAX : offset, true);
    cen.set(name, 46);
    if (z64 > 0) {
      let q = 46 + name.length;
      cv.setUint16(q, 1, true);
      cv.setUint16(q + 2, z64, true);
      q += 4;
      if (bigSize) {
        cv.setBigUint64(q, BigInt(size), true);
        cv.setBigUint64(q + 8, BigInt(size), true);
        q += 16;
      }
      if (bigOffset) cv.setBigUint64(q, BigInt(offset), true);
    }
    central.push(cen);
    offset += local.length + size;
  }
  const cdOffset = offset;
  const cdSize = central.reduce((n, c) => n + c.length, 0);
  chunks.push(...central);
  const needZip64 = entries.length >= U16_MAX || cdOffset >= U32_MAX || cdSize >= U32_MAX;
  if (needZip64) {
    const z = new Uint8Array(56 + 20);
    const zv = new DataView(z.buffer);
    zv.setUint32(0, SIG_ZIP64_EOCD, true);
    zv.setBigUint64(4, 44n, true);
    zv.setUint16(12, 45, true);
    zv.setUint16(14, 45, true);
    zv.setBigUint64(24, BigInt(entries.length), true);
    zv.setBigUint64(32, BigInt(entries.length), true);
    zv.setBigUint64(40, BigInt(cdSize), true);
    zv.setBigUint64(48, BigInt(cdOffset), true);
    zv.setUint32(56, SIG_ZIP64_LOCATOR, true);
    zv.setBigUint64(64, BigInt(cdOffset + cdSize), true);
    zv.setUint32(72, 1, true);
    chunks.push(z);
  }
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, SIG_EOCD, true);
  ev.setUint16(8, Math.min(entries.length, U16_MAX), true);
  ev.setUint16(10, Math.min(entries.length, U16_MAX), true);
  ev.setUint32(12, Math.min(cdSize, U32_MAX), true);
  ev.setUint32(16, needZip64 ? U32_MAX : cdOffset, true);
  chunks.push(end);
  return chunks;
}
