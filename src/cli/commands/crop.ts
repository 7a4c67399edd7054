/**
 * `inkwell crop <dataset dir> --z A:B --y A:B --x A:B --output crop.npy [--raw] [--level N]`: a sub-volume
 * [z,y,x] as .npy, read with windowed reads (only the needed rows of each layer). Values are as on disk with --raw
 * (uint8/uint16), else after the default bit-depth policy (uint16 -> uint8 by >> 8). Coordinates are layer
 * numbers and disk pixels (resolution factor 1); either end of a range may be left open (`2:`, `:4`, `:`) for the
 * axis's first or last index. The file is written atomically: all of it or nothing.
 */
import type { Command } from 'commander';
import { nonNegativeInt } from '../options.js';
import { writeNpy } from '../../torch/serialization/npy.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { Volume, type VolumeArray } from '../../data/volume.js';
import { cacheOptions } from '../cache-options.js';

export interface CropOptions {
  z: string;
  y: string;
  x: string;
  output: string;
  raw?: boolean;
  level?: number;
}

/** Parses `A:B` (either end may be empty: the axis start/end) into [start, end). */
export function parseRange(text: string, axis: string, size: number, first = 0): [number, number] {
  const m = /^\s*(-?\d*)\s*:\s*(-?\d*)\s*$/.exec(text);
  if (!m) throw new Error(`crop: --${axis} '${text}' is not a range, expected A:B (e.g. 0:256)`);
  const a = m[1] === '' ? first : Number(m[1]);
  const b = m[2] === '' ? first + size : Number(m[2]);
  if (!(a < b)) throw new Error(`crop: --${axis} ${text} is empty, expected A < B`);
  return [a, b];
}

/**
 * .npy bytes for a crop. The shared npy writer knows torch's dtypes only (no uint16), so a uint16 crop is
 * encoded as int16 - same item size, same header length - and its descr '<i2' is rewritten to '<u2'.
 */
export function cropToNpy(arr: VolumeArray): Uint8Array {
  const data = new Uint8Array(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength);
  if (arr.dtype === 'uint8') return writeNpy({ dtype: 'uint8', shape: arr.shape, data });
  const bytes = writeNpy({ dtype: 'int16', shape: arr.shape, data });
  const at = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, 256)).indexOf("'<i2'", 0, 'latin1');
  if (at < 0) throw new Error("crop: npy header has no '<i2' descr to mark as uint16");
  bytes[at + 2] = 'u'.charCodeAt(0);
  return bytes;
}

/** Reads the crop and writes it; returns what was written. */
export async function runCrop(
  dataset: string,
  opts: CropOptions,
): Promise<{ path: string; dtype: string; shape: number[] }> {
  const level = opts.level === undefined ? {} : { level: opts.level };
  const probe = await Volume.open(dataset, { scale: 1, ...level });
  let z: [number, number];
  try {
    const first = probe.zStart;
    z = parseRange(opts.z, 'z', probe.depth, first);
  } finally {
    await probe.close();
  }
  const vol = await Volume.open(probe.dataset, { scale: 1, z, ...level });
  try {
    await vol.validate();
    const [y0, y1] = parseRange(opts.y, 'y', vol.height);
    const [x0, x1] = parseRange(opts.x, 'x', vol.width);
    const arr = await vol.readWindow(0, vol.depth, y0, y1, x0, x1, { raw: opts.raw ?? false });
    await writeFileAtomic(opts.output, cropToNpy(arr));
    return { path: opts.output, dtype: arr.dtype, shape: arr.shape };
  } finally {
    await vol.close();
  }
}

export function registerCrop(program: Command): void {
  cacheOptions(program.command('crop'))
    .description('write a sub-volume [z,y,x] of a dataset as .npy')
    .argument('<dataset>', 'dataset folder (fragment, segment or Zarr volume)')
    .requiredOption('--z <A:B>', 'layer range [A,B) (layer numbers); an open end means the first/last layer: 2:, :4, :')
    .requiredOption('--y <A:B>', 'row range [A,B) in pixels; an open end means the edge: 100:, :256')
    .requiredOption('--x <A:B>', 'column range [A,B) in pixels; an open end means the edge: 100:, :256')
    .requiredOption('--output <file.npy>', 'output .npy file')
    .option('--raw', 'values as stored on disk (uint8/uint16) instead of uint8 via >> 8')
    .option(
      '--level <n>',
      'OME-Zarr pyramid level (0 = full resolution; refused for TIFF/PNG layer stacks)',
      nonNegativeInt('a pyramid level'),
    )
    .action(async (dataset: string, opts: CropOptions) => {
      const r = await runCrop(dataset, opts);
      process.stdout.write(`${JSON.stringify(r)}\n`);
    });
}
