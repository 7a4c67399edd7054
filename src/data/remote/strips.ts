/**
 * Windows of uncompressed strip TIFFs over HTTP: the same planned reads as on disk (StripGeometry in
 * src/data/io/tiff-strips.ts), each done as one HTTP Range request (cached), a few at a time. A narrow
 * window fetches one range per row, a wide one one range per run of rows, so a crop costs about its own size
 * in bytes rather than whole layers.
 */
import { StripGeometry, type PixelArray } from '../io/tiff-strips.js';
import { readTiffInfo, type TiffInfo } from '../io/tiff.js';
import { remoteStore } from './store.js';

export class RemoteStripReader {
  private constructor(readonly geometry: StripGeometry) {}

  static async open(url: string, info?: TiffInfo): Promise<RemoteStripReader> {
    return new RemoteStripReader(new StripGeometry(info ?? (await readTiffInfo(url))));
  }

  get path(): string {
    return this.geometry.path;
  }
  get width(): number {
    return this.geometry.width;
  }
  get height(): number {
    return this.geometry.height;
  }
  get dtype(): 'uint8' | 'uint16' {
    return this.geometry.dtype;
  }

  async readWindow(y0: number, y1: number, x0: number, x1: number): Promise<PixelArray> {
    const g = this.geometry;
    const target = g.target(y0, y1, x0, x1);
    const bytes = new Uint8Array(target.buffer, target.byteOffset, target.byteLength);
    const lineBytes = (x1 - x0) * g.bytesPerSample;
    const reads = g.plan(y0, y1, x0, x1);
    const got = await remoteStore().ranges(
      this.path,
      reads.map((r) => [r.position, r.position + r.length] as const),
      'readWindow',
    );
    reads.forEach((r, i) => {
      const src = got[i]!;
      if (src.length !== r.length) {
        throw new Error(
          `readWindow: ${this.path} sent ${src.length} bytes at ${r.position}, expected ` +
            `${r.length} (file changed on the server?)`,
        );
      }
      StripGeometry.place(r, src, bytes, lineBytes);
    });
    return g.finish(target);
  }

  close(): void {
    /* nothing held open: each read is its own request */
  }
}
