/**
 * Supervised ink training on labelled fragments, the two protocols of the reference study's question: a frozen-encoder
 * probe (encoder frozen, batch-norm statistics frozen, a light decoder trained) and full fine-tuning (U-Net
 * decoder over depth-pooled stages, output at full or reduced resolution). Loss: BCE + Dice on the valid
 * region with optional label smoothing; AdamW with warmup then cosine; cutmix/mixup; a checkpoint per epoch
 * (a segmentation checkpoint `inkwell infer` reads) and resume; validation scores (F0.5 at the best threshold,
 * AUC, precision, recall) on held-out tiles.
 */
import { join, resolve } from 'node:path';
import { kaggleAugmentations, referenceAugmentations } from '../data/augment/presets.js';
import type { AugmentConfig } from '../data/augment/types.js';
import { PrefetchPipeline, type Batch } from '../data/pipeline.js';
import { createRng } from '../data/rng.js';
import { tileSourceModule, type TileDatasetSpec, type TileSourceOptions } from '../data/dataset-tile-source.js';
import { describeEncoderLoad, loadEncoderWeights } from '../models/encoder-weights.js';
import type { SegmentationModel } from '../models/decoders.js';
import * as torch from '../torch/index.js';
import { F, optim, type Tensor } from '../torch/index.js';
import { loadTrainingCheckpoint, NonFiniteLossError } from '../train/training-checkpoint.js';
import { type DataParallel, describeReducer, withDataParallel } from '../train/ddp.js';
import { RunDir } from '../train/run-dir.js';
import { buildSegmentationModel, saveSegmentationCheckpoint, type SegmentationSpec } from '../train/segmentation-checkpoint.js';
import { progress } from '../util/progress.js';
import { scoreMaps, type ScoreResult } from '../eval/metrics.js';
import type { SupervisedConfig } from './config.js';

export interface SupervisedOptions {
  resume?: boolean;
  overwrite?: boolean;
  progress?: boolean;
  log?: (line: string) => void;
  /** Stop after this many epochs in this invocation (the schedule still spans train.epochs). */
  maxEpochs?: number;
  /**
   * The data-parallel group to train in; default DataParallel.fromEnv() (RANK, WORLD_SIZE, ... as launchers set
   * them; null for a single process). Each worker trains on its shard of every epoch's tiles; gradients are
   * averaged before each optimiser step; rank 0 alone validates and writes the run folder. Resuming reads the
   * checkpoint from the run folder on every rank (shared disk across nodes).
   */
  dataParallel?: DataParallel | null;
}

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
    arch: cfg.model.arch, inChannels: cfg.model.inChannels, widenFactor: cfg.model.widenFactor, decoder: cfg.model.decoder,
    output: cfg.model.output, depthPool: cfg.model.depthPool, depth: cfg.data.depth, z: first.z ?? [14, 36],
    tile: cfg.data.tile, normalize: first.normalize ?? 'none',
  };
}

function datasets(list: SupervisedConfig['data']['train']): TileDatasetSpec[] {
  // Through JSON: drops keys zod left undefined; the options cross to worker threads as JSON anyway.
  return JSON.parse(JSON.stringify(list)) as TileDatasetSpec[];
}

function augmentation(cfg: SupervisedConfig) {
  switch (cfg.data.augment) {
    case 'kaggle': return kaggleAugmentations();
    case 'reference': return referenceAugmentations({ depth: cfg.data.depth });
    case 'flips': return {
      ops: [{ type: 'hflip', p: 0.5 }, { type: 'vflip', p: 0.5 }, { type: 'rot90', p: 0.5 }, { type: 'normalize', mean: 0, std: 1, maxPixelValue: 255 }],
    } satisfies AugmentConfig;
    case 'none': return null;
  }
}

/** Area-downsamples [N,1,H,W] maps to the model's output grid (no-op at full resolution). */
function toOutputGrid(t: Tensor, outH: number, outW: number): Tensor {
  return t.shape[2] === outH && t.shape[3] === outW ? t : F.interpolate(t, { size: [outH, outW], mode: 'area' });
}

interface BatchTensors {
  x: Tensor;
  y: Tensor;
  valid: Tensor;
}

function batchTensors(batch: Batch, cfg: SupervisedConfig): BatchTensors {
  const B = batch.size;
  const T = cfg.data.tile;
  return {
    x: torch.fromTypedArray(batch.arrays['image'] as Float32Array, [B, cfg.model.inChannels, cfg.data.depth, T, T]),
    y: torch.fromTypedArray(batch.arrays['label'] as Float32Array, [B, 1, T, T]),
    valid: torch.fromTypedArray(batch.arrays['valid'] as Uint8Array, [B, 1, T, T]).to('float32'),
  };
}

/**
 * Cutmix or mixup across the batch (each sample with its neighbour), drawn from a generator seeded by
 * (seed, epoch, batch) so that a resumed run mixes exactly as the original did.
 */
function mixBatch(t: BatchTensors, cfg: SupervisedConfig, seed: number): BatchTensors {
  const rng = createRng(seed);
  const B = t.x.shape[0]!;
  if (B < 2) return t;
  const pick = rng.uniform(0, 1);
  const partner = (v: Tensor) => torch.roll(v, 1, 0);
  if (pick < cfg.train.cutmix) {
    // Yun et al. 2019: a box of area (1 - lam) from the partner, lam ~ U(0, 1) (Beta(1, 1)).
    const T = cfg.data.tile;
    const lam = rng.uniform(0, 1);
    const side = Math.floor(T * Math.sqrt(1 - lam));
    const cy = rng.int(T);
    const cx = rng.int(T);
    const y0 = Math.max(0, cy - (side >> 1));
    const y1 = Math.min(T, cy + (side >> 1));
    const x0 = Math.max(0, cx - (side >> 1));
    const x1 = Math.min(T, cx + (side >> 1));
    const box = new Float32Array(T * T);
    for (let y = y0; y < y1; y++) box.fill(1, y * T + x0, y * T + x1);
    const m2 = torch.fromTypedArray(box, [1, 1, T, T]);
    const paste = (v: Tensor, m: Tensor) => v.mul(m.neg().add(1)).add(partner(v).mul(m));
    return { x: paste(t.x, m2.unsqueeze(2)), y: paste(t.y, m2), valid: paste(t.valid, m2) };
  }
  if (pick < cfg.train.cutmix + cfg.train.mixup) {
    // Zhang et al. 2018 draw lam from a U-shaped Beta(a, a); here the arcsine law, Beta(0.5, 0.5), by inversion.
    const u = rng.uniform(0, 1);
    const lam = 0.5 - 0.5 * Math.cos(Math.PI * u);
    const mix = (v: Tensor) => v.mul(lam).add(partner(v).mul(1 - lam));
    return { x: mix(t.x), y: mix(t.y), valid: t.valid.mul(partner(t.valid)) };
  }
  return t;
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
export async function validate(model: SegmentationModel, pipeline: PrefetchPipeline, cfg: SupervisedConfig): Promise<ValidationScores> {
  model.eval();
  const preds: Float32Array[] = [];
  const labels: Uint8Array[] = [];
  let lossSum = 0;
  let batches = 0;
  let tiles = 0;
  for await (const batch of pipeline.epoch(0)) {
    torch.tidy(() => torch.noGrad(() => {
      const t = batchTensors(batch, cfg);
      const logits = model.forward(t.x);
      lossSum += inkLoss(logits, t.y, t.valid, cfg).item();
      const T = cfg.data.tile;
      const prob = logits.shape[2] === T ? logits.sigmoid() : F.interpolate(logits, { size: [T, T], mode: 'bilinear', alignCorners: false }).sigmoid();
      const keep = t.valid.gt(0.5);
      preds.push(torch.maskedSelect(prob, keep).toTypedArray() as Float32Array);
      labels.push(Uint8Array.from(torch.maskedSelect(t.y, keep).toTypedArray() as Float32Array, (v) => (v > 0.5 ? 1 : 0)));
    }));
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
    datasets: datasets(val ? cfg.data.val : cfg.data.train),
    tile: cfg.data.tile, stride: val ? cfg.data.valStride ?? Math.max(1, cfg.data.tile >> 1) : cfg.data.stride, erode: cfg.data.erode,
    depth: cfg.data.depth, augment: val ? null : augmentation(cfg), views: 1, seed: cfg.seed,
    requireInk: val && cfg.data.valRequireInk,
    ...(maxTiles === undefined ? {} : { maxTiles }),
  };
}

export async function trainSupervised(cfg: SupervisedConfig, opts: SupervisedOptions = {}): Promise<SupervisedResult> {
  return withDataParallel(opts.dataParallel, cfg.distributed, (dp) => train(cfg, opts, dp));
}

async function train(cfg: SupervisedConfig, opts: SupervisedOptions, dp: DataParallel | null): Promise<SupervisedResult> {
  const isMain = dp === null || dp.isMain;
  const log = isMain ? opts.log ?? ((line: string) => process.stderr.write(line + '\n')) : () => undefined;
  if (cfg.train.threads) torch.setNumThreads(cfg.train.threads);
  // Only rank 0 owns the run folder; the others learn from it what to resume.
  let run: RunDir | null = null;
  let setupError: unknown = null;
  try {
    if (isMain) {
      run = RunDir.open(cfg.out, cfg.name, { resume: opts.resume ?? false, overwrite: opts.overwrite ?? false });
      await run.saveConfig(cfg);
    }
  } catch (err) {
    setupError = err;
  }
  if (dp) await dp.agree('opening the run folder', setupError);
  else if (setupError) throw setupError;
  torch.manualSeed(cfg.seed);
  const spec = segmentationSpecOf(cfg);
  const model = buildSegmentationModel(spec);
  let trainPipe: PrefetchPipeline | null = null;
  let valPipe: PrefetchPipeline | null = null;
  let optimizer: optim.AdamW | optim.SGD | null = null;
  try {
    if (cfg.encoder.weights) {
      const report = await loadEncoderWeights(model.encoder, cfg.encoder.weights, {
        strict: cfg.encoder.strict, ...(cfg.encoder.key === undefined ? {} : { key: cfg.encoder.key }),
      });
      log(`${cfg.name}: encoder: ${describeEncoderLoad(report)}`);
    }
    if (cfg.encoder.freeze) model.encoder.requiresGrad_(false);
    if (dp && cfg.distributed.syncBatchNorm) dp.convertSyncBatchNorm(model);
    const params = model.parameters().filter((p) => p.requiresGrad);
    trainPipe = await PrefetchPipeline.open({
      source: { module: tileSourceModule, options: tileSource(cfg, 'train') as unknown as Record<string, never> },
      batchSize: cfg.train.batchSize, seed: cfg.seed, workers: cfg.data.workers, dropLast: true,
    });
    if (cfg.data.val.length && isMain) {
      valPipe = await PrefetchPipeline.open({
        source: { module: tileSourceModule, options: tileSource(cfg, 'val') as unknown as Record<string, never> },
        batchSize: cfg.train.batchSize, seed: cfg.seed, workers: 0,
      });
    }
    const all = Array.from({ length: trainPipe.length }, (_, i) => i);
    const batchesPerEpoch = trainPipe.batchesPerEpoch(dp ? dp.shard(all) : all);
    if (batchesPerEpoch === 0) {
      throw new Error(`${cfg.name}: the training sets give ${trainPipe.length} tiles, fewer than one batch of ${cfg.train.batchSize}${dp ? ` on each of ${dp.worldSize} workers` : ''}`);
    }
    const accumulation = cfg.train.gradAccumulation;
    const optStepsPerEpoch = Math.ceil(batchesPerEpoch / accumulation);
    optimizer = cfg.optim.name === 'adamw'
      ? new optim.AdamW(params, { lr: cfg.optim.lr, weightDecay: cfg.optim.weightDecay })
      : new optim.SGD(params, { lr: cfg.optim.lr, momentum: cfg.optim.momentum, weightDecay: cfg.optim.weightDecay });
    const warmupSteps = Math.min(Math.round(cfg.schedule.warmupEpochs * optStepsPerEpoch), optStepsPerEpoch * cfg.train.epochs - 1);
    const scheduler = new optim.LinearWarmupCosine(optimizer, {
      warmupSteps: Math.max(0, warmupSteps), totalSteps: Math.max(1, optStepsPerEpoch * cfg.train.epochs),
      startFactor: cfg.schedule.startFactor, etaMin: cfg.schedule.etaMin,
    });
    let startEpoch = 1;
    let optStep = 0;
    let lastCheckpoint: string | null = null;
    if (opts.resume) {
      const found = run?.latestCheckpoint()?.epoch ?? 0;
      const [epoch] = dp ? await dp.broadcastNumbers([found], 0, 'the epoch to resume from') : [found];
      if (epoch) {
        const path = RunDir.checkpointPathIn(join(cfg.out, cfg.name), epoch);
        const restored = await loadTrainingCheckpoint(path, { modules: { encoder: model.encoder, decoder: model.decoder }, optimizer, scheduler });
        startEpoch = restored.epoch + 1;
        optStep = restored.step;
        lastCheckpoint = path;
        log(`${cfg.name}: resuming from epoch ${restored.epoch} (${path})`);
      }
    }
    if (dp) {
      await dp.broadcastModules(model);
      dp.attach(model, {
        findUnusedParameters: cfg.distributed.findUnusedParameters,
        onReady: (info) => log(`${cfg.name}: ${describeReducer(info)}`),
      });
    }
    const epochs: SupervisedEpoch[] = [];
    let final: ValidationScores | null = null;
    const lastEpoch = Math.min(cfg.train.epochs, startEpoch - 1 + (opts.maxEpochs ?? Infinity));
    for (let epoch = startEpoch; epoch <= lastEpoch; epoch++) {
      model.train();
      if (cfg.encoder.freeze) model.encoder.eval(); // frozen batch-norm statistics
      const order = createRng(cfg.seed * 100_003 + epoch).shuffle([...all]);
      const bar = progress(`${cfg.name} epoch ${epoch}/${cfg.train.epochs}`, batchesPerEpoch, { unit: 'batches', ...(!isMain ? { enabled: false } : opts.progress === undefined ? {} : { enabled: opts.progress }) });
      let lossSum = 0;
      let micro = 0;
      try {
        for await (const batch of trainPipe.epoch(epoch, dp ? dp.shard(order) : order)) {
          let loss: number;
          let update: boolean;
          {
            using _step = torch.scope();
            const where = `epoch ${epoch}, batch ${batch.index + 1}`;
            const forward = () => {
              const t = mixBatch(batchTensors(batch, cfg), cfg, cfg.seed * 7919 + epoch * 100_003 + batch.index + (dp ? dp.rank * 1_000_003 : 0));
              return inkLoss(model.forward(t.x), t.y, t.valid, cfg);
            };
            const l = dp ? dp.guard(`forward of ${where}`, forward) : forward();
            // Every worker sees the same (averaged) loss, so a NaN anywhere stops them all before any update.
            loss = dp ? (await dp.allreduceNumbers([l.item()], 'avg', 'the loss'))[0]! : l.item();
            if (!Number.isFinite(loss)) {
              throw new NonFiniteLossError(`${cfg.name}: the loss became ${loss} at epoch ${epoch}, batch ${batch.index + 1}/${batchesPerEpoch}; stopped before updating the weights. The last good checkpoint is ${lastCheckpoint ?? '(none yet)'}.`);
            }
            micro++;
            // Gradients of every worker are averaged in the backward before each optimiser step (DDP's no_sync on the others).
            update = micro % accumulation === 0 || micro === batchesPerEpoch;
            const scaled = accumulation > 1 ? l.div(accumulation) : l;
            if (dp) await dp.backward(scaled, { sync: update, op: `backward of ${where}` });
            else scaled.backward();
          }
          if (update) {
            torch.tidy(() => {
              if (cfg.train.gradClip !== null) optim.clipGradNorm_(params, cfg.train.gradClip);
              optimizer!.step();
              optimizer!.zeroGrad();
            });
            scheduler.step();
            optStep++;
          }
          lossSum += loss;
          run?.log('train', (epoch - 1) * batchesPerEpoch + micro, { epoch, loss, lr: optimizer.paramGroups[0]!.lr });
          bar.tick(1, `loss ${loss.toFixed(4)}`);
          await new Promise<void>((r) => setImmediate(r));
        }
      } finally {
        bar.stop();
      }
      let val: ValidationScores | null = null;
      if (valPipe && (epoch % cfg.train.valEvery === 0 || epoch === cfg.train.epochs)) {
        val = await validate(model, valPipe, cfg);
        final = val;
        run?.log('val', epoch, { f05: val.f05, auc: val.auc ?? null, precision: val.precision, recall: val.recall, iou: val.iou, dice: val.dice, threshold: val.threshold, loss: val.loss });
      }
      const path = RunDir.checkpointPathIn(join(cfg.out, cfg.name), epoch);
      if (run) {
        await saveSegmentationCheckpoint(path, model, spec, { epoch, step: optStep, optimizer, scheduler, config: cfg });
        run.prune(cfg.checkpoint.keepLast, cfg.checkpoint.keepEvery);
      }
      if (dp) await dp.barrier(); // the others wait for rank 0's validation and checkpoint
      lastCheckpoint = path;
      const mean = lossSum / Math.max(1, micro);
      epochs.push({ epoch, loss: mean, val, checkpoint: path });
      run?.log('train_epoch', epoch, { loss: mean });
      log(`${cfg.name} epoch ${epoch}/${cfg.train.epochs}: loss ${mean.toFixed(4)}` +
        (val ? `, val F0.5 ${val.f05.toFixed(3)} (threshold ${val.threshold.toFixed(2)}), AUC ${val.auc === null ? '-' : val.auc.toFixed(3)}, P ${val.precision.toFixed(3)}, R ${val.recall.toFixed(3)}` : '') +
        ` -> ${path}`);
    }
    return { runDir: resolve(cfg.out, cfg.name), spec, epochs, final, lastCheckpoint: lastCheckpoint ?? run?.latestCheckpoint()?.path ?? null };
  } finally {
    await trainPipe?.close();
    await valPipe?.close();
    run?.close();
    optimizer?.dispose();
    model.dispose();
  }
}
