/**
 * Windowed reads of uncompressed strip TIFFs with positioned reads: only the bytes of the requested rows and
 * columns are read, so a 256x256 window of a Kaggle-size 16-bit layer costs about a millisecond instead of a
 * ~100 ms whole-layer decode (docs/engine.md).
 *
 * Reads are synchronous (`fs.readSync` at an offset): one window is a few hundred small reads from the page
 * cache, and going through libuv's thread pool per read would cost more than the reads themselves.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { positionedReadBlocker, readTiffInfo, type TiffInfo } from './tiff.js';

export type PixelArray = Uint8Array | Uint16Array;

/**
 * Windows narrower than this fraction of a row are read row by row; wider ones read the whole run of rows at
 * once and copy out the columns. Measured here on a 6330-wide 16-bit layer in the page cache, a 256x256 window
 * took 0.25 ms row by row and 0.17 ms as one 3.2 MB block read; row-by-row is kept for narrow windows because
 * it reads ~25x fewer bytes, which is what matters when the layers are not cached (6.7 GB per fragment).
 */
const BLOCK_READ_MIN_FRACTION = 0.25;

/**
 * One read of a window: `length` bytes at file `position`, from which `rows` lines of the window are copied
 * (line r starts at byte r * `srcStride` of the read and lands at byte `dstOffset + r * lineBytes`).
 */
export interface StripRead {
  position: number;
  length: number;
  rows: number;
  srcStride: number;
  dstOffset: number;
}

/**
 * Where the pixels of an uncompressed grey strip TIFF lie: the geometry shared by local positioned reads
 * (TiffStripReader) and HTTP range reads (src/data/remote/strips.ts), which differ only in how the planned
 * reads are done.
 */
export class StripGeometry {
  readonly path: string;
  readonly info: TiffInfo;
  readonly width: number;
  readonly height: number;
  readonly bytesPerSample: 1 | 2;
  private readonly rowBytes: number;
  private readonly offsets: number[];
  private readonly rowsPerStrip: number;

  constructor(info: TiffInfo) {
    const blocker = positionedReadBlocker(info);
    if (blocker !== null)
      throw new Error(
        `TiffStripReader: ${info.path} has ${blocker}, expected an uncompressed 8/16-bit ` + `grey strip TIFF`,
      );
    if (info.layout.kind !== 'strips') throw new Error(`TiffStripReader: ${info.path} is tiled, expected strips`);
    this.path = info.path;
    this.info = info;
    this.width = info.width;
    this.height = info.height;
    this.bytesPerSample = info.bitsPerSample === 16 ? 2 : 1;
    this.rowBytes = info.width * this.bytesPerSample;
    this.offsets = info.layout.offsets;
    this.rowsPerStrip = info.layout.rowsPerStrip;
    for (let s = 0; s < this.offsets.length; s++) {
      const rows = Math.min(this.rowsPerStrip, this.height - s * this.rowsPerStrip);
      if (rows > 0 && info.layout.byteCounts[s]! < rows * this.rowBytes) {
        throw new Error(
          `TiffStripReader: ${info.path} strip ${s} holds ${info.layout.byteCounts[s]} bytes, expected ${rows * this.rowBytes} for ${rows} uncompressed rows of ${this.rowBytes} bytes`,
        );
      }
    }
  }

  get dtype(): 'uint8' | 'uint16' {
    return this.bytesPerSample === 2 ? 'uint16' : 'uint8';
  }

  private rowOffset(y: number): number {
    const s = Math.floor(y / this.rowsPerStrip);
    return this.offsets[s]! + (y - s * this.rowsPerStrip) * this.rowBytes;
  }

  /** Checks the window and allocates (or checks) its output buffer. */
  target(y0: number, y1: number, x0: number, x1: number, out?: PixelArray): PixelArray {
    if (
      !(Number.isInteger(y0) && Number.isInteger(y1) && Number.isInteger(x0) && Number.isInteger(x1)) ||
      y0 < 0 ||
      x0 < 0 ||
      y1 > this.height ||
      x1 > this.width ||
      y0 >= y1 ||
      x0 >= x1
    ) {
      throw new Error(
        `readWindow: rows ${y0}..${y1} x columns ${x0}..${x1} is not a non-empty window inside ` +
          `${this.path} (${this.height}x${this.width})`,
      );
    }
    const n = (y1 - y0) * (x1 - x0);
    const bps = this.bytesPerSample;
    const target = out ?? (bps === 2 ? new Uint16Array(n) : new Uint8Array(n));
    if (target.length !== n || target.BYTES_PER_ELEMENT !== bps) {
      throw new Error(
        `readWindow: output buffer for ${this.path} has ` +
          `${target.length} ${target.BYTES_PER_ELEMENT * 8}-bit elements, expected ${n} ${bps * 8}-bit`,
      );
    }
    return target;
  }

  /** The reads that fetch rows [y0,y1) x columns [x0,x1): one per run of adjacent rows, or per row when narrow. */
  plan(y0: number, y1: number, x0: number, x1: number): StripRead[] {
    const bps = this.bytesPerSample;
    const lineBytes = (x1 - x0) * bps;
    const blockRead = x1 - x0 >= this.width * BLOCK_READ_MIN_FRACTION;
    const reads: StripRead[] = [];
    let y = y0;
    while (y < y1) {
      // A run of rows that are adjacent in the file (same strip, or strips stored back to back).
      let end = y + 1;
      while (end < y1 && this.rowOffset(end) === this.rowOffset(end - 1) + this.rowBytes) end++;
      const dstOffset = (y - y0) * lineBytes;
      if (lineBytes === this.rowBytes || (blockRead && end - y > 1)) {
        reads.push({
          position: this.rowOffset(y) + x0 * bps,
          length: (end - y - 1) * this.rowBytes + lineBytes,
          rows: end - y,
          srcStride: this.rowBytes,
          dstOffset,
        });
      } else {
        for (let r = y; r < end; r++) {
          reads.push({
            position: this.rowOffset(r) + x0 * bps,
            length: lineBytes,
            rows: 1,
            srcStride: lineBytes,
            dstOffset: (r - y0) * lineBytes,
          });
        }
      }
      y = end;
    }
    return reads;
  }

  /** Copies the lines of one planned read into the window's bytes. */
  static place(read: StripRead, src: Uint8Array, dst: Uint8Array, lineBytes: number): void {
    for (let r = 0; r < read.rows; r++) {
      const at = r * read.srcStride;
      dst.set(src.subarray(at, at + lineBytes), read.dstOffset + r * lineBytes);
    }
  }

  /** Native byte order for 16-bit windows of big-endian files. */
  finish(target: PixelArray): PixelArray {
    if (this.bytesPerSample === 2 && !this.info.littleEndian)
      Buffer.from(target.buffer, target.byteOffset, target.byteLength).swap16();
    return target;
  }
}

export class TiffStripReader {
  readonly geometry: StripGeometry;
  private fd: number | null;

  private constructor(geometry: StripGeometry, fd: number) {
    this.geometry = geometry;
    this.fd = fd;
  }

  /** Opens `path` (parsing its directory unless `info` is given); throws if it is not an uncompressed grey strip TIFF. */
  static async open(path: string, info?: TiffInfo): Promise<TiffStripReader> {
    const geometry = new StripGeometry(info ?? (await readTiffInfo(path)));
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (err) {
      throw new Error(`TiffStripReader: cannot open ${path}: ${(err as Error).message}`);
    }
    return new TiffStripReader(geometry, fd);
  }

  get path(): string {
    return this.geometry.path;
  }
  get info(): TiffInfo {
    return this.geometry.info;
  }
  get width(): number {
    return this.geometry.width;
  }
  get height(): number {
    return this.geometry.height;
  }
  get bytesPerSample(): 1 | 2 {
    return this.geometry.bytesPerSample;
  }
  get dtype(): 'uint8' | 'uint16' {
    return this.geometry.dtype;
  }

  private readAt(dst: Uint8Array, dstOffset: number, length: number, position: number): void {
    if (this.fd === null) throw new Error(`TiffStripReader: ${this.path} is closed`);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, dst, dstOffset + done, length - done, position + done);
      if (n === 0)
        throw new Error(
          `TiffStripReader: ${this.path} ended at byte ${position + done}, expected ${length - done} more bytes (file truncated after it was opened?)`,
        );
      done += n;
    }
  }

  /**
   * Pixels of rows [y0,y1) and columns [x0,x1), row-major, as Uint8Array (8-bit) or Uint16Array (16-bit,
   * native byte order). `out`, when given, must hold exactly (y1-y0)*(x1-x0) elements of the right type.
   */
  readWindow(y0: number, y1: number, x0: number, x1: number, out?: PixelArray): PixelArray {
    const g = this.geometry;
    const target = g.target(y0, y1, x0, x1, out);
    const bytes = new Uint8Array(target.buffer, target.byteOffset, target.byteLength);
    const lineBytes = (x1 - x0) * g.bytesPerSample;
    for (const read of g.plan(y0, y1, x0, x1)) {
      if (read.srcStride === lineBytes) {
        // Contiguous lines: read straight into the output.
        this.readAt(bytes, read.dstOffset, read.length, read.position);
      } else {
        const tmp = Buffer.allocUnsafeSlow(read.length);
        this.readAt(tmp, 0, read.length, read.position);
        StripGeometry.place(read, tmp, bytes, lineBytes);
      }
    }
    return g.finish(target);
  }

  close(): void {
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
    }
  }
}
