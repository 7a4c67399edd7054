/**
 * Supervised ink training on labelled fragments, the two protocols of the reference study's question: a
 * frozen-encoder probe (encoder frozen, batch-norm statistics frozen, a light decoder trained) and full
 * fine-tuning (U-Net decoder over depth-pooled stages, output at full or reduced resolution). Loss: BCE + Dice
 * on the valid region with optional label smoothing; AdamW with warmup then cosine; cutmix/mixup
 * (src/data/augment/mix.ts); validation scores (F0.5 at the best threshold, AUC, precision, recall) on held-out
 * tiles. The epochs, checkpoints (segmentation checkpoints `inkwell infer` reads), resume and data-parallel
 * parts are the one training loop's (src/train/loop.ts); this file is its adapter.
 */
import {
  flipAugmentations,
  intensityAugmentations,
  scaleAugmentations,
  kaggleAugmentations,
  referenceAugmentations,
} from '../data/augment/presets.js';
import { mixBatch } from '../data/augment/mix.js';
import { Random } from '../data/augment/random.js';
import type { AugmentConfig, Crop, MixConfig } from '../data/augment/types.js';
import { detectLayout, SURFACE_Z_RANGE } from '../data/layout.js';
import { PrefetchPipeline, type Batch } from '../data/pipeline.js';
import { tileSourceModule, type TileDatasetSpec, type TileSourceOptions } from '../data/dataset-tile-source.js';
import { describeEncoderLoad, loadEncoderWeights } from '../models/encoder-weights.js';
import type { SegmentationModel } from '../models/decoders.js';
import * as torch from '../torch/index.js';
import { F, optim, type Tensor } from '../torch/index.js';
import { DEFAULT_DEVICE_CONFIG, DeviceRuntime } from '../train/device.js';
import { type LoopOptions, runTraining, type SetupContext, type TrainingTask } from '../train/loop.js';
import {
  buildSegmentationModel,
  segmentationCheckpointConfig,
  type SegmentationSpec,
} from '../train/segmentation-checkpoint.js';
import { scoreMaps, type ScoreResult } from '../eval/metrics.js';
import type { SupervisedConfig } from './config.js';

/**
 * As the pretraining options (src/train/loop.ts). Data-parallel: each worker trains on its shard of every
 * epoch's tiles; gradients are averaged before each optimiser step; rank 0 alone validates and writes the run
 * folder, and sends the checkpoint to the others when resuming.
 */
export type SupervisedOptions = LoopOptions;

export interface ValidationScores extends ScoreResult {
  loss: number;
  tiles: number;
}

export interface SupervisedEpoch {
  epoch: number;
  loss: number;
  val: ValidationScores | null;
  checkpoint: string;
}

export interface SupervisedResult {
  runDir: string;
  spec: SegmentationSpec;
  epochs: SupervisedEpoch[];
  /** Scores of the last validation. */
  final: ValidationScores | null;
  lastCheckpoint: string | null;
}

export { NonFiniteLossError } from '../train/training-checkpoint.js';

/** The model's input as the checkpoint will describe it. */
export function segmentationSpecOf(cfg: SupervisedConfig): SegmentationSpec {
  const first = cfg.data.train[0]!;
  return {
    arch: cfg.model.arch,
    inChannels: cfg.model.inChannels,
    widenFactor: cfg.model.widenFactor,
    decoder: cfg.model.decoder,
    output: cfg.model.output,
    depthPool: cfg.model.depthPool,
    depth: cfg.data.depth,
    z: first.z ?? [...SURFACE_Z_RANGE],
    tile: cfg.data.tile,
    normalize: first.normalize ?? cfg.data.normalize,
  };
}

function datasets(list: SupervisedConfig['data']['train'], normalize: string): TileDatasetSpec[] {
  // Through JSON: drops keys zod left undefined; the options cross to worker threads as JSON anyway.
  return JSON.parse(JSON.stringify(list.map((d) => ({ normalize, ...d })))) as TileDatasetSpec[];
}

function augmentation(cfg: SupervisedConfig): AugmentConfig | null {
  const base = baseAugmentation(cfg);
  if (cfg.data.zFlip === 0) return base;
  const zflip = { type: 'zflip', p: cfg.data.zFlip } as const;
  return base === null
    ? { ops: [zflip, { type: 'normalize', mean: 0, std: 1, maxPixelValue: 255 }] }
    : { ...base, ops: [zflip, ...base.ops] };
}

function baseAugmentation(cfg: SupervisedConfig): AugmentConfig | null {
  switch (cfg.data.augment) {
    case 'kaggle':
      return kaggleAugmentations();
    case 'reference':
      return referenceAugmentations({ depth: cfg.data.depth });
    case 'flips':
      return flipAugmentations();
    case 'intensity':
      return intensityAugmentations();
    case 'scale':
      return scaleAugmentations();
    case 'none':
      return null;
  }
}

/**
 * The batch mixing the run applies: train.cutmix / train.mixup (probabilities per sample) where set, else the
 * augmentation preset's own `mix` (the Kaggle preset's), else none. The per-tile pipeline never sees `mix`.
 */
export function mixSettings(cfg: SupervisedConfig): MixConfig {
  const preset = augmentation(cfg)?.mix ?? {};
  return {
    cutmixP: cfg.train.cutmix ?? preset.cutmixP ?? 0,
    mixupP: cfg.train.mixup ?? preset.mixupP ?? 0,
    cutmixAlpha: cfg.train.cutmixAlpha ?? preset.cutmixAlpha ?? 1,
    mixupAlpha: cfg.train.mixupAlpha ?? preset.mixupAlpha ?? 0.4,
  };
}

/** Area-downsamples [N,1,H,W] maps to the model's output grid (no-op at full resolution). */
function toOutputGrid(t: Tensor, outH: number, outW: number): Tensor {
  return t.shape[2] === outH && t.shape[3] === outW ? t : F.interpolate(t, { size: [outH, outW], mode: 'area' });
}

interface BatchArrays {
  image: Float32Array;
  label: Float32Array;
  valid: Uint8Array;
}

interface BatchTensors {
  x: Tensor;
  y: Tensor;
  valid: Tensor;
}

function batchTensors(a: BatchArrays, size: number, cfg: SupervisedConfig, rt: DeviceRuntime): BatchTensors {
  const T = cfg.data.tile;
  return {
    x: rt.input(a.image, [size, cfg.model.inChannels, cfg.data.depth, T, T]),
    y: rt.input(a.label, [size, 1, T, T]),
    valid: rt.input(a.valid, [size, 1, T, T]).to('float32'),
  };
}

/** The model's logits for `x`, under the run's autocast; as float32, so that the loss and scores are fp32. */
function logitsOf(model: SegmentationModel, x: Tensor, rt: DeviceRuntime): Tensor {
  return rt.forward(() => model.forward(x)).float();
}

function arraysOf(batch: Batch): BatchArrays {
  return {
    image: batch.arrays['image'] as Float32Array,
    label: batch.arrays['label'] as Float32Array,
    valid: batch.arrays['valid'] as Uint8Array,
  };
}

/**
 * Cutmix/mixup over the batch with src/data/augment/mix.ts (each sample with a random partner), drawn from a
 * generator seeded by (seed, epoch, batch, rank) so that a resumed run mixes exactly as the original did. The
 * channels and slices of a tile are one crop of C x D planes: a cut takes the same box from every plane.
 */
function mixArrays(a: BatchArrays, size: number, cfg: SupervisedConfig, mix: MixConfig, seed: number): BatchArrays {
  const T = cfg.data.tile;
  const plane = T * T;
  const depth = cfg.model.inChannels * cfg.data.depth;
  const crops: Crop[] = Array.from({ length: size }, (_, i) => ({
    data: a.image.subarray(i * depth * plane, (i + 1) * depth * plane),
    depth,
    height: T,
    width: T,
    label: a.label.subarray(i * plane, (i + 1) * plane),
    mask: a.valid.subarray(i * plane, (i + 1) * plane),
  }));
  const mixed = mixBatch(crops, mix, new Random(seed)).crops;
  const out: BatchArrays = {
    image: new Float32Array(a.image.length),
    label: new Float32Array(a.label.length),
    valid: new Uint8Array(a.valid.length),
  };
  mixed.forEach((c, i) => {
    out.image.set(c.data, i * depth * plane);
    out.label.set(c.label!, i * plane);
    out.valid.set(c.mask!, i * plane);
  });
  return out;
}

/** 0.5 BCE + 0.5 Dice (weights from the config) on the valid pixels of the output grid. */
function inkLoss(logits: Tensor, target: Tensor, valid: Tensor, cfg: SupervisedConfig): Tensor {
  const [, , h, w] = logits.shape as [number, number, number, number];
  const y = toOutputGrid(target, h, w);
  const v = toOutputGrid(valid, h, w).gt(0.999).to('float32');
  const count = v.sum().clamp(1, null);
  let total: Tensor | null = null;
  if (cfg.loss.bce > 0) {
    const smoothed = cfg.loss.labelSmoothing > 0 ? F.smoothBinaryLabels(y, cfg.loss.labelSmoothing) : y;
    const bce = F.binaryCrossEntropyWithLogits(logits, smoothed, { weight: v, reduction: 'sum' }).div(count);
    total = bce.mul(cfg.loss.bce);
  }
  if (cfg.loss.dice > 0) {
    const p = logits.sigmoid().mul(v);
    const yv = y.mul(v);
    // Soft Dice over the batch (Milletari et al. 2016), smoothed by 1 so empty tiles do not divide by zero.
    const dice = p.mul(yv).sum().mul(2).add(1).div(p.sum().add(yv.sum()).add(1)).neg().add(1);
    total = total ? total.add(dice.mul(cfg.loss.dice)) : dice.mul(cfg.loss.dice);
  }
  if (!total) throw new Error('supervised: loss.bce and loss.dice are both 0');
  return total;
}

/** Runs the model over every validation tile; scores the valid pixels (probabilities upsampled to the tile). */
export async function validate(
  model: SegmentationModel,
  pipeline: PrefetchPipeline,
  cfg: SupervisedConfig,
  rt = DeviceRuntime.open(DEFAULT_DEVICE_CONFIG, 'validate'),
): Promise<ValidationScores> {
  model.eval();
  const preds: Float32Array[] = [];
  const labels: Uint8Array[] = [];
  let lossSum = 0;
  let batches = 0;
  let tiles = 0;
  for await (const batch of pipeline.epoch(0)) {
    torch.tidy(() =>
      torch.noGrad(() => {
        const t = batchTensors(arraysOf(batch), batch.size, cfg, rt);
        const logits = logitsOf(model, t.x, rt);
        lossSum += inkLoss(logits, t.y, t.valid, cfg).item();
        const T = cfg.data.tile;
        const prob =
          logits.shape[2] === T
            ? logits.sigmoid()
            : F.interpolate(logits, { size: [T, T], mode: 'bilinear', alignCorners: false }).sigmoid();
        const keep = t.valid.gt(0.5);
        preds.push(torch.maskedSelect(prob, keep).toTypedArray() as Float32Array);
        labels.push(
          Uint8Array.from(torch.maskedSelect(t.y, keep).toTypedArray() as Float32Array, (v) => (v > 0.5 ? 1 : 0)),
        );
      }),
    );
    batches++;
    tiles += batch.size;
    await new Promise<void>((r) => setImmediate(r));
  }
  if (tiles === 0) throw new Error('validate: no validation tiles');
  const n = preds.reduce((s, p) => s + p.length, 0);
  const pred = new Float32Array(n);
  const lab = new Uint8Array(n);
  let o = 0;
  for (let i = 0; i < preds.length; i++) {
    pred.set(preds[i]!, o);
    lab.set(labels[i]!, o);
    o += preds[i]!.length;
  }
  const scores = scoreMaps(pred, lab, null, n, 1, { bestThreshold: true });
  return { ...scores, loss: lossSum / batches, tiles };
}

function tileSource(cfg: SupervisedConfig, which: 'train' | 'val'): TileSourceOptions {
  const val = which === 'val';
  const maxTiles = val ? cfg.data.maxValTiles : cfg.data.maxTiles;
  return {
    datasets: datasets(val ? cfg.data.val : cfg.data.train, cfg.data.normalize),
    tile: cfg.data.tile,
    stride: val ? (cfg.data.valStride ?? Math.max(1, cfg.data.tile >> 1)) : cfg.data.stride,
    erode: cfg.data.erode,
    minMaskFraction: cfg.data.minMaskFraction,
    depth: cfg.data.depth,
    augment: val ? null : augmentation(cfg),
    views: 1,
    seed: cfg.seed,
    requireInk: val && cfg.data.valRequireInk,
    ...(maxTiles === undefined ? {} : { maxTiles }),
  };
}

/** The label files a dataset's layout looks for (src/data/layout.ts), for messages. */
function labelNames(layout: string, id: string): string {
  if (layout === 'zarr') return 'none: Zarr datasets carry no ink labels';
  if (layout === 'scroll-segment') return `${id}_inklabels.png or one file named *inklabels*`;
  return 'inklabels.png or one file named *inklabels*';
}

/** Labelled training needs labels on every training and validation dataset: all-zero targets are no default. */
async function checkLabels(cfg: SupervisedConfig): Promise<void> {
  for (const [which, list] of [
    ['training', cfg.data.train],
    ['validation', cfg.data.val],
  ] as const) {
    for (const spec of list) {
      for (const ds of (await detectLayout(spec.path)).datasets) {
        if (ds.layout !== 'zarr' && ds.inklabels) continue;
        throw new Error(
          `${cfg.name}: the ${which} dataset ${ds.root} has no ink labels ` +
            `(looked for ${labelNames(ds.layout, ds.id)}); ` +
            `labelled training needs them${which === 'validation' ? ', to score validation' : ''}`,
        );
      }
    }
  }
}

export async function trainSupervised(cfg: SupervisedConfig, opts: SupervisedOptions = {}): Promise<SupervisedResult> {
  let final: ValidationScores | null = null;
  const spec = segmentationSpecOf(cfg);
  const r = await runTraining(cfg, opts, cfg.name, (ctx) =>
    supervisedTask(cfg, spec, ctx, (v) => {
      final = v;
    }),
  );
  return { runDir: r.runDir, spec, epochs: r.epochs, final, lastCheckpoint: r.lastCheckpoint };
}

/** Probe or fine-tuning as the loop's adapter: the segmentation model, labelled tiles, BCE + Dice, validation. */
async function supervisedTask(
  cfg: SupervisedConfig,
  spec: SegmentationSpec,
  ctx: SetupContext,
  validated: (v: ValidationScores) => void,
): Promise<TrainingTask<SupervisedEpoch>> {
  await checkLabels(cfg);
  const model = buildSegmentationModel(spec);
  let trainPipe: PrefetchPipeline | null = null;
  let valPipe: PrefetchPipeline | null = null;
  const release = async () => {
    await trainPipe?.close();
    await valPipe?.close();
    model.dispose();
  };
  try {
    if (cfg.encoder.weights) {
      const report = await loadEncoderWeights(model.encoder, cfg.encoder.weights, {
        strict: cfg.encoder.strict,
        ...(cfg.encoder.key === undefined ? {} : { key: cfg.encoder.key }),
      });
      ctx.log(`${cfg.name}: encoder: ${describeEncoderLoad(report)}`);
    }
    if (cfg.encoder.freeze) model.encoder.requiresGrad_(false);
    trainPipe = await PrefetchPipeline.open({
      source: { module: tileSourceModule, options: tileSource(cfg, 'train') as unknown as Record<string, never> },
      batchSize: ctx.localBatch,
      seed: cfg.seed,
      workers: cfg.data.workers,
      dropLast: true,
    });
    if (cfg.data.val.length && ctx.isMain) {
      valPipe = await PrefetchPipeline.open({
        source: { module: tileSourceModule, options: tileSource(cfg, 'val') as unknown as Record<string, never> },
        batchSize: cfg.train.batchSize,
        seed: cfg.seed,
        workers: 0,
      });
    }
  } catch (err) {
    await release();
    throw err;
  }
  const mix = mixSettings(cfg);
  const mixing = (mix.cutmixP ?? 0) > 0 || (mix.mixupP ?? 0) > 0;
  return {
    metricKind: 'train',
    module: model,
    followers: [],
    copies: [],
    pipeline: trainPipe,
    optimizer: () => {
      // Built after the loop moved the model to its device: the trainable tensors as they are there.
      const params = model.parameters().filter((p) => p.requiresGrad);
      return {
        optimizer:
          cfg.optim.name === 'adamw'
            ? new optim.AdamW(params, { lr: cfg.optim.lr, weightDecay: cfg.optim.weightDecay })
            : new optim.SGD(params, {
                lr: cfg.optim.lr,
                momentum: cfg.optim.momentum,
                weightDecay: cfg.optim.weightDecay,
              }),
        lr: cfg.optim.lr,
        scalesWithBatch: false,
      };
    },
    schedule(steps) {
      const total = Math.max(1, steps * cfg.train.epochs);
      return {
        warmupSteps: Math.max(0, Math.min(Math.round(cfg.schedule.warmupEpochs * steps), total - 1)),
        totalSteps: total,
        startFactor: cfg.schedule.startFactor,
        etaMin: cfg.schedule.etaMin,
      };
    },
    train() {
      model.train();
      if (cfg.encoder.freeze) model.encoder.eval(); // frozen batch-norm statistics
    },
    step(batch, at) {
      const seed = cfg.seed * 7919 + at.epoch * 100_003 + batch.index + at.rank * 1_000_003;
      const arrays = mixing ? mixArrays(arraysOf(batch), batch.size, cfg, mix, seed) : arraysOf(batch);
      const t = batchTensors(arrays, batch.size, cfg, ctx.rt);
      return { loss: inkLoss(logitsOf(model, t.x, ctx.rt), t.y, t.valid, cfg) };
    },
    async endEpoch(stats, logRecord) {
      let val: ValidationScores | null = null;
      if (valPipe && (stats.epoch % cfg.train.valEvery === 0 || stats.epoch === cfg.train.epochs)) {
        val = await validate(model, valPipe, cfg, ctx.rt);
        validated(val);
        logRecord('val', stats.epoch, {
          f05: val.f05,
          auc: val.auc ?? null,
          precision: val.precision,
          recall: val.recall,
          iou: val.iou,
          dice: val.dice,
          threshold: val.threshold,
          loss: val.loss,
        });
      }
      return {
        summary: { epoch: stats.epoch, loss: stats.loss, val, checkpoint: stats.checkpoint },
        record: {},
        text: val
          ? `, val F0.5 ${val.f05.toFixed(3)} (threshold ${val.threshold.toFixed(2)}), ` +
            `AUC ${val.auc === null ? '-' : val.auc.toFixed(3)}, ` +
            `P ${val.precision.toFixed(3)}, R ${val.recall.toFixed(3)}`
          : '',
      };
    },
    checkpoint: () => ({
      modules: { encoder: model.encoder, decoder: model.decoder },
      config: segmentationCheckpointConfig(cfg, spec),
    }),
    dispose: release,
  };
}
