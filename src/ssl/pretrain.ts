/**
 * `inkwell pretrain`: self-supervised pretraining of a 3D encoder on unlabelled scroll segments (and
 * fragments, labels ignored), as the seed did: tiles from every source, two augmented views per tile, any
 * method of the registry, SGD/LARS/AdamW with warmup then cosine, gradient accumulation and clipping, optional
 * SWA/EMA of the encoder. Every epoch ends in an atomic checkpoint; `resume` continues from the latest one and
 * reproduces the uninterrupted run's losses on CPU; a non-finite loss stops the run before the optimiser
 * touches the weights, so the last checkpoint stays good.
 */
import { noGrad } from '../torch/autograd.js';
import * as torch from '../torch/index.js';
import { optim, type Tensor } from '../torch/index.js';
import type { Module } from '../torch/nn/module.js';
import { seedAugmentations, kaggleAugmentations } from '../data/augment/presets.js';
import { PrefetchPipeline } from '../data/pipeline.js';
import { createRng } from '../data/rng.js';
import { tileSourceModule, type TileSourceOptions } from '../data/tile-source.js';
import { createEncoder } from '../models/registry.js';
import type { ResNet3D } from '../models/resnet3d.js';
import { loadTrainingCheckpoint, saveTrainingCheckpoint } from '../train/checkpoint.js';
import { RunDir } from '../train/run-dir.js';
import { progress } from '../util/progress.js';
import type { PretrainConfig } from './config.js';
import { collapseStatus, embeddingStd } from './monitor.js';
import { createMethod } from './registry.js';
import type { SslMethod } from './method.js';

export interface PretrainOptions {
  resume?: boolean;
  /** Replace an existing run of the same name (instead of refusing). */
  overwrite?: boolean;
  /** Progress bars (default: when stderr is a terminal). */
  progress?: boolean;
  /** Receives one human-readable line per epoch and for warnings (default: stderr). */
  log?: (line: string) => void;
  /**
   * Stop after this many epochs in this invocation (the schedule still spans train.epochs), e.g. to fit a
   * cluster's time limit; `resume` continues later exactly where it stopped.
   */
  maxEpochs?: number;
}

export interface EpochSummary {
  epoch: number;
  loss: number;
  terms: Record<string, number>;
  embeddingStd: number;
  collapsed: boolean;
  tilesPerSecond: number;
  checkpoint: string;
}

export interface PretrainResult {
  runDir: string;
  epochs: EpochSummary[];
  /** The newest checkpoint written (or found, when resuming a finished run). */
  lastCheckpoint: string | null;
}

/** Raised for a NaN or infinite loss; the message names the step and the checkpoint left intact. */
export class NonFiniteLossError extends Error {}

/** An averaged copy of the encoder (SWA: equal weights from a start epoch; EMA: exponential decay). */
class AveragedEncoder {
  count = 0;
  constructor(readonly model: ResNet3D, private readonly decay: number | null) {
    model.requiresGrad_(false);
  }
  update(online: Module): void {
    const src = online.stateDict();
    noGrad(() => torch.tidy(() => {
      for (const [k, avg] of this.model.stateDict()) {
        const p = src.get(k)!;
        // Parameters are averaged; buffers (BN statistics, counters) follow the online network.
        if (!avg.isFloatingPoint() || !avg.requiresGrad && !isParam(this.model, k)) avg.copy_(p);
        else if (this.decay === null) avg.lerp_(p, 1 / (this.count + 1));
        else avg.lerp_(p, this.count === 0 ? 1 : 1 - this.decay);
      }
    }));
    this.count++;
  }
}

/** `a.b: old -> new` for every leaf setting that differs between two configs. */
function configChanges(before: unknown, after: unknown, prefix = ''): string[] {
  if (before !== null && after !== null && typeof before === 'object' && typeof after === 'object' && !Array.isArray(before) && !Array.isArray(after)) {
    const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
    return [...keys].flatMap((k) => configChanges((before as Record<string, unknown>)[k], (after as Record<string, unknown>)[k], prefix ? `${prefix}.${k}` : k));
  }
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [`${prefix}: ${JSON.stringify(before)} -> ${JSON.stringify(after)}`];
}

function isParam(m: Module, key: string): boolean {
  for (const [k] of m.namedParameters()) if (k === key) return true;
  return false;
}

function augmentFor(cfg: PretrainConfig) {
  // The augmentation's z-shift narrows the read range to the model's depth (22 -> 20 in the seed).
  return cfg.data.augment === 'seed' ? seedAugmentations({ depth: cfg.data.depth }) : kaggleAugmentations();
}

function buildOptimizer(cfg: PretrainConfig, params: Tensor[], lr: number): optim.SGD | optim.LARS | optim.AdamW {
  const o = cfg.optim;
  switch (o.name) {
    case 'sgd': return new optim.SGD(params, { lr, momentum: o.momentum, nesterov: o.nesterov, weightDecay: o.weightDecay });
    case 'lars': return new optim.LARS(params, { lr, momentum: o.momentum, weightDecay: o.weightDecay, eta: o.eta });
    case 'adamw': return new optim.AdamW(params, { lr, weightDecay: o.weightDecay });
  }
}

/** The method's networks by name (encoder first), as checkpoints store them. */
function namedModules(method: SslMethod): Record<string, Module> {
  const out: Record<string, Module> = {};
  for (const name of method.modules.names()) out[name] = method.modules.get(name);
  return out;
}

export async function pretrain(cfg: PretrainConfig, opts: PretrainOptions = {}): Promise<PretrainResult> {
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  if (cfg.train.threads) torch.setNumThreads(cfg.train.threads);
  const run = RunDir.open(cfg.out, cfg.name, { resume: opts.resume ?? false, overwrite: opts.overwrite ?? false });
  await run.saveConfig(cfg);
  torch.manualSeed(cfg.seed);

  const encoderOptions = { inChannels: cfg.model.inChannels, widenFactor: cfg.model.widenFactor };
  let first: ResNet3D | null = createEncoder(cfg.model.arch, encoderOptions);
  // What forward() returns: the classifier's outputs when the variant has one (the seed's r3d-50 ends in a
  // 2048 -> 512 fc, field notes section 1), else the pooled features.
  const featureDim = first.options.numClasses ?? first.featureDim;
  const makeEncoder = (): ResNet3D => {
    const e = first ?? createEncoder(cfg.model.arch, encoderOptions);
    first = null;
    return e;
  };
  const method = createMethod(cfg.method.name, {
    encoder: makeEncoder, featureDim,
    ...(cfg.method.projector ? { projector: cfg.method.projector } : {}),
    vicreg: cfg.method.vicreg,
    byol: cfg.method.byol,
    masked: { featureMap: (e, x) => (e as ResNet3D).forwardFeatures(x, { upTo: 'layer4' }).layer4!, inChannels: cfg.model.inChannels },
    ...(cfg.method.name === 'masked' ? { featureDim: first.featureDim } : {}),
  });
  const encoder = method.modules.get('encoder') as ResNet3D;
  const params = method.modules.parameters();

  const source: TileSourceOptions = {
    // Through JSON: drops the keys zod left undefined (and the options cross to the worker as JSON anyway).
    datasets: JSON.parse(JSON.stringify(cfg.data.datasets)) as TileSourceOptions['datasets'], tile: cfg.data.tile, stride: cfg.data.stride, erode: cfg.data.erode,
    depth: cfg.data.depth, augment: augmentFor(cfg), views: 2, seed: cfg.seed,
    ...(cfg.data.maxTiles === undefined ? {} : { maxTiles: cfg.data.maxTiles }),
  };
  const pipeline = await PrefetchPipeline.open({
    source: { module: tileSourceModule, options: source as unknown as Record<string, never> },
    batchSize: cfg.train.batchSize, seed: cfg.seed, workers: cfg.data.workers, dropLast: true,
  });
  const averaged: { swa: AveragedEncoder | null; ema: AveragedEncoder | null } = { swa: null, ema: null };
  let optimizer: ReturnType<typeof buildOptimizer> | null = null;
  try {
    const batchesPerEpoch = pipeline.batchesPerEpoch();
    if (batchesPerEpoch === 0) {
      throw new Error(`pretrain: the datasets give ${pipeline.length} tiles, fewer than one batch of ${cfg.train.batchSize} (lower train.batchSize or data.stride)`);
    }
    const accumulation = cfg.train.gradAccumulation;
    const optStepsPerEpoch = Math.ceil(batchesPerEpoch / accumulation);
    const totalOptSteps = optStepsPerEpoch * cfg.train.epochs;
    const lr = cfg.optim.lr * (cfg.optim.scaleLrByBatch ? (cfg.train.batchSize * accumulation) / 256 : 1);
    optimizer = buildOptimizer(cfg, params, lr);
    const scheduler = new optim.LinearWarmupCosine(optimizer, {
      warmupSteps: Math.round(cfg.schedule.warmupEpochs * optStepsPerEpoch),
      totalSteps: Math.max(1, Math.round(cfg.schedule.cosineEpochs * optStepsPerEpoch)),
      startFactor: cfg.schedule.startFactor, etaMin: cfg.schedule.etaMin,
    });
    if (cfg.average.swa.enabled) averaged.swa = new AveragedEncoder(createEncoder(cfg.model.arch, encoderOptions), null);
    if (cfg.average.ema.enabled) averaged.ema = new AveragedEncoder(createEncoder(cfg.model.arch, encoderOptions), cfg.average.ema.decay);
    const checkpointModules = (): Record<string, Module> => ({
      ...namedModules(method),
      ...(averaged.swa ? { swa_encoder: averaged.swa.model } : {}),
      ...(averaged.ema ? { ema_encoder: averaged.ema.model } : {}),
    });

    let startEpoch = 1;
    let optStep = 0;
    let lastCheckpoint: string | null = null;
    if (opts.resume) {
      const latest = run.latestCheckpoint();
      if (latest) {
        const restored = await loadTrainingCheckpoint(latest.path, {
          modules: checkpointModules(), optimizer, scheduler,
          onExtra: (extra) => {
            const methodState = extra.get('method_state');
            if (methodState instanceof Map && methodState.size > 0) method.loadStateDict(methodState as Map<string, Tensor>);
          },
        });
        for (const [key, avg] of [['swa_count', averaged.swa], ['ema_count', averaged.ema]] as const) {
          if (avg) avg.count = Number(restored.extra.get(key) ?? 0);
        }
        const changed = configChanges(restored.config, cfg);
        if (changed.length) {
          log(`pretrain: settings changed since ${latest.path}: ${changed.slice(0, 8).join('; ')}${changed.length > 8 ? `; ... ${changed.length - 8} more` : ''}. ` +
            'The optimiser and scheduler continue from the checkpoint\'s state (learning rates included).');
        }
        startEpoch = restored.epoch + 1;
        optStep = restored.step;
        lastCheckpoint = latest.path;
        log(`pretrain: resuming ${run.dir} from epoch ${restored.epoch} (${latest.path})`);
      } else {
        log(`pretrain: nothing to resume in ${run.dir}; starting at epoch 1`);
      }
    }

    const epochs: EpochSummary[] = [];
    const lastEpoch = Math.min(cfg.train.epochs, startEpoch - 1 + (opts.maxEpochs ?? Infinity));
    for (let epoch = startEpoch; epoch <= lastEpoch; epoch++) {
      method.train(true);
      if (averaged.swa && cfg.average.swa.lr !== undefined && epoch >= cfg.average.swa.startEpoch) {
        for (const g of optimizer.paramGroups) g.lr = cfg.average.swa.lr;
      }
      // The order of tiles depends on (seed, epoch) only, so a resumed run visits them as the original did.
      const order = createRng(cfg.seed * 100_003 + epoch).shuffle(Array.from({ length: pipeline.length }, (_, i) => i));
      const bar = progress(`epoch ${epoch}/${cfg.train.epochs}`, batchesPerEpoch, { unit: 'batches', ...(opts.progress === undefined ? {} : { enabled: opts.progress }) });
      const sums = { loss: 0, std: 0, n: 0, tiles: 0, seconds: 0 };
      const termSums: Record<string, number> = {};
      let micro = 0;
      try {
        for await (const batch of pipeline.epoch(epoch, order)) {
          const t0 = performance.now();
          const B = batch.size;
          const shape = [B, cfg.model.inChannels, cfg.data.depth, cfg.data.tile, cfg.data.tile];
          const step = torch.tidy(() => {
            const v1 = torch.fromTypedArray(batch.arrays['view0'] as Float32Array, shape);
            const v2 = torch.fromTypedArray(batch.arrays['view1'] as Float32Array, shape);
            const out = method.step(v1, v2);
            const loss = out.loss.item();
            if (!Number.isFinite(loss)) {
              throw new NonFiniteLossError(`pretrain: the loss became ${loss} at epoch ${epoch}, batch ${batch.index + 1}/${batchesPerEpoch} (optimiser step ${optStep + 1}); stopped before updating the weights. ` +
                `The last good checkpoint is ${lastCheckpoint ?? '(none yet)'}. Try a lower optim.lr or a longer warmup.`);
            }
            (accumulation > 1 ? out.loss.div(accumulation) : out.loss).backward();
            const terms: Record<string, number> = {};
            for (const [k, t] of Object.entries(out.terms)) terms[k] = t.item();
            return { loss, terms, std: embeddingStd(out.embeddings), dim: out.embeddings.shape[1]! };
          });
          micro++;
          if (micro % accumulation === 0 || micro === batchesPerEpoch) {
            torch.tidy(() => {
              if (cfg.train.gradClip !== null) optim.clipGradNorm_(params, cfg.train.gradClip);
              optimizer!.step();
              optimizer!.zeroGrad();
            });
            optStep++;
            if (!(averaged.swa && cfg.average.swa.lr !== undefined && epoch >= cfg.average.swa.startEpoch)) scheduler.step();
            method.afterOptimizerStep(Math.min(1, optStep / totalOptSteps));
            averaged.ema?.update(encoder);
          }
          const seconds = (performance.now() - t0) / 1000;
          sums.loss += step.loss; sums.std += step.std; sums.n++; sums.tiles += B; sums.seconds += seconds;
          for (const [k, v] of Object.entries(step.terms)) termSums[k] = (termSums[k] ?? 0) + v;
          const status = collapseStatus(step.std, step.dim, { minRatio: cfg.monitor.collapseRatio });
          run.log('pretrain', (epoch - 1) * batchesPerEpoch + micro, {
            epoch, loss: step.loss, ...step.terms, embedding_std: step.std, embedding_std_ratio: status.ratio,
            lr: optimizer.paramGroups[0]!.lr, tiles_per_s: B / seconds,
          });
          bar.tick(1, `loss ${step.loss.toFixed(4)} std ${step.std.toFixed(4)}`);
          await new Promise<void>((r) => setImmediate(r)); // let finalizers and the workers' messages run
        }
      } finally {
        bar.stop();
      }
      if (averaged.swa && epoch >= cfg.average.swa.startEpoch) averaged.swa.update(encoder);
      const meanStd = sums.std / sums.n;
      const dim = cfg.method.projector?.at(-1) ?? featureDim;
      const status = collapseStatus(meanStd, dim, { minRatio: cfg.monitor.collapseRatio });
      const path = run.checkpointPath(epoch);
      await saveTrainingCheckpoint(path, {
        epoch, step: optStep, modules: checkpointModules(), optimizer, scheduler, config: cfg,
        extra: {
          method_state: method.stateDict(),
          ...(averaged.swa ? { swa_count: averaged.swa.count } : {}),
          ...(averaged.ema ? { ema_count: averaged.ema.count } : {}),
        },
      });
      lastCheckpoint = path;
      run.prune(cfg.checkpoint.keepLast, cfg.checkpoint.keepEvery);
      const terms: Record<string, number> = {};
      for (const [k, v] of Object.entries(termSums)) terms[k] = v / sums.n;
      const summary: EpochSummary = {
        epoch, loss: sums.loss / sums.n, terms, embeddingStd: meanStd, collapsed: status.collapsed,
        tilesPerSecond: sums.tiles / sums.seconds, checkpoint: path,
      };
      epochs.push(summary);
      run.log('pretrain_epoch', epoch, { loss: summary.loss, ...terms, embedding_std: meanStd, embedding_std_ratio: status.ratio, tiles_per_s: summary.tilesPerSecond });
      log(`epoch ${epoch}/${cfg.train.epochs}: loss ${summary.loss.toFixed(4)} (${Object.entries(terms).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')}), ` +
        `embedding std ${meanStd.toFixed(4)} (${(100 * status.ratio).toFixed(0)}% of healthy), ${summary.tilesPerSecond.toFixed(1)} tiles/s -> ${path}`);
      if (status.collapsed) {
        log(`WARNING: embeddings are collapsing: std ${meanStd.toFixed(5)} is ${(100 * status.ratio).toFixed(1)}% of the ${status.expected.toFixed(4)} of healthy ` +
          `${dim}-d embeddings (threshold ${(100 * cfg.monitor.collapseRatio).toFixed(0)}%). Everything is mapping to the same point; VICReg's variance term (method.vicreg.stdCoeff) counters this.`);
      }
    }
    return { runDir: run.dir, epochs, lastCheckpoint: lastCheckpoint ?? run.latestCheckpoint()?.path ?? null };
  } finally {
    await pipeline.close();
    run.close();
    optimizer?.dispose();
    averaged.swa?.model.dispose();
    averaged.ema?.model.dispose();
    method.dispose();
  }
}
