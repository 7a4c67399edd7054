/**
 * `inkwell pretrain`: self-supervised pretraining of a 3D encoder on unlabelled scroll segments (and
 * fragments, labels ignored), as the reference study did: tiles from every source, two augmented views per tile, any
 * method of the registry, SGD/LARS/AdamW with warmup then cosine, gradient accumulation and clipping, optional
 * SWA/EMA of the encoder. Every epoch ends in an atomic checkpoint; `resume` continues from the latest one and
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
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { noGrad } from '../torch/autograd.js';
import * as torch from '../torch/index.js';
import { optim, type Tensor } from '../torch/index.js';
import type { Module } from '../torch/nn/module.js';
import { isStoredTensor, PyOrderedDict, type PyValue, readCheckpointBytes } from '../torch/serialization/index.js';
import { referenceAugmentations, kaggleAugmentations } from '../data/augment/presets.js';
import { PrefetchPipeline } from '../data/pipeline.js';
import { createRng } from '../data/rng.js';
import { tileSourceModule, type TileSourceOptions } from '../data/dataset-tile-source.js';
import { createEncoder } from '../models/registry.js';
import type { ResNet3D } from '../models/resnet3d.js';
import { NonFiniteLossError, restoreTrainingState, saveTrainingCheckpoint } from '../train/training-checkpoint.js';
import { type DataParallel, describeReducer, withDataParallel } from '../train/ddp.js';
import { RunDir } from '../train/run-dir.js';
import { progress } from '../util/progress.js';
import { BYOLMethod } from './byol.js';
import type { PretrainConfig } from './config.js';
import { pooledFeatures, type SslMethod, type SslStepOutput } from './method.js';
import { collapseStatus, embeddingStd } from './monitor.js';
import { createMethod } from './registry.js';
import { vicregLoss, VICRegMethod } from './vicreg.js';

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
  /**
   * The data-parallel group to train in. Default: DataParallel.fromEnv() (RANK, WORLD_SIZE, MASTER_ADDR, ...;
   * none set = a single process), closed at the end; null forces a single process.
   */
  dataParallel?: DataParallel | null;
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
  /** This process's rank and the number of workers (0 and 1 for a single process). */
  rank: number;
  worldSize: number;
}

export { NonFiniteLossError } from '../train/training-checkpoint.js';

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
  // The augmentation's z-shift narrows the read range to the model's depth (22 -> 20 in the reference study).
  return cfg.data.augment === 'reference' ? referenceAugmentations({ depth: cfg.data.depth }) : kaggleAugmentations();
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

/**
 * One VICReg step on a data-parallel worker, as main_vicreg.py (facebookresearch/vicreg, `VICReg.forward`):
 * the invariance term on this worker's own pairs (`repr_loss` before the gather), the variance and covariance
 * terms on the embeddings of every worker (FullGatherLayer, here `gather`), with the covariance divided by the
 * global batch - 1. No further scaling is needed for the gradients to equal one worker's on the global batch:
 * the gather's backward sums over the W workers the (identical) gradient of the global terms, which gives W times
 * their share for the local embeddings, and averaging the parameter gradients over the workers divides by W;
 * the local invariance terms, averaged, are the invariance over the global batch.
 */
export function vicregGatheredStep(method: VICRegMethod, view1: Tensor, view2: Tensor, gather: (z: Tensor) => Tensor): SslStepOutput {
  return torch.tidy(() => {
    const encoder = method.modules.get('encoder');
    const projector = method.modules.get('projector');
    const z1 = projector.forward(pooledFeatures('vicregGatheredStep', encoder, view1));
    const z2 = projector.forward(pooledFeatures('vicregGatheredStep', encoder, view2));
    const o = method.lossOptions;
    const invariance = torch.F.mseLoss(z1, z2);
    const global = vicregLoss(gather(z1), gather(z2), o);
    const loss = invariance.mul(o.simCoeff).add(global.variance.mul(o.stdCoeff)).add(global.covariance.mul(o.covCoeff));
    return { loss, terms: { invariance: invariance.detach(), variance: global.variance.detach(), covariance: global.covariance.detach() }, embeddings: z1.detach() };
  });
}

/** A checkpoint image (as rank 0 sends it) as torch.load would give it: stored tensors made live. */
function liveCheckpoint(bytes: Uint8Array, where: string): torch.LoadedValue {
  const live = (v: PyValue): torch.LoadedValue => {
    if (isStoredTensor(v)) return torch.fromStored(v);
    if (Array.isArray(v)) return v.map(live);
    if (v instanceof Map) {
      const out = v instanceof PyOrderedDict ? new PyOrderedDict<PyValue, torch.LoadedValue>() : new Map<PyValue, torch.LoadedValue>();
      for (const [k, x] of v) out.set(k, live(x));
      return out;
    }
    return v as torch.LoadedValue;
  };
  return live(readCheckpointBytes(bytes, where).value);
}


export async function pretrain(cfg: PretrainConfig, opts: PretrainOptions = {}): Promise<PretrainResult> {
  return withDataParallel(opts.dataParallel, cfg.distributed, (dp) => train(cfg, opts, dp));
}

async function train(cfg: PretrainConfig, opts: PretrainOptions, dp: DataParallel | null): Promise<PretrainResult> {
  const isMain = dp === null || dp.isMain;
  const world = dp?.worldSize ?? 1;
  const rank = dp?.rank ?? 0;
  // Only rank 0 talks; the others fail loudly through errors.
  const log = isMain ? opts.log ?? ((line: string) => process.stderr.write(line + '\n')) : () => undefined;
  if (cfg.train.threads) torch.setNumThreads(cfg.train.threads);
  const runDir = resolve(join(cfg.out, cfg.name));

  // Rank 0 opens the run folder (and reads the checkpoint to resume from); every worker learns whether it could.
  let run: RunDir | null = null;
  let resumeFrom: { path: string; bytes: Uint8Array | null } | null = null;
  let setupError: unknown = null;
  if (isMain) {
    try {
      run = RunDir.open(cfg.out, cfg.name, { resume: opts.resume ?? false, overwrite: opts.overwrite ?? false });
      await run.saveConfig(cfg);
      const latest = opts.resume ? run.latestCheckpoint() : null;
      if (latest) resumeFrom = { path: latest.path, bytes: dp ? await readFile(latest.path) : null };
    } catch (err) {
      setupError = err;
    }
  }
  if (dp) await dp.agree('opening the run folder', setupError);
  else if (setupError) throw setupError;

  let localBatch = cfg.train.batchSize;
  if (dp && cfg.distributed.batchScope === 'global') {
    if (cfg.train.batchSize % world !== 0) {
      throw new Error(`pretrain: train.batchSize ${cfg.train.batchSize} is the global batch (distributed.batchScope 'global') and must divide evenly over ${world} workers`);
    }
    localBatch = cfg.train.batchSize / world;
  }
  torch.manualSeed(cfg.seed);

  const encoderOptions = { inChannels: cfg.model.inChannels, widenFactor: cfg.model.widenFactor };
  let first: ResNet3D | null = createEncoder(cfg.model.arch, encoderOptions);
  // What forward() returns: the classifier's outputs when the variant has one (the reference study's r3d-50 ends in a
  // 2048 -> 512 fc, docs/reference-study.md), else the pooled features.
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
  if (dp && cfg.distributed.syncBatchNorm) {
    // In place: the same tensors under the same names, so checkpoints do not change.
    dp.convertSyncBatchNorm(method.modules);
    if (method instanceof BYOLMethod) dp.convertSyncBatchNorm(method.target);
  }
  const encoder = method.modules.get('encoder') as ResNet3D;
  const params = method.modules.parameters();
  const stepFn = (v1: Tensor, v2: Tensor): SslStepOutput =>
    dp && method instanceof VICRegMethod ? vicregGatheredStep(method, v1, v2, (z) => dp.gather(z)) : method.step(v1, v2);

  const source: TileSourceOptions = {
    // Through JSON: drops the keys zod left undefined (and the options cross to the worker as JSON anyway).
    datasets: JSON.parse(JSON.stringify(cfg.data.datasets)) as TileSourceOptions['datasets'], tile: cfg.data.tile, stride: cfg.data.stride, erode: cfg.data.erode,
    depth: cfg.data.depth, augment: augmentFor(cfg), views: 2, seed: cfg.seed,
    ...(cfg.data.maxTiles === undefined ? {} : { maxTiles: cfg.data.maxTiles }),
  };
  const pipeline = await PrefetchPipeline.open({
    source: { module: tileSourceModule, options: source as unknown as Record<string, never> },
    batchSize: localBatch, seed: cfg.seed, workers: cfg.data.workers, dropLast: true,
  });
  const averaged: { swa: AveragedEncoder | null; ema: AveragedEncoder | null } = { swa: null, ema: null };
  let optimizer: ReturnType<typeof buildOptimizer> | null = null;
  try {
    const all = Array.from({ length: pipeline.length }, (_, i) => i);
    const batchesPerEpoch = pipeline.batchesPerEpoch(dp ? dp.shard(all) : all);
    if (batchesPerEpoch === 0) {
      throw new Error(`pretrain: the datasets give ${pipeline.length} tiles, fewer than one batch of ${localBatch}${dp ? ` on each of ${world} workers` : ''} (lower train.batchSize or data.stride)`);
    }
    const accumulation = cfg.train.gradAccumulation;
    const optStepsPerEpoch = Math.ceil(batchesPerEpoch / accumulation);
    const totalOptSteps = optStepsPerEpoch * cfg.train.epochs;
    const globalBatch = localBatch * world * accumulation;
    const lr = cfg.optim.lr * (cfg.optim.scaleLrByBatch ? globalBatch / 256 : 1);
    optimizer = buildOptimizer(cfg, params, lr);
    const warmupSteps = (steps: number) => Math.round(cfg.schedule.warmupEpochs * steps);
    const cosineSteps = (steps: number) => Math.max(1, Math.round(cfg.schedule.cosineEpochs * steps));
    const scheduler = new optim.LinearWarmupCosine(optimizer, {
      warmupSteps: warmupSteps(optStepsPerEpoch), totalSteps: cosineSteps(optStepsPerEpoch),
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
    let batchStep: number | null = null;
    let lastCheckpoint: string | null = null;
    if (opts.resume) {
      // Every worker restores the same bytes: rank 0 reads the file and sends it (no shared disk needed).
      let value: torch.LoadedValue | null = null;
      let where = resumeFrom?.path ?? 'the checkpoint from rank 0';
      if (dp) {
        const bytes = await dp.broadcastBytes(isMain ? resumeFrom?.bytes ?? new Uint8Array(0) : null, 0, 'the checkpoint to resume from');
        if (bytes.length > 0) value = liveCheckpoint(bytes, where);
      } else if (resumeFrom) {
        value = (await torch.load(resumeFrom.path)).value;
      }
      if (value !== null) {
        const restored = restoreTrainingState(value, where, {
          modules: checkpointModules(), optimizer, scheduler,
          onExtra: (extra) => {
            const methodState = extra.get('method_state');
            if (methodState instanceof Map && methodState.size > 0) method.loadStateDict(methodState as Map<string, Tensor>);
          },
        });
        where = resumeFrom?.path ?? RunDir.checkpointPathIn(runDir, restored.epoch);
        for (const [key, avg] of [['swa_count', averaged.swa], ['ema_count', averaged.ema]] as const) {
          if (avg) avg.count = Number(restored.extra.get(key) ?? 0);
        }
        const changed = configChanges(restored.config, cfg);
        if (changed.length) {
          log(`pretrain: settings changed since ${where}: ${changed.slice(0, 8).join('; ')}${changed.length > 8 ? `; ... ${changed.length - 8} more` : ''}. ` +
            'The optimiser and scheduler continue from the checkpoint\'s state (learning rates included).');
        }
        startEpoch = restored.epoch + 1;
        optStep = restored.step;
        const savedBatchStep = restored.extra.get('batch_step');
        if (typeof savedBatchStep === 'number') batchStep = savedBatchStep;
        const savedWorld = Number(restored.extra.get('world_size') ?? 1);
        const savedSteps = Number(restored.extra.get('opt_steps_per_epoch') ?? optStepsPerEpoch);
        if (savedWorld !== world) log(`pretrain: the checkpoint was written by ${savedWorld} worker(s); continuing with ${world}`);
        if (savedSteps !== optStepsPerEpoch) {
          // The global batch changed (another number of workers with per-worker batches): keep the schedule's
          // position in epochs and count steps in the new batches from here on.
          const sd = scheduler.stateDict();
          const position = Math.round(Number(sd['last_epoch']) * optStepsPerEpoch / savedSteps);
          if (cfg.optim.scaleLrByBatch) for (const g of optimizer.paramGroups) g['initial_lr'] = lr;
          scheduler.loadStateDict({
            ...sd, warmup_steps: warmupSteps(optStepsPerEpoch), total_steps: cosineSteps(optStepsPerEpoch),
            last_epoch: position - 1, _step_count: position,
            ...(cfg.optim.scaleLrByBatch ? { base_lrs: optimizer.paramGroups.map(() => lr) } : {}),
          });
          scheduler.step();
          log(`pretrain: ${savedSteps} optimiser steps per epoch before, ${optStepsPerEpoch} now (global batch ${globalBatch}); ` +
            `the schedule continues from epoch ${restored.epoch} (step ${optStep} -> ${restored.epoch * optStepsPerEpoch})`);
          optStep = restored.epoch * optStepsPerEpoch;
          batchStep = null;
        }
        lastCheckpoint = where;
        log(`pretrain: resuming ${runDir} from epoch ${restored.epoch} (${where})`);
      } else {
        log(`pretrain: nothing to resume in ${runDir}; starting at epoch 1`);
      }
    }
    if (dp) {
      // Everyone starts from rank 0's weights and buffers (DDP's initial _sync_module_states).
      await dp.broadcastModules([method.modules, ...(method instanceof BYOLMethod ? [method.target] : []), ...[averaged.swa, averaged.ema].flatMap((a) => (a ? [a.model] : []))]);
      log(`pretrain: data-parallel over ${world} workers: ${localBatch} tiles per worker, global batch ${localBatch * world}${accumulation > 1 ? ` x ${accumulation} accumulated` : ''}, ` +
        `SyncBatchNorm ${cfg.distributed.syncBatchNorm ? 'on' : 'off'}`);
      dp.attach(method.modules, {
        findUnusedParameters: cfg.distributed.findUnusedParameters,
        onReady: (info) => log(`pretrain: ${describeReducer(info)}`),
      });
    }
    batchStep ??= (startEpoch - 1) * batchesPerEpoch;

    const epochs: EpochSummary[] = [];
    const lastEpoch = Math.min(cfg.train.epochs, startEpoch - 1 + (opts.maxEpochs ?? Infinity));
    for (let epoch = startEpoch; epoch <= lastEpoch; epoch++) {
      method.train(true);
      if (averaged.swa && cfg.average.swa.lr !== undefined && epoch >= cfg.average.swa.startEpoch) {
        for (const g of optimizer.paramGroups) g.lr = cfg.average.swa.lr;
      }
      // The order of tiles depends on (seed, epoch) only, so a resumed run visits them as the original did;
      // each worker takes its shard of the same order.
      const order = createRng(cfg.seed * 100_003 + epoch).shuffle(Array.from({ length: pipeline.length }, (_, i) => i));
      const bar = progress(`epoch ${epoch}/${cfg.train.epochs}`, batchesPerEpoch, { unit: 'batches', ...(!isMain ? { enabled: false } : opts.progress === undefined ? {} : { enabled: opts.progress }) });
      const sums = { loss: 0, std: 0, n: 0, tiles: 0, seconds: 0 };
      const termSums: Record<string, number> = {};
      let micro = 0;
      try {
        for await (const batch of pipeline.epoch(epoch, dp ? dp.shard(order) : order)) {
          const t0 = performance.now();
          const B = batch.size;
          const shape = [B, cfg.model.inChannels, cfg.data.depth, cfg.data.tile, cfg.data.tile];
          const scope = torch.scope();
          let step: { loss: number; terms: Record<string, number>; std: number; dim: number };
          try {
            const forward = () => torch.tidy(() => {
              const v1 = torch.fromTypedArray(batch.arrays['view0'] as Float32Array, shape);
              const v2 = torch.fromTypedArray(batch.arrays['view1'] as Float32Array, shape);
              const out = stepFn(v1, v2);
              const names = Object.keys(out.terms);
              return { loss: out.loss, names, values: [out.loss.item(), embeddingStd(out.embeddings), ...names.map((k) => out.terms[k]!.item())], dim: out.embeddings.shape[1]! };
            });
            const fwd = dp ? dp.guard(`forward of epoch ${epoch}, batch ${batch.index + 1}`, forward) : forward();
            // Global means over the workers (what one worker on the whole batch would log); a non-finite loss on
            // any worker makes the mean non-finite, so all of them stop together, before backward.
            const values = dp ? await dp.allreduceNumbers(fwd.values, 'avg', 'losses') : fwd.values;
            const loss = values[0]!;
            if (!Number.isFinite(loss)) {
              throw new NonFiniteLossError(`pretrain: the loss became ${loss} at epoch ${epoch}, batch ${batch.index + 1}/${batchesPerEpoch} (optimiser step ${optStep + 1}); stopped before updating the weights. ` +
                `The last good checkpoint is ${lastCheckpoint ?? '(none yet)'}. Try a lower optim.lr or a longer warmup.`);
            }
            micro++;
            // Gradients of every worker are averaged in the backward before each optimiser step (DDP's no_sync on the others).
            const update = micro % accumulation === 0 || micro === batchesPerEpoch;
            const scaled = accumulation > 1 ? fwd.loss.div(accumulation) : fwd.loss;
            if (dp) await dp.backward(scaled, { sync: update, op: `backward of epoch ${epoch}, batch ${batch.index + 1}` });
            else scaled.backward();
            const terms: Record<string, number> = {};
            fwd.names.forEach((k, i) => { terms[k] = values[i + 2]!; });
            step = { loss, terms, std: values[1]!, dim: fwd.dim };
            if (update) {
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
          } finally {
            scope.close();
          }
          batchStep++;
          const seconds = (performance.now() - t0) / 1000;
          sums.loss += step.loss; sums.std += step.std; sums.n++; sums.tiles += B * world; sums.seconds += seconds;
          for (const [k, v] of Object.entries(step.terms)) termSums[k] = (termSums[k] ?? 0) + v;
          const status = collapseStatus(step.std, step.dim, { minRatio: cfg.monitor.collapseRatio });
          run?.log('pretrain', batchStep, {
            epoch, loss: step.loss, ...step.terms, embedding_std: step.std, embedding_std_ratio: status.ratio,
            lr: optimizer.paramGroups[0]!.lr, tiles_per_s: (B * world) / seconds,
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
      const path = RunDir.checkpointPathIn(runDir, epoch);
      if (run) {
        await saveTrainingCheckpoint(path, {
          epoch, step: optStep, modules: checkpointModules(), optimizer, scheduler, config: cfg,
          extra: {
            method_state: method.stateDict(),
            ...(averaged.swa ? { swa_count: averaged.swa.count } : {}),
            ...(averaged.ema ? { ema_count: averaged.ema.count } : {}),
            // Run-level facts (no per-worker state): a resume with another number of workers rescales the schedule.
            world_size: world, opt_steps_per_epoch: optStepsPerEpoch, batch_step: batchStep,
          },
        });
        run.prune(cfg.checkpoint.keepLast, cfg.checkpoint.keepEvery);
      }
      lastCheckpoint = path;
      const terms: Record<string, number> = {};
      for (const [k, v] of Object.entries(termSums)) terms[k] = v / sums.n;
      const summary: EpochSummary = {
        epoch, loss: sums.loss / sums.n, terms, embeddingStd: meanStd, collapsed: status.collapsed,
        tilesPerSecond: sums.tiles / sums.seconds, checkpoint: path,
      };
      epochs.push(summary);
      run?.log('pretrain_epoch', epoch, { loss: summary.loss, ...terms, embedding_std: meanStd, embedding_std_ratio: status.ratio, tiles_per_s: summary.tilesPerSecond });
      log(`epoch ${epoch}/${cfg.train.epochs}: loss ${summary.loss.toFixed(4)} (${Object.entries(terms).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')}), ` +
        `embedding std ${meanStd.toFixed(4)} (${(100 * status.ratio).toFixed(0)}% of healthy), ${summary.tilesPerSecond.toFixed(1)} tiles/s -> ${path}`);
      if (status.collapsed) {
        log(`WARNING: embeddings are collapsing: std ${meanStd.toFixed(5)} is ${(100 * status.ratio).toFixed(1)}% of the ${status.expected.toFixed(4)} of healthy ` +
          `${dim}-d embeddings (threshold ${(100 * cfg.monitor.collapseRatio).toFixed(0)}%). Everything is mapping to the same point; VICReg's variance term (method.vicreg.stdCoeff) counters this.`);
      }
    }
    // Rank 0's last checkpoint is on disk before any worker reports success.
    if (dp) await dp.barrier();
    return { runDir, epochs, lastCheckpoint: lastCheckpoint ?? run?.latestCheckpoint()?.path ?? null, rank, worldSize: world };
  } finally {
    await pipeline.close();
    run?.close();
    optimizer?.dispose();
    averaged.swa?.model.dispose();
    averaged.ema?.model.dispose();
    method.dispose();
  }
}
