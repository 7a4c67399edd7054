/**
 * Cutting crops out of in-memory volumes ([z, y, x] in C order) into the Float32 0..255 layout the
 * augmentations work on.
 */
import type { Crop } from './types.js';

export interface VolumeView {
  data: Uint8Array | Uint16Array | Float32Array;
  depth: number;
  height: number;
  width: number;
}

export interface CropBox {
  z0: number;
  depth: number;
  y0: number;
  x0: number;
  height: number;
  width: number;
}

/**
 * Copies `box` of `vol` into a Float32 crop. uint16 volumes are mapped to the 0..255 scale with `>> 8`, as every
 * public pipeline's cv2.imread(path, 0) does (docs/data-formats.md); uint8 and float are copied as they are.
 */
export function extractCrop(vol: VolumeView, box: CropBox): Crop {
  const { depth: D, height: H, width: W } = vol;
  const { z0, y0, x0 } = box;
  if (vol.data.length !== D * H * W)
    throw new Error(`extractCrop: volume data holds ${vol.data.length} values, expected ${D}x${H}x${W}`);
  if (z0 < 0 || y0 < 0 || x0 < 0 || z0 + box.depth > D || y0 + box.height > H || x0 + box.width > W) {
    throw new Error(
      `extractCrop: box z ${z0}+${box.depth}, y ${y0}+${box.height}, x ${x0}+${box.width} is outside the ${D}x${H}x${W} volume`,
    );
  }
  const out = new Float32Array(box.depth * box.height * box.width);
  const shift = vol.data instanceof Uint16Array;
  let k = 0;
  for (let z = 0; z < box.depth; z++) {
    for (let y = 0; y < box.height; y++) {
      const o = ((z0 + z) * H + (y0 + y)) * W + x0;
      if (shift) {
        for (let x = 0; x < box.width; x++) out[k++] = (vol.data[o + x] as number) >> 8;
      } else {
        out.set(vol.data.subarray(o, o + box.width), k);
        k += box.width;
      }
    }
  }
  return { data: out, depth: box.depth, height: box.height, width: box.width };
}

/** Copies the [y0, y0 + h) x [x0, x0 + w) window of a [H, W] plane. */
export function extractPlane<T extends Uint8Array | Float32Array>(
  plane: T,
  H: number,
  W: number,
  y0: number,
  x0: number,
  h: number,
  w: number,
): T {
  if (plane.length !== H * W) throw new Error(`extractPlane: plane holds ${plane.length} values, expected ${H}x${W}`);
  if (y0 < 0 || x0 < 0 || y0 + h > H || x0 + w > W)
    throw new Error(`extractPlane: window y ${y0}+${h}, x ${x0}+${w} is outside ${H}x${W}`);
  const out = (plane instanceof Uint8Array ? new Uint8Array(h * w) : new Float32Array(h * w)) as T;
  for (let y = 0; y < h; y++) out.set(plane.subarray((y0 + y) * W + x0, (y0 + y) * W + x0 + w), y * w);
  return out;
}
