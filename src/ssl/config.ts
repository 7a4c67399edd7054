/**
 * The pretraining config: one zod schema with defaults, named presets (the reference study's exact settings, the VICReg
 * paper's, and a small CPU run for the demo), YAML/JSON files and `--set key=value` on top.
 */
import { z } from 'zod';
import { runFields } from '../train/run-config.js';
import {
  aliasedEnum,
  canonicalName,
  int,
  parseOverrides,
  positiveInt,
  readConfigFile,
  resolveConfig,
  type Plain,
} from '../util/config.js';

export const DatasetSchema = z
  .object({
    path: z.string().min(1),
    z: z.tuple([int().nonnegative(), int().positive()]).optional(),
    scale: z.number().positive().max(1).optional(),
    reversed: z.boolean().optional(),
    /** 'auto': a manifest, else detected from the density profile (src/data/layer-order.ts). */
    layerOrder: z.enum(['auto', 'as-stored', 'reversed']).optional(),
    normalize: z.string().optional(),
    rows: z.tuple([z.number().min(0), z.number().max(1)]).optional(),
  })
  .strict();

/** The encoder every trainer builds (registry name, input channels, stage-width multiplier). */
export const EncoderModelSchema = z
  .object({
    arch: z.string().default('resnet3d-50-reference'),
    inChannels: positiveInt().default(1),
    widenFactor: z.number().positive().default(1),
  })
  .strict();

/** Data-parallel settings shared by every trainer (the pretraining config adds batchScope). */
export const DistributedSchema = z
  .object({
    /** Batch norm over the global batch (main_vicreg.py and SimSiam's main convert the model with nn.SyncBatchNorm.convert_sync_batchnorm). */
    syncBatchNorm: z.boolean().default(true),
    /** Gradient bucket size for the allreduce (DDP's bucket_cap_mb). */
    bucketCapMB: z.number().positive().default(25),
    /** How long a collective may wait for the other workers before the run stops with an error. */
    timeoutSeconds: z.number().positive().default(300),
    /**
     * Search every synchronised backward for trainable parameters that get no gradient (DDP's
     * find_unused_parameters), for models whose loss uses different parameters from step to step. Off, the
     * gradients averaged are those of the parameters the first step's loss reaches (so a head the loss never uses
     * is left out), with no cost per step.
     */
    findUnusedParameters: z.boolean().default(false),
  })
  .strict();

export const PretrainConfigSchema = z
  .object({
    ...runFields('pretrain'),
    data: z
      .object({
        datasets: z.array(DatasetSchema).min(1),
        tile: positiveInt().default(128),
        stride: positiveInt().default(32),
        erode: int().nonnegative().default(16),
        /** Slices the model sees; the z-range is longer by the z-shift (the reference study: 22 read, 20 used). */
        depth: positiveInt().default(20),
        augment: aliasedEnum(['reference', 'kaggle']).default('reference'),
        maxTiles: positiveInt().optional(),
        /** Prefetch worker threads (0 = inline). */
        workers: int().nonnegative().default(1),
      })
      .strict(),
    model: EncoderModelSchema.prefault({}),
    method: z
      .object({
        name: z.enum(['vicreg', 'byol', 'simsiam', 'masked']).default('vicreg'),
        /** Projector widths after the encoder's features (default: the method's). */
        projector: z.array(positiveInt()).min(1).optional(),
        vicreg: z
          .object({
            simCoeff: z.number().nonnegative().default(25),
            stdCoeff: z.number().nonnegative().default(25),
            covCoeff: z.number().nonnegative().default(5),
          })
          .strict()
          .prefault({}),
        byol: z
          .object({ baseMomentum: z.number().min(0).max(1).default(0.996) })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    optim: z
      .object({
        name: z.enum(['sgd', 'lars', 'adamw']).default('sgd'),
        lr: z.number().positive().default(0.05),
        /** Multiply lr by batch/256 (the VICReg paper's rule). */
        scaleLrByBatch: z.boolean().default(false),
        momentum: z.number().min(0).max(1).default(0.9),
        nesterov: z.boolean().default(true),
        weightDecay: z.number().nonnegative().default(5e-5),
        /** LARS trust coefficient. */
        eta: z.number().positive().default(0.001),
      })
      .strict()
      .prefault({}),
    schedule: z
      .object({
        warmupEpochs: z.number().nonnegative().default(1),
        /** The warmup starts at lr x startFactor (the reference study: x10 lower). */
        startFactor: z.number().positive().max(1).default(0.1),
        /** Epochs the cosine spans, warmup included (the reference study: T = 35). */
        cosineEpochs: z.number().positive().default(35),
        etaMin: z.number().nonnegative().default(1e-4),
      })
      .strict()
      .prefault({}),
    train: z
      .object({
        epochs: positiveInt().default(35),
        batchSize: positiveInt().default(150),
        gradAccumulation: positiveInt().default(2),
        /** Clip the gradients' global norm (null: no clipping). */
        gradClip: z.number().positive().nullable().default(1),
        threads: positiveInt().optional(),
      })
      .strict()
      .prefault({}),
    average: z
      .object({
        /** Stochastic weight averaging of the encoder from `startEpoch` (the reference study used Lightning's SWA). */
        swa: z
          .object({
            enabled: z.boolean().default(false),
            startEpoch: positiveInt().default(1),
            lr: z.number().positive().optional(),
          })
          .strict()
          .prefault({}),
        /** Exponential moving average of the encoder's weights, updated every optimiser step. */
        ema: z
          .object({ enabled: z.boolean().default(false), decay: z.number().min(0).max(1).default(0.999) })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    /**
     * Data-parallel runs (several workers, started by `--nproc-per-node` or any launcher that sets RANK,
     * WORLD_SIZE, MASTER_ADDR, MASTER_PORT); ignored by a single process.
     */
    distributed: DistributedSchema.extend({
      /**
       * 'per-worker': train.batchSize is each worker's batch (DDP and Lightning, so the reference study's 150 is per device);
       * 'global': it is the total, split over the workers (main_vicreg.py --batch-size; must divide evenly).
       */
      batchScope: z.enum(['per-worker', 'global']).default('per-worker'),
    })
      .strict()
      .prefault({}),
    checkpoint: z
      .object({ keepLast: positiveInt().default(3), keepEvery: int().nonnegative().default(5) })
      .strict()
      .prefault({}),
    monitor: z
      .object({
        /** Warn when the embeddings' std falls below this fraction of a healthy 1/sqrt(D). */
        collapseRatio: z.number().positive().default(0.25),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type PretrainConfig = z.output<typeof PretrainConfigSchema>;

/** Named starting points; a config file and --set go on top. */
export const PRETRAIN_PRESETS: Record<string, Plain> = {
  /** The reference study's run (docs/reference-study.md): r3d-50 reference-study variant, 128 px tiles, VICReg 25/25/5, SGD nesterov, warmup then cosine. */
  reference: {},
  /** VICReg paper (facebookresearch/vicreg): LARS, lr 0.2 x batch/256, wd 1e-6, 8192-8192-8192 expander, 25/25/1, 10 warmup epochs. */
  'vicreg-paper': {
    method: { projector: [8192, 8192, 8192], vicreg: { covCoeff: 1 } },
    optim: { name: 'lars', lr: 0.2, scaleLrByBatch: true, weightDecay: 1e-6, nesterov: false },
    schedule: { warmupEpochs: 10, startFactor: 0.001, cosineEpochs: 100, etaMin: 0.0002 },
    train: { epochs: 100, batchSize: 2048, gradAccumulation: 1, gradClip: null },
    // main_vicreg.py: --batch-size is the effective batch, per device batch-size / world-size.
    distributed: { batchScope: 'global' },
  },
  /** Minutes on 2 CPU cores: a narrow r3d-10 on 64 px tiles of 16 slices. */
  'cpu-small': {
    data: { tile: 64, stride: 32, depth: 16, maxTiles: 96 },
    model: { arch: 'resnet3d-10-reference', widenFactor: 0.25 },
    method: { projector: [128, 128] },
    schedule: { warmupEpochs: 1, cosineEpochs: 4, etaMin: 1e-3 },
    train: { epochs: 4, batchSize: 16, gradAccumulation: 1 },
    checkpoint: { keepLast: 10, keepEvery: 1 },
  },
};

export interface PretrainConfigSources {
  preset?: string;
  file?: string;
  set?: readonly string[];
  /** Inputs given on the command line (paths), each a dataset with default settings. */
  inputs?: readonly string[];
}

/** Resolves preset < file < --inputs < --set into a validated config. */
export async function loadPretrainConfig(src: PretrainConfigSources): Promise<PretrainConfig> {
  const preset = canonicalName(src.preset ?? 'reference');
  const presetLayer = PRETRAIN_PRESETS[preset];
  if (!presetLayer) {
    const known = Object.keys(PRETRAIN_PRESETS).join(', ');
    throw new Error(`pretrain: unknown preset '${src.preset}' (known: ${known}; 'seed' = 'reference')`);
  }
  const file = src.file ? await readConfigFile(src.file) : {};
  const inputs: Plain = src.inputs?.length ? { data: { datasets: src.inputs.map((path) => ({ path })) } } : {};
  const overrides = parseOverrides(src.set ?? []);
  const hasData = [presetLayer, file, inputs, overrides].some(
    (l) => (l['data'] as Plain | undefined)?.['datasets'] !== undefined,
  );
  if (!hasData)
    throw new Error('pretrain: no data to pretrain on: give --input DIR (repeatable) or data.datasets in --config');
  return resolveConfig(PretrainConfigSchema, presetLayer, file, inputs, overrides);
}
