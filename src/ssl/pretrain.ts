/**
 * `inkwell pretrain`: self-supervised pretraining of a 3D encoder on unlabelled scroll segments (and
 * fragments, labels ignored), as the reference study did: tiles from every source, two augmented views per tile, any
 * method of the registry, SGD/LARS/AdamW with warmup then cosine, gradient accumulation and clipping, optional
 * SWA/EMA of the encoder, through the one training loop (src/train/loop.ts). Every epoch ends in an atomic
 * checkpoint; `resume` continues from the latest one and
 * reproduces the uninterrupted run's losses on CPU; a non-finite loss stops the run before the optimiser
 * touches the weights, so the last checkpoint stays good.
 *
 * Data-parallel (src/train/ddp.ts): with RANK/WORLD_SIZE/... set (by `--nproc-per-node` or any launcher),
 * every worker takes a disjoint shard of the same seeded tile order, the models start from rank 0's weights,
 * gradients are averaged over the workers before each optimiser step, batch norm optionally spans the global
 * batch (SyncBatchNorm), and VICReg's variance and covariance terms see the embeddings of every worker. Rank 0
 * alone writes the run folder (config, metrics, TensorBoard, checkpoints); the others only read the checkpoint
 * rank 0 sends them when resuming, which works with any number of workers.
 */
import { noGrad } from '../torch/autograd.js';
import * as torch from '../torch/index.js';
import { optim, type Tensor } from '../torch/index.js';
import type { Module } from '../torch/nn/module.js';
import { referenceAugmentations, kaggleAugmentations } from '../data/augment/presets.js';
import type { AugmentConfig } from '../data/augment/types.js';
import { PrefetchPipeline } from '../data/pipeline.js';
import { tileSourceModule, type TileSourceOptions } from '../data/dataset-tile-source.js';
import { createEncoder } from '../models/registry.js';
import type { ResNet3D } from '../models/resnet3d.js';
import { type LoopOptions, type LoopResult, runTraining, type SetupContext, type TrainingTask } from '../train/loop.js';
import type { PretrainConfig } from './config.js';
import type { SslMethod } from './method.js';
import { collapseStatus, embeddingStd } from './monitor.js';
import { createMethod } from './registry.js';

export type PretrainOptions = LoopOptions;

export interface EpochSummary {
  epoch: number;
  loss: number;
  terms: Record<string, number>;
  embeddingStd: number;
  collapsed: boolean;
  tilesPerSecond: number;
  checkpoint: string;
}

export type PretrainResult = LoopResult<EpochSummary>;

export { NonFiniteLossError } from '../train/training-checkpoint.js';

/** An averaged copy of the encoder (SWA: equal weights from a start epoch; EMA: exponential decay). */
class AveragedEncoder {
  count = 0;
  constructor(
    readonly model: ResNet3D,
    private readonly decay: number | null,
  ) {
    model.requiresGrad_(false);
  }
  update(online: Module): void {
    const src = online.stateDict();
    const params = new Set(Array.from(this.model.namedParameters(), ([k]) => k));
    noGrad(() =>
      torch.tidy(() => {
        for (const [k, avg] of this.model.stateDict()) {
          const p = src.get(k)!;
          // Parameters are averaged; buffers (BN statistics, counters) follow the online network.
          if (!avg.isFloatingPoint() || !params.has(k)) avg.copy_(p);
          else if (this.decay === null) avg.lerp_(p, 1 / (this.count + 1));
          else avg.lerp_(p, this.count === 0 ? 1 : 1 - this.decay);
        }
      }),
    );
    this.count++;
  }
}

function augmentFor(cfg: PretrainConfig): AugmentConfig {
  // The augmentation's z-shift narrows the read range to the model's depth (22 -> 20 in the reference study).
  if (cfg.data.augment === 'reference') return referenceAugmentations({ depth: cfg.data.depth });
  // Batch mixing (the Kaggle preset's cutmix/mixup) mixes labels too: pretraining has none, so it keeps the
  // preset's per-tile augmentations only (docs/training-loop.md).
  const { mix: _labelsOnly, ...perTile } = kaggleAugmentations();
  return perTile;
}

function buildOptimizer(cfg: PretrainConfig, params: Tensor[], lr: number): optim.SGD | optim.LARS | optim.AdamW {
  const o = cfg.optim;
  switch (o.name) {
    case 'sgd':
      return new optim.SGD(params, { lr, momentum: o.momentum, nesterov: o.nesterov, weightDecay: o.weightDecay });
    case 'lars':
      return new optim.LARS(params, { lr, momentum: o.momentum, weightDecay: o.weightDecay, eta: o.eta });
    case 'adamw':
      return new optim.AdamW(params, { lr, weightDecay: o.weightDecay });
  }
}

/** The method's networks by name (encoder first), as checkpoints store them. */
function namedModules(method: SslMethod): Record<string, Module> {
  const out: Record<string, Module> = {};
  for (const name of method.modules.names()) out[name] = method.modules.get(name);
  return out;
}

export async function pretrain(cfg: PretrainConfig, opts: PretrainOptions = {}): Promise<PretrainResult> {
  return runTraining(cfg, opts, 'pretrain', (ctx) => pretrainTask(cfg, ctx));
}

/** Pretraining as the loop's adapter: the method's networks, two views per tile, its step and hooks. */
async function pretrainTask(cfg: PretrainConfig, ctx: SetupContext): Promise<TrainingTask<EpochSummary>> {
  const encoderOptions = { inChannels: cfg.model.inChannels, widenFactor: cfg.model.widenFactor };
  let first: ResNet3D | null = createEncoder(cfg.model.arch, encoderOptions);
  // What forward() returns: the classifier's outputs when the variant has one (the reference study's r3d-50
  // ends in a 2048 -> 512 fc, docs/reference-study.md), else the pooled features.
  const featureDim = first.options.numClasses ?? first.featureDim;
  const mapDim = first.featureDim;
  const makeEncoder = (): ResNet3D => {
    const e = first ?? createEncoder(cfg.model.arch, encoderOptions);
    first = null;
    return e;
  };
  const method = createMethod(cfg.method.name, {
    encoder: makeEncoder,
    featureDim,
    ...(cfg.method.projector ? { projector: cfg.method.projector } : {}),
    vicreg: cfg.method.vicreg,
    byol: cfg.method.byol,
    masked: {
      featureMap: (e, x) => (e as ResNet3D).forwardFeatures(x, { upTo: 'layer4' }).layer4!,
      inChannels: cfg.model.inChannels,
    },
    ...(cfg.method.name === 'masked' ? { featureDim: mapDim } : {}),
  });
  const averaged: { swa: AveragedEncoder | null; ema: AveragedEncoder | null } = { swa: null, ema: null };
  let pipeline: PrefetchPipeline | null = null;
  const release = async () => {
    await pipeline?.close();
    averaged.swa?.model.dispose();
    averaged.ema?.model.dispose();
    method.dispose();
  };
  try {
    const source: TileSourceOptions = {
      // Through JSON: drops the keys zod left undefined (and the options cross to the worker as JSON anyway).
      datasets: JSON.parse(JSON.stringify(cfg.data.datasets)) as TileSourceOptions['datasets'],
      tile: cfg.data.tile,
      stride: cfg.data.stride,
      erode: cfg.data.erode,
      depth: cfg.data.depth,
      augment: augmentFor(cfg),
      views: 2,
      seed: cfg.seed,
      ...(cfg.data.maxTiles === undefined ? {} : { maxTiles: cfg.data.maxTiles }),
    };
    pipeline = await PrefetchPipeline.open({
      source: { module: tileSourceModule, options: source as unknown as Record<string, never> },
      batchSize: ctx.localBatch,
      seed: cfg.seed,
      workers: cfg.data.workers,
      dropLast: true,
    });
    if (cfg.average.swa.enabled)
      averaged.swa = new AveragedEncoder(createEncoder(cfg.model.arch, encoderOptions), null);
    if (cfg.average.ema.enabled)
      averaged.ema = new AveragedEncoder(createEncoder(cfg.model.arch, encoderOptions), cfg.average.ema.decay);
  } catch (err) {
    await release();
    throw err;
  }
  const encoder = method.modules.get('encoder');
  const swaHolds = (epoch: number) =>
    averaged.swa !== null && cfg.average.swa.lr !== undefined && epoch >= cfg.average.swa.startEpoch;
  const dim = cfg.method.projector?.at(-1) ?? featureDim;
  const shape = [ctx.localBatch, cfg.model.inChannels, cfg.data.depth, cfg.data.tile, cfg.data.tile];
  const ratio = (std: number) => collapseStatus(std, dim, { minRatio: cfg.monitor.collapseRatio });
  return {
    metricKind: 'pretrain',
    module: method.modules,
    followers: [...method.followers],
    copies: [averaged.swa, averaged.ema].flatMap((a) => (a ? [a.model] : [])),
    pipeline,
    optimizer(globalBatch) {
      const lr = cfg.optim.lr * (cfg.optim.scaleLrByBatch ? globalBatch / 256 : 1);
      return {
        optimizer: buildOptimizer(cfg, method.modules.parameters(), lr),
        lr,
        scalesWithBatch: cfg.optim.scaleLrByBatch,
      };
    },
    schedule: (steps) => ({
      warmupSteps: Math.round(cfg.schedule.warmupEpochs * steps),
      totalSteps: Math.max(1, Math.round(cfg.schedule.cosineEpochs * steps)),
      startFactor: cfg.schedule.startFactor,
      etaMin: cfg.schedule.etaMin,
    }),
    train: () => method.train(true),
    beginEpoch(epoch, optimizer) {
      // SWA's constant learning rate from its start epoch (Lightning's StochasticWeightAveraging: swa_lrs).
      if (swaHolds(epoch)) for (const g of optimizer.paramGroups) g.lr = cfg.average.swa.lr!;
    },
    step(batch, at) {
      const B = batch.size;
      const v1 = ctx.rt.input(batch.arrays['view0'] as Float32Array, [B, ...shape.slice(1)]);
      const v2 = ctx.rt.input(batch.arrays['view1'] as Float32Array, [B, ...shape.slice(1)]);
      // The whole step (networks and loss) under the run's autocast, as the trainer did before the loop.
      const out = ctx.rt.forward(() => (at.gather ? method.step(v1, v2, at.gather) : method.step(v1, v2)));
      const terms = Object.fromEntries(Object.entries(out.terms).map(([k, v]) => [k, v.item()]));
      return { loss: out.loss, values: { ...terms, embedding_std: embeddingStd(out.embeddings) } };
    },
    stepRecord: (values) => ({ embedding_std_ratio: ratio(values['embedding_std']!).ratio }),
    schedulerSteps: (epoch) => !swaHolds(epoch),
    afterOptimizerStep(progress) {
      method.afterOptimizerStep(progress);
      averaged.ema?.update(encoder);
    },
    async endEpoch(stats) {
      if (averaged.swa && stats.epoch >= cfg.average.swa.startEpoch) averaged.swa.update(encoder);
      const { embedding_std: meanStd = Number.NaN, ...terms } = stats.means;
      const status = ratio(meanStd);
      const summary: EpochSummary = {
        epoch: stats.epoch,
        loss: stats.loss,
        terms,
        embeddingStd: meanStd,
        collapsed: status.collapsed,
        tilesPerSecond: stats.tilesPerSecond,
        checkpoint: stats.checkpoint,
      };
      return {
        summary,
        text:
          ` (${Object.entries(terms)
            .map(([k, v]) => `${k} ${v.toFixed(4)}`)
            .join(', ')}), embedding std ${meanStd.toFixed(4)} ` +
          `(${(100 * status.ratio).toFixed(0)}% of healthy), ${stats.tilesPerSecond.toFixed(1)} tiles/s`,
        record: { ...terms, embedding_std: meanStd, embedding_std_ratio: status.ratio },
        warnings: status.collapsed
          ? [
              `embeddings are collapsing: std ${meanStd.toFixed(5)} is ${(100 * status.ratio).toFixed(1)}% ` +
                `of the ${status.expected.toFixed(4)} of healthy ${dim}-d embeddings ` +
                `(threshold ${(100 * cfg.monitor.collapseRatio).toFixed(0)}%). ` +
                'Everything is mapping to the same point; ' +
                "VICReg's variance term (method.vicreg.stdCoeff) counters this.",
            ]
          : [],
      };
    },
    checkpoint: () => ({
      modules: {
        ...namedModules(method),
        ...(averaged.swa ? { swa_encoder: averaged.swa.model } : {}),
        ...(averaged.ema ? { ema_encoder: averaged.ema.model } : {}),
      },
      config: cfg,
      extra: {
        method_state: method.stateDict(),
        ...(averaged.swa ? { swa_count: averaged.swa.count } : {}),
        ...(averaged.ema ? { ema_count: averaged.ema.count } : {}),
      },
    }),
    restoreExtra(extra) {
      const methodState = extra.get('method_state');
      if (methodState instanceof Map && methodState.size > 0) method.loadStateDict(methodState as Map<string, Tensor>);
      for (const [key, avg] of [
        ['swa_count', averaged.swa],
        ['ema_count', averaged.ema],
      ] as const) {
        if (avg) avg.count = Number(extra.get(key) ?? 0);
      }
    },
    dispose: release,
  };
}
