/**
 * Deep-zoom tiles rendered on demand with sharp. The pyramid is the Deep Zoom one that OpenSeadragon's
 * tile sources use (openseadragon DziTileSource): level `maxLevel = ceil(log2(max(W, H)))` is full
 * resolution, each level below halves it, and tile (col, row) of level L covers `tileSize` pixels of that
 * level, i.e. `tileSize * 2^(maxLevel - L)` pixels of the full image.
 */
import sharp from 'sharp';
import type { Overlay, ViewerDataset } from './sources.js';

export interface TileRegion {
  y0: number;
  y1: number;
  x0: number;
  x1: number;
  /** Size of the rendered tile in pixels. */
  outH: number;
  outW: number;
}

export function maxLevel(width: number, height: number): number {
  return Math.ceil(Math.log2(Math.max(width, height, 1)));
}

/** The full-resolution region behind a tile, or null when the tile lies outside the image. */
export function tileRegion(
  level: number,
  col: number,
  row: number,
  width: number,
  height: number,
  tileSize: number,
): TileRegion | null {
  const top = maxLevel(width, height);
  if (!Number.isInteger(level) || level < 0 || level > top || col < 0 || row < 0) return null;
  const f = 2 ** (top - level);
  const span = tileSize * f;
  const y0 = row * span;
  const x0 = col * span;
  if (y0 >= height || x0 >= width) return null;
  const y1 = Math.min(height, y0 + span);
  const x1 = Math.min(width, x0 + span);
  return { y0, y1, x0, x1, outH: Math.max(1, Math.ceil((y1 - y0) / f)), outW: Math.max(1, Math.ceil((x1 - x0) / f)) };
}

async function toPng(pixels: Uint8Array, r: TileRegion, channels: 1 | 4): Promise<Buffer> {
  let img = sharp(pixels, { raw: { width: r.x1 - r.x0, height: r.y1 - r.y0, channels } });
  if (r.outW !== r.x1 - r.x0 || r.outH !== r.y1 - r.y0) {
    // Area averaging on the way down, like the readers' resolution factor.
    img = sharp(await img.resize(r.outW, r.outH, { fit: 'fill', kernel: 'linear' }).raw().toBuffer(), {
      raw: { width: r.outW, height: r.outH, channels },
    });
  }
  return img.png({ compressionLevel: 3 }).toBuffer();
}

/** A layer tile: raw values mapped to grey through the window [lo, hi]. */
export async function renderLayerTile(
  ds: ViewerDataset,
  layer: number,
  r: TileRegion,
  lo: number,
  hi: number,
): Promise<Buffer> {
  const z = layer - ds.volume.zStart;
  const win = await ds.volume.readWindow(z, z + 1, r.y0, r.y1, r.x0, r.x1, { raw: true });
  const scale = 255 / Math.max(hi - lo, 1e-9);
  const grey = new Uint8Array(win.data.length);
  for (let i = 0; i < grey.length; i++) grey[i] = Math.max(0, Math.min(255, Math.round((win.data[i]! - lo) * scale)));
  return toPng(grey, r, 1);
}

const COLOURS: Record<Overlay['kind'], [number, number, number]> = {
  mask: [0, 170, 255],
  inklabels: [255, 60, 60],
  prediction: [255, 210, 0],
};

/** An overlay tile: the overlay's colour with its value (0..255) as alpha. */
export async function renderOverlayTile(ds: ViewerDataset, overlay: Overlay, r: TileRegion): Promise<Buffer> {
  const values = await overlay.load();
  const W = ds.volume.width;
  const w = r.x1 - r.x0;
  const [cr, cg, cb] = COLOURS[overlay.kind];
  const rgba = new Uint8Array((r.y1 - r.y0) * w * 4);
  for (let y = r.y0; y < r.y1; y++) {
    for (let x = r.x0; x < r.x1; x++) {
      const o = ((y - r.y0) * w + (x - r.x0)) * 4;
      rgba[o] = cr;
      rgba[o + 1] = cg;
      rgba[o + 2] = cb;
      rgba[o + 3] = values[y * W + x]!;
    }
  }
  return toPng(rgba, r, 4);
}
