/**
 * Read benchmark: a random 20x256x256 crop of a Kaggle-width uncompressed 16-bit layer stack, by positioned
 * reads of just the needed rows (this project's path) vs decoding each whole layer through sharp and cutting
 * the crop out (what a decode-everything reader does). docs/engine.md records ~1.1 ms per 256x256
 * window by positioned reads and ~110 ms per whole Kaggle-size layer decode; the target here is <= 25 ms
 * for the 20-layer crop.
 */
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeGrey } from '../data/io/image.js';
import { cropPixels } from '../data/io/layer.js';
import { median } from '../util/stats.js';
import { createRng } from '../data/rng.js';
import { Volume } from '../data/volume.js';

export interface BenchReadOptions {
  /** Layers in the stack (>= crop depth). Default 20. */
  layers?: number;
  /** Layer height; default 2048 (a Kaggle fragment's 8181 makes the stack 2 GB). */
  height?: number;
  /** Layer width; default 6330, Kaggle fragment 1's. */
  width?: number;
  /** Crop [depth, height, width]; default [20, 256, 256]. */
  crop?: readonly [number, number, number];
  /** Timed runs of the positioned path (median reported); default 9. */
  runs?: number;
  /** Timed runs of the whole-layer decode path; default 3 (each decodes every layer). */
  decodeRuns?: number;
  seed?: number;
  /** Folder for the temporary stack (default: the OS temp dir); removed afterwards. */
  tmpDir?: string;
}

export interface BenchReadResult {
  stack: { layers: number; height: number; width: number; dtype: 'uint16'; compression: 'none'; bytes: number };
  crop: [number, number, number];
  positioned: { medianMs: number; runsMs: number[]; perWindowMs: number };
  wholeLayerDecode: { medianMs: number; runsMs: number[]; perLayerMs: number };
  /** wholeLayerDecode / positioned (medians). */
  ratio: number;
  targetMs: number;
  meetsTarget: boolean;
  /** Both paths returned identical pixels for every run. */
  identical: boolean;
}

const round = (v: number): number => Math.round(v * 1000) / 1000;

export async function benchRead(opts: BenchReadOptions = {}): Promise<BenchReadResult> {
  const layers = opts.layers ?? 20;
  const height = opts.height ?? 2048;
  const width = opts.width ?? 6330;
  const crop: [number, number, number] = opts.crop ? [opts.crop[0], opts.crop[1], opts.crop[2]] : [20, 256, 256];
  const runs = opts.runs ?? 9;
  const decodeRuns = opts.decodeRuns ?? 3;
  if (crop[0] > layers || crop[1] > height || crop[2] > width) {
    throw new Error(`benchRead: crop ${crop.join('x')} does not fit a ${layers}x${height}x${width} stack`);
  }
  const dir = await mkdtemp(join(opts.tmpDir ?? tmpdir(), 'inkwell-bench-read-'));
  const rng = createRng(opts.seed ?? 0);
  try {
    const sv = join(dir, 'bench', 'surface_volume');
    await mkdir(sv, { recursive: true });
    const plane = new Uint16Array(height * width);
    for (let z = 0; z < layers; z++) {
      // Distinct pseudo-random content per layer, so no reader can get lucky with repeated data; two 16-bit
      // pixels per 32-bit draw (the Uint16Array store keeps the low half).
      for (let i = 0; i + 1 < plane.length; i += 2) {
        const u = rng.uint32();
        plane[i] = u;
        plane[i + 1] = u >>> 16;
      }
      if (plane.length % 2 === 1) plane[plane.length - 1] = rng.uint32();
      // sharp writes a plain uncompressed multi-strip 16-bit grey TIFF, like the Kaggle layers.
      await sharp(plane, { raw: { width, height, channels: 1 } })
        .toColourspace('grey16')
        .tiff({ compression: 'none' })
        .toFile(join(sv, `${String(z).padStart(2, '0')}.tif`));
    }
    // Flush the new files to disk before timing: pending writeback competes with the reads for CPU
    // (it made positioned timings bimodal, 6 vs 25 ms, on a 2-core machine).
    for (let z = 0; z < layers; z++) {
      const fh = await open(join(sv, `${String(z).padStart(2, '0')}.tif`), 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    const vol = await Volume.open(join(dir, 'bench'), { scale: 1, bitDepth: 'keep', progress: false });
    try {
      const pick = (): [number, number, number] => [
        rng.int(layers - crop[0] + 1),
        rng.int(height - crop[1] + 1),
        rng.int(width - crop[2] + 1),
      ];
      const positionedRead = async (z: number, y: number, x: number): Promise<Uint16Array> =>
        (await vol.readWindow(z, z + crop[0], y, y + crop[1], x, x + crop[2])).data as Uint16Array;
      const decodeRead = async (z: number, y: number, x: number): Promise<Uint16Array> => {
        const out = new Uint16Array(crop[0] * crop[1] * crop[2]);
        for (let k = 0; k < crop[0]; k++) {
          const img = await decodeGrey(vol.layerFile(z + k), 'benchRead');
          out.set(cropPixels(img.data, width, y, y + crop[1], x, x + crop[2]), k * crop[1] * crop[2]);
        }
        return out;
      };
      // Warm-up of the positioned path (page cache, JIT); the decode path warms up after the positioned runs,
      // so that the garbage of its whole-layer buffers is not collected during them.
      const [wz, wy, wx] = pick();
      await positionedRead(wz, wy, wx);

      // All positioned runs first, then the decode runs: interleaving them would charge the decode path's
      // garbage (a whole layer per read) to the positioned timings.
      const picks = Array.from({ length: Math.max(runs, decodeRuns) }, pick);
      const posMs: number[] = [];
      const posOut: Uint16Array[] = [];
      for (const [z, y, x] of picks.slice(0, runs)) {
        const t0 = performance.now();
        posOut.push(await positionedRead(z, y, x));
        posMs.push(performance.now() - t0);
      }
      await decodeRead(wz, wy, wx);
      let identical = true;
      const decMs: number[] = [];
      for (const [r, [z, y, x]] of picks.slice(0, decodeRuns).entries()) {
        const t0 = performance.now();
        const b = await decodeRead(z, y, x);
        decMs.push(performance.now() - t0);
        const a = posOut[r] ?? (await positionedRead(z, y, x));
        if (!a.every((v, i) => v === b[i])) identical = false;
      }
      const pos = median(posMs);
      const dec = median(decMs);
      return {
        stack: { layers, height, width, dtype: 'uint16', compression: 'none', bytes: layers * height * width * 2 },
        crop,
        positioned: { medianMs: round(pos), runsMs: posMs.map(round), perWindowMs: round(pos / crop[0]) },
        wholeLayerDecode: { medianMs: round(dec), runsMs: decMs.map(round), perLayerMs: round(dec / crop[0]) },
        ratio: round(dec / pos),
        targetMs: 25,
        meetsTarget: pos <= 25,
        identical,
      };
    } finally {
      await vol.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
