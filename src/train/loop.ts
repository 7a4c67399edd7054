/**
 * The one training loop of inkwell, which self-supervised pretraining (src/ssl/pretrain.ts) and supervised
 * probes and fine-tuning (src/supervised/trainer.ts) both run; each trainer is an adapter (a `TrainingTask`:
 * its networks, data, optimiser and a step function, with hooks for what only it does), as Lightning's Trainer
 * drives a LightningModule and solo-learn's methods plug into one trainer. See docs/training-loop.md.
 *
 * The loop owns: validating the run before its folder exists (a failed start leaves nothing behind), the run
 * folder (config, metrics.jsonl, TensorBoard, checkpoints pruned to a cadence), epochs over a (seed, epoch)
 * shuffled order, micro-batches with gradient accumulation, the non-finite-loss guard (before any update),
 * gradient clipping, the data-parallel parts (src/train/ddp.ts: shards, synchronised backward, rank 0's weights
 * and checkpoint sent to every worker, SyncBatchNorm), resume (exact on CPU; with another number of workers
 * the schedule keeps its position in epochs; history past the checkpoint is dropped from metrics.jsonl and
 * purged in TensorBoard), and progress (a bar on a terminal, a plain line every ~30 s in a log file).
 */
import { existsSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import type { Batch, PrefetchPipeline } from '../data/pipeline.js';
import { createRng } from '../data/rng.js';
import * as torch from '../torch/index.js';
import { optim, type SaveValue, type Tensor } from '../torch/index.js';
import type { Module } from '../torch/nn/module.js';
import { isStoredTensor, PyOrderedDict, type PyValue, readCheckpointBytes } from '../torch/serialization/index.js';
import { progress } from '../util/progress.js';
import { type DataParallel, describeReducer, withDataParallel } from './ddp.js';
import { type DeviceConfig, DeviceRuntime, withMemoryHint } from './device.js';
import { RunDir } from './run-dir.js';
import {
  gradScalerExtra,
  NonFiniteLossError,
  restoreGradScaler,
  restoreTrainingState,
  saveTrainingCheckpoint,
} from './training-checkpoint.js';

export type TrainingOptimizer = optim.SGD | optim.LARS | optim.AdamW;

/** The settings the loop reads; both trainers' config schemas have them. */
export interface LoopConfig extends DeviceConfig {
  name: string;
  out: string;
  seed: number;
  train: {
    epochs: number;
    batchSize: number;
    gradAccumulation: number;
    gradClip: number | null;
    threads?: number | undefined;
  };
  checkpoint: { keepLast: number; keepEvery: number };
  distributed: {
    syncBatchNorm: boolean;
    bucketCapMB: number;
    timeoutSeconds: number;
    findUnusedParameters: boolean;
    batchScope?: 'per-worker' | 'global';
  };
}

export interface LoopOptions {
  resume?: boolean;
  /** Replace an existing run of the same name (instead of refusing). */
  overwrite?: boolean;
  /** Progress (default: a bar when stderr is a terminal, else a plain line every `progressInterval` seconds). */
  progress?: boolean;
  /** Seconds between plain progress lines without a terminal (default INKWELL_PROGRESS_INTERVAL or 30). */
  progressInterval?: number;
  /** Receives one human-readable line per epoch, warnings and plain progress lines (default: stderr). */
  log?: (line: string) => void;
  /**
   * Stop after this many epochs in this invocation (the schedule still spans train.epochs), e.g. to fit a
   * cluster's time limit; `resume` continues later exactly where it stopped. A positive integer.
   */
  maxEpochs?: number;
  /**
   * The data-parallel group to train in. Default: DataParallel.fromEnv() (RANK, WORLD_SIZE, MASTER_ADDR, ...;
   * none set = a single process), closed at the end; null forces a single process.
   */
  dataParallel?: DataParallel | null;
}

/** What the adapter's setup learns from the loop. */
export interface SetupContext {
  dp: DataParallel | null;
  isMain: boolean;
  rank: number;
  worldSize: number;
  /** This worker's batch (train.batchSize, or its share of it when distributed.batchScope is 'global'). */
  localBatch: number;
  log: (line: string) => void;
  /**
   * The run's device and precision (src/train/device.ts): the loop moves the trainer's networks there; the
   * trainer places its batches with `rt.input` and runs its forward in `rt.forward` (autocast).
   */
  rt: DeviceRuntime;
}

/** One micro-batch's forward: the loss to back-propagate and numbers to log (averaged over the workers). */
export interface StepOutput {
  loss: Tensor;
  values?: Record<string, number>;
}

export interface EpochStats {
  epoch: number;
  /** Mean over the epoch's micro-batches of the loss and of every value the step returned. */
  loss: number;
  means: Record<string, number>;
  tilesPerSecond: number;
  /** Where the epoch's checkpoint goes (written after endEpoch). */
  checkpoint: string;
}

export interface EpochReport<S> {
  /** Appended to the epoch's line after `loss X`. */
  text: string;
  /** Fields of the `<kind>_epoch` record (besides loss and tiles_per_s). */
  record: Record<string, number | null>;
  warnings?: string[];
  summary: S;
}

/** A trainer as the loop sees it. `S` is the trainer's per-epoch summary. */
export interface TrainingTask<S> {
  /** metrics.jsonl `kind` (and TensorBoard tag prefix) of per-step records; epoch records use `<kind>_epoch`. */
  metricKind: string;
  /** The trained networks: synchronised in backward, converted to SyncBatchNorm, broadcast from rank 0. */
  module: Module;
  /** Networks that follow the trained ones and run in training mode (BYOL's target): converted and broadcast. */
  followers: Module[];
  /** Copies that only need rank 0's weights at the start (SWA/EMA averages). */
  copies: Module[];
  pipeline: PrefetchPipeline;
  /** The optimiser for a global batch, its base learning rate, and whether that rate follows the batch. */
  optimizer(globalBatch: number): { optimizer: TrainingOptimizer; lr: number; scalesWithBatch: boolean };
  schedule(optStepsPerEpoch: number): optim.LinearWarmupCosineOptions;
  /** Puts the networks in training mode (a frozen encoder stays in evaluation mode). */
  train(): void;
  /** Before each epoch's first step (SWA's constant learning rate). */
  beginEpoch?(epoch: number, optimizer: TrainingOptimizer): void;
  /** Inside a scope owned by the loop; tensors not returned are freed with it. */
  step(batch: Batch, at: { epoch: number; rank: number; gather: ((z: Tensor) => Tensor) | null }): StepOutput;
  /** Extra fields of a per-step record, from the values averaged over the workers. */
  stepRecord?(values: Record<string, number>): Record<string, number>;
  /** Whether the scheduler steps after this epoch's optimiser steps (false while SWA holds the rate). */
  schedulerSteps?(epoch: number): boolean;
  /** After every optimiser step, with the training progress k/K in [0, 1] (BYOL's target update). */
  afterOptimizerStep?(progress: number): void;
  /** After the epoch's last step, before its checkpoint (SWA update, validation on rank 0). */
  endEpoch(
    stats: EpochStats,
    logRecord: (kind: string, step: number, record: Record<string, number | null>) => void,
  ): Promise<EpochReport<S>>;
  /** What the checkpoint holds besides the optimiser, scheduler and loop counters. */
  checkpoint(): { modules: Record<string, Module>; config: unknown; extra?: Record<string, SaveValue> };
  /** Receives the checkpoint's 'extra' on resume (tensors alive only during the call). */
  restoreExtra?(extra: Map<unknown, unknown>): void;
  dispose(): Promise<void>;
}

export interface LoopResult<S> {
  runDir: string;
  epochs: S[];
  /** The newest checkpoint written (or found, when resuming a finished run). */
  lastCheckpoint: string | null;
  /** This process's rank and the number of workers (0 and 1 for a single process). */
  rank: number;
  worldSize: number;
}

const MaxEpochsSchema = z.number().int().positive();

/** `a.b: old -> new` for every leaf setting that differs between two configs. */
function configChanges(before: unknown, after: unknown, prefix = ''): string[] {
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObj(before) && isObj(after)) {
    const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
    return [...keys].flatMap((k) => configChanges(before[k], after[k], prefix ? `${prefix}.${k}` : k));
  }
  return JSON.stringify(before) === JSON.stringify(after)
    ? []
    : [`${prefix}: ${JSON.stringify(before)} -> ${JSON.stringify(after)}`];
}

/** A checkpoint image (as rank 0 sends it) as torch.load would give it: stored tensors made live. */
function liveCheckpoint(bytes: Uint8Array, where: string): torch.LoadedValue {
  const live = (v: PyValue): torch.LoadedValue => {
    if (isStoredTensor(v)) return torch.fromStored(v);
    if (Array.isArray(v)) return v.map(live);
    if (v instanceof Map) {
      const out =
        v instanceof PyOrderedDict
          ? new PyOrderedDict<PyValue, torch.LoadedValue>()
          : new Map<PyValue, torch.LoadedValue>();
      for (const [k, x] of v) out.set(k, live(x));
      return out;
    }
    return v as torch.LoadedValue;
  };
  return live(readCheckpointBytes(bytes, where).value);
}

/** Batch norm in training mode normalises by the batch's own statistics, which one sample does not have. */
function checkBatchNormBatch(label: string, modules: Module[], batch: number, where: string): void {
  for (const m of modules) {
    for (const [name, child] of m.namedModules()) {
      if (!child.training || !/BatchNorm/.test(child.constructor.name)) continue;
      throw new Error(
        `${label}: batch norm in training needs a batch of at least 2 samples, got ${batch} ${where} ` +
          `(${child.constructor.name} '${name || '(root)'}'); raise train.batchSize`,
      );
    }
  }
}

/**
 * Runs the task that `setup` builds (once the data-parallel group is up and the device checked) through the
 * loop. `label` prefixes its messages, e.g. 'pretrain' or the run's name.
 */
export async function runTraining<S>(
  cfg: LoopConfig,
  opts: LoopOptions,
  label: string,
  setup: (ctx: SetupContext) => Promise<TrainingTask<S>>,
): Promise<LoopResult<S>> {
  if (opts.maxEpochs !== undefined && !MaxEpochsSchema.safeParse(opts.maxEpochs).success) {
    throw new Error(`maxEpochs (--max-epochs): expected a positive integer, got ${String(opts.maxEpochs)}`);
  }
  return withDataParallel(opts.dataParallel, cfg.distributed, (dp) => train(cfg, opts, label, setup, dp));
}

/** Rank 0 and the others agree on a failure (every worker throws), or the error is thrown as is. */
async function agreed(dp: DataParallel | null, stage: string, error: unknown): Promise<void> {
  if (dp) await dp.agree(stage, error);
  else if (error) throw error;
}

async function train<S>(
  cfg: LoopConfig,
  opts: LoopOptions,
  label: string,
  setup: (ctx: SetupContext) => Promise<TrainingTask<S>>,
  dp: DataParallel | null,
): Promise<LoopResult<S>> {
  const isMain = dp === null || dp.isMain;
  const world = dp?.worldSize ?? 1;
  const rank = dp?.rank ?? 0;
  // Only rank 0 talks; the others fail loudly through errors.
  const log = isMain ? (opts.log ?? ((line: string) => process.stderr.write(line + '\n'))) : () => undefined;
  if (cfg.train.threads) torch.setNumThreads(cfg.train.threads);
  const rt = DeviceRuntime.open(cfg, label, dp ? { localRank: dp.localRank } : {});
  const runDir = resolve(join(cfg.out, cfg.name));

  let localBatch = cfg.train.batchSize;
  if (dp && cfg.distributed.batchScope === 'global') {
    if (cfg.train.batchSize % world !== 0) {
      throw new Error(
        `${cfg.name}: train.batchSize ${cfg.train.batchSize} is the global batch (distributed.batchScope 'global') ` +
          `and must divide evenly over ${world} workers`,
      );
    }
    localBatch = cfg.train.batchSize / world;
  }
  torch.manualSeed(cfg.seed);

  // Everything that can be checked is checked before the run folder exists: a failed start leaves nothing.
  let task: TrainingTask<S> | null = null;
  let error: unknown = null;
  try {
    task = await setup({ dp, isMain, rank, worldSize: world, localBatch, log, rt });
  } catch (err) {
    error = err;
  }
  try {
    await agreed(dp, 'preparing the run', error);
  } catch (err) {
    await task?.dispose(); // another worker failed
    throw err;
  }
  const t = task!;
  let optimizer: TrainingOptimizer | null = null;
  let run: RunDir | null = null;
  let createdRunDir = false;
  let started = false;
  try {
    const all = Array.from({ length: t.pipeline.length }, (_, i) => i);
    const batchesPerEpoch = t.pipeline.batchesPerEpoch(dp ? dp.shard(all) : all);
    if (batchesPerEpoch === 0) {
      throw new Error(
        `${label}: the datasets give ${t.pipeline.length} tiles, fewer than one batch of ${localBatch}` +
          `${dp ? ` on each of ${world} workers` : ''} (lower train.batchSize or data.stride)`,
      );
    }
    if (dp && cfg.distributed.syncBatchNorm) {
      // In place: the same tensors under the same names, so checkpoints do not change.
      for (const m of [t.module, ...t.followers]) dp.convertSyncBatchNorm(m);
    }
    for (const m of [t.module, ...t.followers, ...t.copies]) rt.prepare(m);
    t.train();
    const normBatch = dp && cfg.distributed.syncBatchNorm ? localBatch * world : localBatch;
    if (normBatch < 2)
      checkBatchNormBatch(label, [t.module, ...t.followers], normBatch, dp ? `over ${world} workers` : 'per step');

    const accumulation = cfg.train.gradAccumulation;
    const optStepsPerEpoch = Math.ceil(batchesPerEpoch / accumulation);
    const totalOptSteps = optStepsPerEpoch * cfg.train.epochs;
    const globalBatch = localBatch * world * accumulation;
    const built = t.optimizer(globalBatch);
    optimizer = built.optimizer;
    const scheduler = new optim.LinearWarmupCosine(optimizer, t.schedule(optStepsPerEpoch));

    // Rank 0 opens the run folder (and reads the checkpoint to resume from); every worker learns whether it could.
    let resumeFrom: { path: string; bytes: Uint8Array | null } | null = null;
    error = null;
    if (isMain) {
      try {
        createdRunDir = !existsSync(runDir) || (opts.overwrite ?? false);
        run = RunDir.open(cfg.out, cfg.name, { resume: opts.resume ?? false, overwrite: opts.overwrite ?? false });
        await run.saveConfig(cfg);
        const latest = opts.resume ? run.latestCheckpoint() : null;
        if (latest) resumeFrom = { path: latest.path, bytes: dp ? await readFile(latest.path) : null };
      } catch (err) {
        error = err;
      }
    }
    await agreed(dp, 'opening the run folder', error);

    let startEpoch = 1;
    let optStep = 0;
    /** Micro-batches logged so far: the step of metrics.jsonl and TensorBoard. */
    let batchStep = 0;
    let lastCheckpoint: string | null = null;
    if (opts.resume) {
      // Every worker restores the same bytes: rank 0 reads the file and sends it (no shared disk needed).
      let value: torch.LoadedValue | null = null;
      let where = resumeFrom?.path ?? 'the checkpoint from rank 0';
      if (dp) {
        const bytes = await dp.broadcastBytes(
          isMain ? (resumeFrom?.bytes ?? new Uint8Array(0)) : null,
          0,
          'the checkpoint to resume from',
        );
        if (bytes.length > 0) value = liveCheckpoint(bytes, where);
      } else if (resumeFrom) {
        value = (await torch.load(resumeFrom.path)).value;
      }
      let keptSteps = 0;
      if (value !== null) {
        const saved = t.checkpoint();
        const restored = restoreTrainingState(value, where, {
          modules: saved.modules,
          optimizer,
          scheduler,
          onExtra: (extra: Map<unknown, unknown>) => {
            restoreGradScaler(extra, rt.scaler, where);
            t.restoreExtra?.(extra);
          },
        });
        where = resumeFrom?.path ?? RunDir.checkpointPathIn(runDir, restored.epoch);
        const changed = configChanges(restored.config, saved.config);
        if (changed.length) {
          log(
            `${label}: settings changed since ${where}: ${changed.slice(0, 8).join('; ')}` +
              `${changed.length > 8 ? `; ... ${changed.length - 8} more` : ''}. ` +
              "The optimiser and scheduler continue from the checkpoint's state (learning rates included).",
          );
        }
        startEpoch = restored.epoch + 1;
        optStep = restored.step;
        const savedBatchStep = restored.extra.get('batch_step');
        const savedWorld = Number(restored.extra.get('world_size') ?? 1);
        const savedSteps = Number(restored.extra.get('opt_steps_per_epoch') ?? optStepsPerEpoch);
        keptSteps = typeof savedBatchStep === 'number' ? savedBatchStep : restored.epoch * batchesPerEpoch;
        batchStep = keptSteps;
        if (savedWorld !== world)
          log(`${label}: the checkpoint was written by ${savedWorld} worker(s); continuing with ${world}`);
        if (savedSteps !== optStepsPerEpoch) {
          // The global batch changed (another number of workers with per-worker batches): keep the schedule's
          // position in epochs and count steps in the new batches from here on.
          const sd = scheduler.stateDict();
          const position = Math.round((Number(sd['last_epoch']) * optStepsPerEpoch) / savedSteps);
          if (built.scalesWithBatch) for (const g of optimizer.paramGroups) g['initial_lr'] = built.lr;
          const s = t.schedule(optStepsPerEpoch);
          scheduler.loadStateDict({
            ...sd,
            warmup_steps: s.warmupSteps,
            total_steps: s.totalSteps,
            last_epoch: position - 1,
            _step_count: position,
            ...(built.scalesWithBatch ? { base_lrs: optimizer.paramGroups.map(() => built.lr) } : {}),
          });
          scheduler.step();
          log(
            `${label}: ${savedSteps} optimiser steps per epoch before, ${optStepsPerEpoch} now ` +
              `(global batch ${globalBatch}); the schedule continues from epoch ${restored.epoch} ` +
              `(step ${optStep} -> ${restored.epoch * optStepsPerEpoch})`,
          );
          optStep = restored.epoch * optStepsPerEpoch;
          // The logged step keeps counting micro-batches from where it was, so that curves never step back.
        }
        lastCheckpoint = where;
        log(`${label}: resuming ${runDir} from epoch ${restored.epoch} (${where})`);
      } else {
        log(`${label}: nothing to resume in ${runDir}; starting at epoch 1`);
      }
      // What the interrupted invocation logged past the checkpoint is logged again: drop it (metrics.jsonl) and
      // tell TensorBoard to purge it (SummaryWriter(purge_step=...)), so that curves do not double back.
      run?.dropHistoryAfter(keptSteps, startEpoch - 1, t.metricKind);
    }
    if (dp) {
      // Everyone starts from rank 0's weights and buffers (DDP's initial _sync_module_states).
      await dp.broadcastModules([t.module, ...t.followers, ...t.copies]);
      log(
        `${label}: data-parallel over ${world} workers: ${localBatch} tiles per worker, ` +
          `global batch ${localBatch * world}${accumulation > 1 ? ` x ${accumulation} accumulated` : ''}, ` +
          `SyncBatchNorm ${cfg.distributed.syncBatchNorm ? 'on' : 'off'}`,
      );
      dp.attach(t.module, {
        findUnusedParameters: cfg.distributed.findUnusedParameters,
        onReady: (info) => log(`${label}: ${describeReducer(info)}`),
      });
    }
    started = true;

    const epochs: S[] = [];
    const lastEpoch = Math.min(cfg.train.epochs, startEpoch - 1 + (opts.maxEpochs ?? Infinity));
    for (let epoch = startEpoch; epoch <= lastEpoch; epoch++) {
      t.train();
      t.beginEpoch?.(epoch, optimizer);
      // The order of tiles depends on (seed, epoch) only, so a resumed run visits them as the original did;
      // each worker takes its shard of the same order.
      const order = createRng(cfg.seed * 100_003 + epoch).shuffle([...all]);
      const bar = progress(`${label} epoch ${epoch}/${cfg.train.epochs}`, batchesPerEpoch, {
        unit: 'batches',
        ...(!isMain ? { enabled: false } : opts.progress === undefined ? {} : { enabled: opts.progress }),
        plain: {
          write: log,
          ...(opts.progressInterval === undefined ? {} : { intervalSeconds: opts.progressInterval }),
        },
      });
      const sums: Record<string, number> = {};
      let lossSum = 0;
      let tiles = 0;
      let seconds = 0;
      let micro = 0;
      try {
        for await (const batch of t.pipeline.epoch(epoch, dp ? dp.shard(order) : order)) {
          const t0 = performance.now();
          const where = `epoch ${epoch}, batch ${batch.index + 1}`;
          let loss: number;
          let values: Record<string, number>;
          let update: boolean;
          try {
            using _step = torch.scope();
            const forward = () => {
              const out = t.step(batch, { epoch, rank, gather: dp ? (z) => dp.gather(z) : null });
              return {
                loss: out.loss,
                numbers: [out.loss.item(), ...Object.values(out.values ?? {})],
                names: Object.keys(out.values ?? {}),
              };
            };
            const fwd = dp ? dp.guard(`forward of ${where}`, forward) : forward();
            // Global means over the workers (what one worker on the whole batch would log); a non-finite loss on
            // any worker makes the mean non-finite, so all of them stop together, before backward.
            const numbers = dp ? await dp.allreduceNumbers(fwd.numbers, 'avg', 'losses') : fwd.numbers;
            loss = numbers[0]!;
            if (!Number.isFinite(loss)) {
              throw new NonFiniteLossError(
                `${label}: the loss became ${loss} at epoch ${epoch}, batch ${batch.index + 1}/${batchesPerEpoch} ` +
                  `(optimiser step ${optStep + 1}); stopped before updating the weights. ` +
                  `The last good checkpoint is ${lastCheckpoint ?? '(none yet)'}. ` +
                  'Try a lower optim.lr or a longer warmup.',
              );
            }
            values = Object.fromEntries(fwd.names.map((k, i) => [k, numbers[i + 1]!]));
            micro++;
            // Gradients of every worker are averaged in the backward before each optimiser step (DDP's no_sync on
            // the others).
            update = micro % accumulation === 0 || micro === batchesPerEpoch;
            const scaled = rt.scaleLoss(accumulation > 1 ? fwd.loss.div(accumulation) : fwd.loss);
            if (dp) await dp.backward(scaled, { sync: update, op: `backward of ${where}` });
            else scaled.backward();
            if (update) {
              // GradScaler's order (src/train/device.ts): unscale, clip, step unless fp16 overflowed, update.
              torch.tidy(() => {
                rt.step(optimizer!, cfg.train.gradClip);
                optimizer!.zeroGrad();
              });
            }
          } catch (err) {
            throw withMemoryHint(err, {
              what: `${label}: ${where}`,
              batchSize: batch.size,
              device: rt.device,
              accumulation,
            });
          }
          if (update) {
            optStep++;
            if (t.schedulerSteps?.(epoch) ?? true) scheduler.step();
            t.afterOptimizerStep?.(Math.min(1, optStep / totalOptSteps));
          }
          batchStep++;
          const dt = (performance.now() - t0) / 1000;
          const stepTiles = batch.size * world;
          lossSum += loss;
          tiles += stepTiles;
          seconds += dt;
          for (const [k, v] of Object.entries(values)) sums[k] = (sums[k] ?? 0) + v;
          run?.log(t.metricKind, batchStep, {
            epoch,
            loss,
            ...values,
            ...t.stepRecord?.(values),
            lr: optimizer.paramGroups[0]!.lr,
            tiles_per_s: stepTiles / dt,
          });
          bar.tick(1, `loss ${loss.toFixed(4)}, ${(tiles / seconds).toFixed(1)} tiles/s`);
          await new Promise<void>((r) => setImmediate(r)); // let finalizers and the workers' messages run
        }
      } finally {
        bar.stop();
      }
      const means = Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / micro]));
      const path = RunDir.checkpointPathIn(runDir, epoch);
      const stats: EpochStats = {
        epoch,
        loss: lossSum / micro,
        means,
        tilesPerSecond: tiles / seconds,
        checkpoint: path,
      };
      // The epoch's records are written after its checkpoint: none survives a kill that the resume would repeat.
      const records: [string, number, Record<string, number | null>][] = [];
      const report = await t.endEpoch(stats, (kind, step, record) => records.push([kind, step, record]));
      if (run) {
        const state = t.checkpoint();
        await saveTrainingCheckpoint(path, {
          epoch,
          step: optStep,
          modules: state.modules,
          optimizer,
          scheduler,
          config: state.config,
          // Run-level facts (no per-worker state): a resume with another number of workers rescales the schedule.
          extra: {
            ...state.extra,
            ...gradScalerExtra(rt.scaler),
            world_size: world,
            opt_steps_per_epoch: optStepsPerEpoch,
            batch_step: batchStep,
          },
        });
        run.prune(cfg.checkpoint.keepLast, cfg.checkpoint.keepEvery);
      }
      if (dp) await dp.barrier(); // the others wait for rank 0's validation and checkpoint
      lastCheckpoint = path;
      epochs.push(report.summary);
      for (const [kind, step, record] of records) run?.log(kind, step, record);
      run?.log(`${t.metricKind}_epoch`, epoch, {
        loss: stats.loss,
        ...report.record,
        tiles_per_s: stats.tilesPerSecond,
      });
      log(`${label} epoch ${epoch}/${cfg.train.epochs}: loss ${stats.loss.toFixed(4)}${report.text} -> ${path}`);
      for (const w of report.warnings ?? []) log(`WARNING: ${w}`);
    }
    return {
      runDir,
      epochs,
      lastCheckpoint: lastCheckpoint ?? run?.latestCheckpoint()?.path ?? null,
      rank,
      worldSize: world,
    };
  } catch (err) {
    // A start that failed before training leaves no folder of its own behind.
    if (!started && createdRunDir) {
      run?.close();
      run = null;
      rmSync(runDir, { recursive: true, force: true });
    }
    throw err;
  } finally {
    run?.close();
    optimizer?.dispose();
    await t.dispose();
  }
}
