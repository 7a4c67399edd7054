/**
 * The reference study's sanity check (docs/reference-study.md): embed the same tiles with every epoch checkpoint of a
 * pretraining run and compare the representations epoch by epoch with linear and RBF CKA.
 */
import { readdir } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import * as torch from '../torch/index.js';
import { formatShape } from '../torch/dtype.js';
import { ckaMatrix } from './cka.js';
import { writeCkaReport, type CkaReportFiles } from '../report/heatmap.js';
import {
  createEncoder,
  describeEncoderLoad,
  type EncoderOptions,
  loadEncoderWeights,
  type LoadEncoderOptions,
} from '../models/index.js';
import { Volume } from '../data/volume.js';
import { selectTiles, shuffleTiles } from '../data/tiles.js';
import { DEFAULT_DEVICE_CONFIG, DeviceRuntime } from '../train/device.js';

const CHECKPOINT_EXTS = new Set(['.pth', '.pt', '.ckpt', '.safetensors']);

export interface EpochCheckpoint {
  path: string;
  /** The epoch from the file name (`epoch=6.ckpt`, `epoch_12.pth`, else the last number in it), or null. */
  epoch: number | null;
  label: string;
}

/** The checkpoint files of `dir` (.pth, .pt, .ckpt, .safetensors), in epoch order (files without a number last, by name). */
export async function listEpochCheckpoints(dir: string): Promise<EpochCheckpoint[]> {
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
  } catch (err) {
    throw new Error(
      `cka --checkpoints: cannot list ${dir} (${(err as Error).message}); expected a folder of epoch checkpoints`,
    );
  }
  const found = names
    .filter((n) => CHECKPOINT_EXTS.has(extname(n).toLowerCase()))
    .map((name): EpochCheckpoint => {
      const stem = basename(name, extname(name));
      const m = /epoch[=_-]?(\d+)/i.exec(stem) ?? /(\d+)(?!.*\d)/.exec(stem);
      const epoch = m ? Number(m[1]) : null;
      return { path: join(dir, name), epoch, label: epoch === null ? stem : String(epoch) };
    });
  if (found.length === 0) {
    throw new Error(
      `cka --checkpoints: ${dir} holds no checkpoints, expected files ending in ${[...CHECKPOINT_EXTS].join(', ')}`,
    );
  }
  return found.sort((a, b) => (a.epoch ?? Infinity) - (b.epoch ?? Infinity) || a.path.localeCompare(b.path));
}

export interface CheckpointCkaOptions {
  /** Where the encoders run (default cpu); CKA itself is computed in float64 on the CPU. */
  device?: torch.Device;
  checkpoints: string;
  input: string;
  samples: number;
  arch: string;
  inChannels: number;
  widenFactor?: number;
  key?: string;
  prefix?: string;
  strict: boolean;
  /** 'output': the encoder's output (fc when it has one, e.g. the reference study's 512 features); 'pooled': before fc. */
  features: 'output' | 'pooled';
  /** Layer range [start, end) for dataset folders; default the reference study's 20 slices 15:35 when present, else all. */
  z?: [number, number];
  tile: number;
  stride: number;
  seed: number;
  embedBatch: number;
  threshold: number;
  debiased: boolean;
  batchSize?: number;
  out: string;
  log?: (line: string) => void;
}

export interface CheckpointCkaResult {
  labels: string[];
  linear: number[][];
  rbf: number[][];
  files: CkaReportFiles;
  samples: number;
  featureDim: number;
  inputShape: number[];
}

/** Tiles to embed: `count` samples of shape [C, D, H, W], built batch by batch as float32. */
interface TileSet {
  count: number;
  shape: number[];
  batch(start: number, end: number): torch.Tensor;
  dispose(): void;
}

async function tilesFromNpy(path: string, samples: number): Promise<TileSet> {
  const x = torch.keep(
    torch.tidy(() => {
      let t = torch.loadNpy(path);
      if (t.rank === 4) t = t.unsqueeze(1);
      if (t.rank !== 5)
        throw new Error(
          `cka --checkpoints: ${path} is ${formatShape(t.shape)}, expected tiles [N, C, D, H, W] (or [N, D, H, W])`,
        );
      if (t.shape[0]! < samples)
        throw new Error(`cka --checkpoints: ${path} holds ${t.shape[0]} tiles, fewer than --samples ${samples}`);
      return t.slice(0, 0, samples).to('float32');
    }),
  );
  return {
    count: samples,
    shape: [...x.shape.slice(1)],
    batch: (s, e) => x.slice(0, s, e),
    dispose: () => x.dispose(),
  };
}

async function tilesFromDataset(o: CheckpointCkaOptions): Promise<TileSet> {
  if (o.inChannels !== 1)
    throw new Error(
      `cka --checkpoints: dataset tiles have one channel, but --in-channels is ${o.inChannels}; use 1 (checkpoints of other counts are adapted)`,
    );
  let vol = await Volume.open(o.input);
  let z = o.z;
  if (z === undefined && vol.zStart <= 15 && vol.zEnd >= 35) z = [15, 35];
  if (z !== undefined) {
    await vol.close();
    vol = await Volume.open(o.input, { z });
  }
  try {
    const mask = await vol.readMask();
    const all = selectTiles({
      height: vol.height,
      width: vol.width,
      tile: o.tile,
      stride: o.stride,
      mask,
      erode: mask ? 16 : 0,
    });
    if (all.length < o.samples) {
      throw new Error(
        `cka --checkpoints: ${o.input} (${vol.height}x${vol.width}${mask ? ', inside the eroded mask' : ''}) has ${all.length} tiles of ${o.tile}px at stride ${o.stride}, fewer than --samples ${o.samples}`,
      );
    }
    const chosen = shuffleTiles(all, o.seed).slice(0, o.samples);
    const d = vol.depth;
    const plane = o.tile * o.tile;
    const data = new Uint8Array(o.samples * d * plane);
    for (let i = 0; i < chosen.length; i++) {
      const t = chosen[i]!;
      const win = await vol.readWindow(0, d, t.y, t.y + o.tile, t.x, t.x + o.tile);
      data.set(win.data as Uint8Array, i * d * plane);
    }
    o.log?.(
      `${o.samples} tiles of ${d}x${o.tile}x${o.tile} from ${o.input} (layers ${vol.zStart}:${vol.zEnd}, seed ${o.seed})`,
    );
    return {
      count: o.samples,
      shape: [1, d, o.tile, o.tile],
      // Values / 255, as the reference study's Normalize(mean 0, std 1, max 255) left them.
      batch: (s, e) =>
        torch.tidy(() =>
          torch
            .fromTypedArray(data.slice(s * d * plane, e * d * plane), [e - s, 1, d, o.tile, o.tile])
            .to('float32')
            .div(255),
        ),
      dispose: () => undefined,
    };
  } finally {
    await vol.close();
  }
}

/** Embeds the same tiles with every checkpoint and writes the epoch x epoch CKA report. */
export async function runCheckpointCka(o: CheckpointCkaOptions): Promise<CheckpointCkaResult> {
  const rt = DeviceRuntime.open(
    { ...DEFAULT_DEVICE_CONFIG, ...(o.device ? { device: o.device } : {}) },
    'cka --checkpoints',
  );
  const list = await listEpochCheckpoints(o.checkpoints);
  const tiles = o.input.toLowerCase().endsWith('.npy')
    ? await tilesFromNpy(o.input, o.samples)
    : await tilesFromDataset(o);
  const reps: Float32Array[] = [];
  let featureDim = 0;
  try {
    const encOpts: EncoderOptions = { inChannels: o.inChannels };
    if (o.widenFactor !== undefined) encOpts.widenFactor = o.widenFactor;
    const loadOpts: LoadEncoderOptions = { strict: o.strict };
    if (o.key !== undefined) loadOpts.key = o.key;
    if (o.prefix !== undefined) loadOpts.prefix = o.prefix;
    for (const ck of list) {
      torch.manualSeed(o.seed);
      const model = createEncoder(o.arch, encOpts);
      try {
        const report = await loadEncoderWeights(model, ck.path, loadOpts);
        o.log?.(`epoch ${ck.label}: ${describeEncoderLoad(report)}`);
        rt.prepare(model).eval();
        const parts: Float32Array[] = [];
        for (let s = 0; s < tiles.count; s += o.embedBatch) {
          const e = Math.min(tiles.count, s + o.embedBatch);
          const f = torch.noGrad(() =>
            torch.tidy(() => {
              const x = rt.place(tiles.batch(s, e));
              const y = o.features === 'pooled' ? model.pooledFeatures(x) : model.forward(x);
              return y.to('float32').toTypedArray() as Float32Array;
            }),
          );
          parts.push(f);
        }
        const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
        let at = 0;
        for (const p of parts) {
          all.set(p, at);
          at += p.length;
        }
        featureDim = all.length / tiles.count;
        reps.push(all);
      } finally {
        model.dispose();
      }
    }
  } finally {
    tiles.dispose();
  }
  const common = {
    samples: tiles.count,
    threshold: o.threshold,
    debiased: o.debiased,
    ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}),
  };
  const withNames = (fn: () => number[][]): number[][] => {
    try {
      return fn();
    } catch (err) {
      // ckaMatrix names representations by index; map them to the checkpoint files.
      const msg = (err instanceof Error ? err.message : String(err)).replace(
        /representation (\d+)/g,
        (_, i: string) => `epoch ${list[Number(i)]?.label} (${list[Number(i)]?.path})`,
      );
      throw new Error(msg);
    }
  };
  const linear = withNames(() => ckaMatrix(reps, { ...common, kernel: 'linear' }));
  const rbf = withNames(() => ckaMatrix(reps, { ...common, kernel: 'rbf' }));
  const labels = list.map((c) => c.label);
  const files = await writeCkaReport(o.out, {
    linear,
    rbf,
    labels,
    rbfThreshold: o.threshold,
    debiased: o.debiased || o.batchSize !== undefined,
  });
  return { labels, linear, rbf, files, samples: tiles.count, featureDim, inputShape: tiles.shape };
}
