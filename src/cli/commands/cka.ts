/**
 * `inkwell cka --x a.npy --y b.npy [--kernel linear|rbf] [--threshold 0.5] [--debiased] [--batch-size N] [--json]`:
 * CKA between two [n, p] representation sets saved as .npy (same n rows; p may differ). `--json` prints
 * exactly {"cka": value}. `--batch-size N` gives minibatch CKA (Nguyen et al. 2021, unbiased HSIC) over
 * consecutive batches of N rows, for sample sets too large for one n x n gram.
 *
 * `inkwell cka --checkpoints DIR --input DATASET --samples 512 [--out DIR]`: the seed's sanity check (field
 * notes section 1): embed the same tiles with every epoch checkpoint in DIR and write the epoch x epoch linear
 * and RBF CKA matrices (cka.json, cka_linear.png, cka_rbf.png). DATASET is a dataset folder (tiles of --tile
 * px at --stride inside the eroded mask, a seeded sample of --samples, layers --z, values / 255 as the seed
 * normalised them) or an .npy batch [N, C, D, H, W] of float tiles (its first --samples).
 */
import { readdir } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import * as torch from '../../torch/index.js';
import { formatShape } from '../../torch/dtype.js';
import { cka, type CkaKernel, ckaMatrix, DEFAULT_RBF_THRESHOLD, minibatchCka, writeCkaReport, type CkaReportFiles } from '../../eval/index.js';
import { createEncoder, describeEncoderLoad, type EncoderOptions, loadEncoderWeights, type LoadEncoderOptions } from '../../models/index.js';
import { Volume } from '../../data/volume.js';
import { selectTiles, shuffleTiles } from '../../data/tiles.js';

function parsePositive(v: string): number {
  const t = Number(v);
  if (v.trim() === '' || !(t > 0) || !Number.isFinite(t)) throw new InvalidArgumentError(`'${v}' is not a positive number`);
  return t;
}

function parseCount(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !(n > 0)) throw new InvalidArgumentError(`'${v}' is not a positive integer`);
  return n;
}

function parseInteger(v: string): number {
  if (!/^-?\d+$/.test(v.trim())) throw new InvalidArgumentError(`'${v}' is not an integer`);
  return Number(v);
}

function parseRange(v: string): [number, number] {
  const m = /^(\d+):(\d+)$/.exec(v.trim());
  if (!m || Number(m[1]) >= Number(m[2])) throw new InvalidArgumentError(`'${v}' is not a layer range, expected START:END with START < END (END exclusive), e.g. 15:35`);
  return [Number(m[1]), Number(m[2])];
}

/** CKA of two .npy representation files; errors name both files. */
export function ckaOfFiles(xPath: string, yPath: string, opts: { kernel: CkaKernel; threshold: number; debiased: boolean; batchSize?: number }): { cka: number; xShape: number[]; yShape: number[] } {
  return torch.tidy(() => {
    const x = torch.loadNpy(xPath);
    const y = torch.loadNpy(yPath);
    const xShape = [...x.shape];
    const yShape = [...y.shape];
    try {
      const value = opts.batchSize !== undefined
        ? minibatchCka(x, y, { kernel: opts.kernel, threshold: opts.threshold, debiased: true, batchSize: opts.batchSize })
        : cka(x, y, { kernel: opts.kernel, threshold: opts.threshold, debiased: opts.debiased });
      return { cka: value, xShape, yShape };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new Error(`${message} (X = ${xPath} [${xShape.join(', ')}], Y = ${yPath} [${yShape.join(', ')}])`);
    }
  });
}

// ---------------------------------------------------------------- checkpoints

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
    throw new Error(`cka --checkpoints: cannot list ${dir} (${(err as Error).message}); expected a folder of epoch checkpoints`);
  }
  const found = names.filter((n) => CHECKPOINT_EXTS.has(extname(n).toLowerCase())).map((name): EpochCheckpoint => {
    const stem = basename(name, extname(name));
    const m = /epoch[=_-]?(\d+)/i.exec(stem) ?? /(\d+)(?!.*\d)/.exec(stem);
    const epoch = m ? Number(m[1]) : null;
    return { path: join(dir, name), epoch, label: epoch === null ? stem : String(epoch) };
  });
  if (found.length === 0) {
    throw new Error(`cka --checkpoints: ${dir} holds no checkpoints, expected files ending in ${[...CHECKPOINT_EXTS].join(', ')}`);
  }
  return found.sort((a, b) => (a.epoch ?? Infinity) - (b.epoch ?? Infinity) || a.path.localeCompare(b.path));
}

export interface CheckpointCkaOptions {
  checkpoints: string;
  input: string;
  samples: number;
  arch: string;
  inChannels: number;
  widenFactor?: number;
  key?: string;
  prefix?: string;
  strict: boolean;
  /** 'output': the encoder's output (fc when it has one, e.g. the seed's 512 features); 'pooled': before fc. */
  features: 'output' | 'pooled';
  /** Layer range [start, end) for dataset folders; default the seed's 20 slices 15:35 when present, else all. */
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
  const x = torch.keep(torch.tidy(() => {
    let t = torch.loadNpy(path);
    if (t.rank === 4) t = t.unsqueeze(1);
    if (t.rank !== 5) throw new Error(`cka --checkpoints: ${path} is ${formatShape(t.shape)}, expected tiles [N, C, D, H, W] (or [N, D, H, W])`);
    if (t.shape[0]! < samples) throw new Error(`cka --checkpoints: ${path} holds ${t.shape[0]} tiles, fewer than --samples ${samples}`);
    return t.slice(0, 0, samples).to('float32');
  }));
  return { count: samples, shape: [...x.shape.slice(1)], batch: (s, e) => x.slice(0, s, e), dispose: () => x.dispose() };
}

async function tilesFromDataset(o: CheckpointCkaOptions): Promise<TileSet> {
  if (o.inChannels !== 1) throw new Error(`cka --checkpoints: dataset tiles have one channel, but --in-channels is ${o.inChannels}; use 1 (checkpoints of other counts are adapted)`);
  let vol = await Volume.open(o.input);
  let z = o.z;
  if (z === undefined && vol.zStart <= 15 && vol.zEnd >= 35) z = [15, 35];
  if (z !== undefined) {
    await vol.close();
    vol = await Volume.open(o.input, { z });
  }
  try {
    const mask = await vol.readMask();
    const all = selectTiles({ height: vol.height, width: vol.width, tile: o.tile, stride: o.stride, mask, erode: mask ? 16 : 0 });
    if (all.length < o.samples) {
      throw new Error(`cka --checkpoints: ${o.input} (${vol.height}x${vol.width}${mask ? ', inside the eroded mask' : ''}) has ${all.length} tiles of ${o.tile}px at stride ${o.stride}, fewer than --samples ${o.samples}`);
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
    o.log?.(`${o.samples} tiles of ${d}x${o.tile}x${o.tile} from ${o.input} (layers ${vol.zStart}:${vol.zEnd}, seed ${o.seed})`);
    return {
      count: o.samples,
      shape: [1, d, o.tile, o.tile],
      // Values / 255, as the seed's Normalize(mean 0, std 1, max 255) left them.
      batch: (s, e) => torch.tidy(() => torch.fromTypedArray(data.slice(s * d * plane, e * d * plane), [e - s, 1, d, o.tile, o.tile]).to('float32').div(255)),
      dispose: () => undefined,
    };
  } finally {
    await vol.close();
  }
}

/** Embeds the same tiles with every checkpoint and writes the epoch x epoch CKA report. */
export async function runCheckpointCka(o: CheckpointCkaOptions): Promise<CheckpointCkaResult> {
  const list = await listEpochCheckpoints(o.checkpoints);
  const tiles = o.input.toLowerCase().endsWith('.npy') ? await tilesFromNpy(o.input, o.samples) : await tilesFromDataset(o);
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
        model.eval();
        const parts: Float32Array[] = [];
        for (let s = 0; s < tiles.count; s += o.embedBatch) {
          const e = Math.min(tiles.count, s + o.embedBatch);
          const f = torch.noGrad(() => torch.tidy(() => {
            const x = tiles.batch(s, e);
            const y = o.features === 'pooled' ? model.pooledFeatures(x) : model.forward(x);
            return y.to('float32').toTypedArray() as Float32Array;
          }));
          parts.push(f);
        }
        const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
        let at = 0;
        for (const p of parts) { all.set(p, at); at += p.length; }
        featureDim = all.length / tiles.count;
        reps.push(all);
      } finally {
        model.dispose();
      }
    }
  } finally {
    tiles.dispose();
  }
  const common = { samples: tiles.count, threshold: o.threshold, debiased: o.debiased, ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}) };
  const withNames = (fn: () => number[][]): number[][] => {
    try {
      return fn();
    } catch (err) {
      // ckaMatrix names representations by index; map them to the checkpoint files.
      const msg = (err instanceof Error ? err.message : String(err)).replace(/representation (\d+)/g, (_, i: string) => `epoch ${list[Number(i)]?.label} (${list[Number(i)]?.path})`);
      throw new Error(msg);
    }
  };
  const linear = withNames(() => ckaMatrix(reps, { ...common, kernel: 'linear' }));
  const rbf = withNames(() => ckaMatrix(reps, { ...common, kernel: 'rbf' }));
  const labels = list.map((c) => c.label);
  const files = await writeCkaReport(o.out, { linear, rbf, labels, rbfThreshold: o.threshold, debiased: o.debiased || o.batchSize !== undefined });
  return { labels, linear, rbf, files, samples: tiles.count, featureDim, inputShape: tiles.shape };
}

function matrixTable(name: string, labels: readonly string[], m: readonly (readonly number[])[]): string {
  const w = Math.max(6, ...labels.map((l) => l.length));
  const head = `${name.padEnd(w)}  ${labels.map((l) => l.padStart(w)).join('  ')}`;
  return [head, ...m.map((row, i) => `${labels[i]!.padEnd(w)}  ${row.map((v) => v.toFixed(3).padStart(w)).join('  ')}`)].join('\n');
}

// ---------------------------------------------------------------- command

interface CkaCliOptions {
  x?: string;
  y?: string;
  kernel: CkaKernel;
  threshold: number;
  debiased?: boolean;
  batchSize?: number;
  json?: boolean;
  checkpoints?: string;
  input?: string;
  samples: number;
  out?: string;
  arch: string;
  inChannels: number;
  widenFactor?: number;
  key?: string;
  prefix?: string;
  strict: boolean;
  features: 'output' | 'pooled';
  z?: [number, number];
  tile: number;
  stride: number;
  seed: number;
  embedBatch: number;
}

export function registerCka(program: Command): void {
  program
    .command('cka')
    .description('CKA similarity of representations: two .npy sets (--x/--y), or every epoch checkpoint on the same tiles (--checkpoints)')
    .option('--x <npy>', 'first representation set, [n, p1]')
    .option('--y <npy>', 'second representation set, [n, p2] (same n samples)')
    .addOption(new Option('--kernel <kernel>', 'kernel (the --checkpoints form writes both)').choices(['linear', 'rbf']).default('linear'))
    .option('--threshold <t>', 'RBF bandwidth as a fraction of the median distance', parsePositive, DEFAULT_RBF_THRESHOLD)
    .option('--debiased', 'unbiased HSIC estimator (Song et al. 2012); needs n > 3')
    .option('--batch-size <n>', 'minibatch CKA over batches of n rows (Nguyen et al. 2021; unbiased HSIC)', parseCount)
    .option('--json', 'print {"cka": value} (--checkpoints: {"labels", "linear", "rbf"})')
    .option('--checkpoints <dir>', 'folder of epoch checkpoints (.pth/.pt/.ckpt/.safetensors) to compare, epoch x epoch')
    .option('--input <dataset>', 'with --checkpoints: a dataset folder, or an .npy batch of tiles [N, C, D, H, W]')
    .option('--samples <n>', 'with --checkpoints: tiles to embed', parseCount, 512)
    .option('--out <dir>', 'with --checkpoints: report folder (default: <checkpoints>/cka)')
    .option('--arch <name>', 'with --checkpoints: encoder architecture', 'resnet3d-50-seed')
    .option('--in-channels <n>', 'with --checkpoints: encoder input channels', parseCount, 1)
    .option('--widen-factor <f>', 'with --checkpoints: encoder width multiplier', parsePositive)
    .option('--key <key>', "with --checkpoints: checkpoint entry holding the state dict (default 'state_dict' when present)")
    .option('--prefix <prefix>', "with --checkpoints: load only keys under this prefix, removing it (e.g. 'backbone.')")
    .option('--no-strict', 'with --checkpoints: load the keys that fit instead of refusing a mismatched checkpoint')
    .addOption(new Option('--features <which>', 'with --checkpoints: encoder output (fc, e.g. the seed\'s 512) or pooled features before fc').choices(['output', 'pooled']).default('output'))
    .option('--z <start:end>', 'with --checkpoints: layer range of a dataset (default 15:35, the seed\'s 20 slices, when present; else all)', parseRange)
    .option('--tile <px>', 'with --checkpoints: tile size in a dataset', parseCount, 128)
    .option('--stride <px>', 'with --checkpoints: tile grid stride in a dataset', parseCount, 32)
    .option('--seed <n>', 'with --checkpoints: seed of the tile sample', parseInteger, 0)
    .option('--embed-batch <n>', 'with --checkpoints: tiles per forward pass', parseCount, 8)
    .action(async (o: CkaCliOptions) => {
      if (o.checkpoints !== undefined) {
        if (o.x !== undefined || o.y !== undefined) throw new Error('cka: --checkpoints and --x/--y were both given, expected one form');
        if (o.input === undefined) throw new Error('cka --checkpoints: expected --input DATASET (a dataset folder or an .npy batch of tiles)');
        const opts: CheckpointCkaOptions = {
          checkpoints: o.checkpoints, input: o.input, samples: o.samples, arch: o.arch, inChannels: o.inChannels, strict: o.strict,
          features: o.features, tile: o.tile, stride: o.stride, seed: o.seed, embedBatch: o.embedBatch, threshold: o.threshold,
          debiased: o.debiased ?? false, out: o.out ?? join(o.checkpoints, 'cka'),
          log: (line) => { if (!o.json) process.stderr.write(line + '\n'); },
        };
        if (o.widenFactor !== undefined) opts.widenFactor = o.widenFactor;
        if (o.key !== undefined) opts.key = o.key;
        if (o.prefix !== undefined) opts.prefix = o.prefix;
        if (o.z !== undefined) opts.z = o.z;
        if (o.batchSize !== undefined) opts.batchSize = o.batchSize;
        const r = await runCheckpointCka(opts);
        if (o.json) {
          process.stdout.write(JSON.stringify({ labels: r.labels, linear: r.linear, rbf: r.rbf }) + '\n');
          return;
        }
        process.stdout.write([
          `${r.labels.length} checkpoints x ${r.samples} tiles [${r.inputShape.join(', ')}] -> ${r.featureDim} features (${o.arch}, ${o.features})`,
          matrixTable('linear', r.labels, r.linear),
          matrixTable(`rbf ${o.threshold}`, r.labels, r.rbf),
          `wrote ${r.files.json}, ${r.files.linearPng}, ${r.files.rbfPng}`,
        ].join('\n\n') + '\n');
        return;
      }
      if (o.x === undefined || o.y === undefined) throw new Error('cka: expected --x and --y (two .npy representation sets), or --checkpoints DIR --input DATASET');
      const r = ckaOfFiles(o.x, o.y, {
        kernel: o.kernel, threshold: o.threshold, debiased: o.debiased ?? false,
        ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}),
      });
      if (o.json) {
        process.stdout.write(JSON.stringify({ cka: r.cka }) + '\n');
        return;
      }
      const kind = `${o.kernel === 'rbf' ? `RBF (threshold ${o.threshold})` : 'linear'} CKA, ${o.batchSize !== undefined ? `minibatch of ${o.batchSize} (unbiased HSIC)` : o.debiased ? 'debiased' : 'biased'}`;
      process.stdout.write([
        `X    ${o.x} [${r.xShape.join(', ')}]`,
        `Y    ${o.y} [${r.yShape.join(', ')}]`,
        `${kind}: ${r.cka.toFixed(6)}`,
      ].join('\n') + '\n');
    });
}
