/**
 * Throughput of the reference study's augmentation pipeline on reference-study-size crops: a 22-slice 128 x 128 tile in, two
 * 20 x 128 x 128 views out (z-shift and brightness offset once, the albumentations list twice), one thread.
 */
import { performance } from 'node:perf_hooks';
import { median } from '../util/stats.js';
import { Augmenter } from '../data/augment/compose.js';
import { referenceAugmentations } from '../data/augment/presets.js';
import { Random } from '../data/augment/random.js';
import type { AugmentConfig, Crop } from '../data/augment/types.js';

export interface BenchAugmentOptions {
  /** Timed runs; the median is reported. */
  runs?: number;
  /** Two-view crops per run. */
  cropsPerRun?: number;
  /** Tile size (square) and slices read (the z-shift keeps `depth`). */
  size?: number;
  readDepth?: number;
  depth?: number;
  seed?: number;
  /** Config to time; the reference study's pipeline by default. */
  config?: AugmentConfig;
}

export interface BenchAugmentResult {
  pipeline: string;
  crops_per_s: number;
  ms_per_two_view_crop: number;
  runs: number;
  crops_per_run: number;
  run_ms: number[];
  tile: [number, number, number];
  view: [number, number, number];
  threads: 1;
}

/** A uint8-like random tile (0..255 integers) with some spatial structure, so blurs and warps do real work. */
function randomTile(depth: number, size: number, rng: Random): Crop {
  const data = new Float32Array(depth * size * size);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(100 + 60 * Math.sin(i * 0.013) + 40 * rng.next());
  const label = new Uint8Array(size * size);
  for (let i = 0; i < label.length; i++) label[i] = i % size > size / 2 ? 1 : 0;
  return { data, depth, height: size, width: size, label };
}

export function benchAugment(opts: BenchAugmentOptions = {}): BenchAugmentResult {
  const runs = opts.runs ?? 5;
  const cropsPerRun = opts.cropsPerRun ?? 50;
  const size = opts.size ?? 128;
  const depth = opts.depth ?? 20;
  const readDepth = opts.readDepth ?? depth + 2;
  const seed = opts.seed ?? 0;
  if (!(runs >= 1 && cropsPerRun >= 1))
    throw new Error(`benchAugment: runs and cropsPerRun must be >= 1, got ${runs}, ${cropsPerRun}`);
  const config = opts.config ?? referenceAugmentations({ depth });
  const aug = new Augmenter(config);
  const tile = randomTile(readDepth, size, new Random(seed));
  // Warm-up so that the JIT has compiled the hot loops before timing.
  for (let i = 0; i < 10; i++) aug.twoViews(tile, seed + i);
  const times: number[] = [];
  let sink = 0;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    for (let i = 0; i < cropsPerRun; i++) {
      const [a, b] = aug.twoViews(tile, seed + 1000 * (r + 1) + i);
      sink += (a.data[0] as number) + (b.data[0] as number);
    }
    times.push(performance.now() - t0);
  }
  if (Number.isNaN(sink)) throw new Error('benchAugment: augmentation produced NaN');
  const ms = median(times) / cropsPerRun;
  return {
    pipeline: opts.config ? 'custom' : 'reference',
    crops_per_s: Math.round((1000 / ms) * 10) / 10,
    ms_per_two_view_crop: Math.round(ms * 1000) / 1000,
    runs,
    crops_per_run: cropsPerRun,
    run_ms: times.map((t) => Math.round(t * 10) / 10),
    tile: [readDepth, size, size],
    view: [depth, size, size],
    threads: 1,
  };
}
