/**
 * The config of supervised ink training: frozen-encoder probes and full fine-tuning share one schema (probe =
 * frozen encoder + the light probe decoder; fine-tune = everything trainable + the 4th-place/Grand-Prize
 * U-Net decoder), with presets, YAML/JSON files and `--set` on top.
 */
import { z } from 'zod';
import { DatasetSchema, DistributedSchema, EncoderModelSchema } from '../ssl/config.js';
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
import { DEFAULT_NORMALIZE } from '../data/normalize.js';

export const SupervisedConfigSchema = z
  .object({
    ...runFields('finetune'),
    data: z
      .object({
        train: z.array(DatasetSchema).min(1),
        /** Held-out validation sets (a band of rows of a fragment, or another fragment). */
        val: z.array(DatasetSchema).default([]),
        tile: positiveInt().default(128),
        stride: positiveInt().default(32),
        erode: int().nonnegative().default(16),
        /**
         * Share of a tile that must lie inside the eroded mask (training and validation tiles). 1 keeps the reference
         * study's tiles fully inside; lower values also train on the mask's border, which whole-fragment inference
         * scores (src/data/tiles.ts).
         */
        minMaskFraction: z.number().gt(0).max(1).default(1),
        depth: positiveInt().default(20),
        /**
         * 'flips': the dihedral group only (flips and rot90), which keeps the ink's appearance exactly;
         * 'intensity': flips plus the reference study's intensity and noise set (brightness/contrast, gamma,
         * Gaussian noise or blur), for models that must hold on scans at other grey levels and noise;
         * 'scale': flips plus shift/rotate and zoom by 0.5..1.5, for models that must hold on other stroke widths.
         */
        augment: aliasedEnum(['kaggle', 'reference', 'flips', 'intensity', 'scale', 'none']).default('kaggle'),
        /**
         * Normalisation of every dataset that names none (src/data/normalize.ts): per-volume percentiles by default,
         * saved in the checkpoint so that inference applies the same.
         */
        normalize: z.string().default(DEFAULT_NORMALIZE),
        /** Probability of reversing a training crop's slice order (the 'zflip' op), for models that must not rely on it. */
        zFlip: z.number().min(0).max(1).default(0),
        /** Validate only on tiles with ink (the reference study's protocol on fragment 4). */
        valRequireInk: z.boolean().default(false),
        valStride: positiveInt().optional(),
        maxTiles: positiveInt().optional(),
        maxValTiles: positiveInt().optional(),
        workers: int().nonnegative().default(1),
      })
      .strict(),
    model: EncoderModelSchema.extend({
      decoder: z.enum(['unet', 'probe']).default('unet'),
      output: z.enum(['full', 'half', 'quarter']).default('full'),
      depthPool: z.enum(['mean', 'max']).default('mean'),
    })
      .strict()
      .prefault({}),
    encoder: z
      .object({
        /** Initial encoder weights: null = random init; an inkwell checkpoint or an external .pth/.safetensors. */
        weights: z.string().nullable().default(null),
        /** Entry holding the state dict in an external file (default: 'state_dict' when present). */
        key: z.string().optional(),
        /** Freeze the encoder (no gradients, batch-norm statistics frozen): the probe protocol. */
        freeze: z.boolean().default(false),
        strict: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    loss: z
      .object({
        bce: z.number().nonnegative().default(0.5),
        dice: z.number().nonnegative().default(0.5),
        /** Pulls targets towards 0.5 (the Grand Prize used .25 on BCE). */
        labelSmoothing: z.number().min(0).max(0.99).default(0),
      })
      .strict()
      .prefault({}),
    optim: z
      .object({
        name: z.enum(['adamw', 'sgd']).default('adamw'),
        lr: z.number().positive().default(1e-4),
        weightDecay: z.number().nonnegative().default(1e-2),
        momentum: z.number().min(0).max(1).default(0.9),
      })
      .strict()
      .prefault({}),
    schedule: z
      .object({
        warmupEpochs: z.number().nonnegative().default(1),
        startFactor: z.number().positive().max(1).default(0.1),
        etaMin: z.number().nonnegative().default(1e-6),
      })
      .strict()
      .prefault({}),
    train: z
      .object({
        epochs: positiveInt().default(20),
        batchSize: positiveInt().default(16),
        gradAccumulation: positiveInt().default(1),
        gradClip: z.number().positive().nullable().default(1),
        /**
         * Probability that a sample is cut-mixed / mixed up with a random partner of its batch (Kaggle 2nd/4th
         * place; src/data/augment/mix.ts). Unset: the augmentation preset's own mixing (data.augment 'kaggle':
         * cutmix 0.5, mixup 0.2), none for the others. Set 0 to turn the preset's off.
         */
        cutmix: z.number().min(0).max(1).optional(),
        mixup: z.number().min(0).max(1).optional(),
        /** Beta(alpha, alpha) of the cutmix box share and of mixup's lambda (unset: the preset's, else 1 and 0.4). */
        cutmixAlpha: z.number().positive().optional(),
        mixupAlpha: z.number().positive().optional(),
        threads: positiveInt().optional(),
        /** Validate every this many epochs (and always after the last). */
        valEvery: positiveInt().default(1),
      })
      .strict()
      .prefault({}),
    checkpoint: z
      .object({ keepLast: positiveInt().default(2), keepEvery: int().nonnegative().default(0) })
      .strict()
      .prefault({}),
    /** Data-parallel training (finetune --nproc-per-node N, or RANK/WORLD_SIZE/... from any launcher); train.batchSize is per worker. */
    distributed: DistributedSchema.prefault({}),
  })
  .strict();

export type SupervisedConfig = z.output<typeof SupervisedConfigSchema>;

export const SUPERVISED_PRESETS: Record<string, Plain> = {
  /** Full fine-tuning: U-Net decoder over depth-pooled stages, 0.5 BCE + 0.5 Dice, AdamW warmup + cosine. */
  finetune: {},
  /** Frozen encoder + light probe decoder (the reference study's test of whether pretraining learned anything). */
  probe: {
    name: 'probe',
    model: { decoder: 'probe' },
    encoder: { freeze: true },
    optim: { lr: 1e-3, weightDecay: 1e-4 },
  },
  /** Minutes on 2 CPU cores (the demo): a narrow r3d-10 on 64 px tiles of 16 slices. */
  'cpu-small': {
    data: { tile: 64, stride: 32, depth: 16 },
    model: { arch: 'resnet3d-10-reference', widenFactor: 0.25 },
    train: { epochs: 6, batchSize: 16 },
    optim: { lr: 2e-3 },
  },
};

/**
 * The reference study's two probe protocols over a folder of Kaggle fragments named 1..4 (docs/reference-study.md):
 * 'reference-1' (earlier 'seed-1'): train on 1, 3, 4 and the upper 70% of 2, validate on the lower 30% of 2;
 * 'reference-2' (earlier 'seed-2'): train on 1, 2, 3, validate on 4 using only tiles with ink.
 */
export function protocolDatasets(protocol: string, fragmentsDir: string): Plain {
  const frag = (id: string, rows?: [number, number]) => ({ path: `${fragmentsDir}/${id}`, ...(rows ? { rows } : {}) });
  switch (canonicalName(protocol)) {
    case 'reference-1':
      return { data: { train: [frag('1'), frag('3'), frag('4'), frag('2', [0, 0.7])], val: [frag('2', [0.7, 1])] } };
    case 'reference-2':
      return { data: { train: [frag('1'), frag('2'), frag('3')], val: [frag('4')], valRequireInk: true } };
    default:
      throw new Error(`unknown protocol '${protocol}' (known: reference-1, reference-2; earlier names seed-1, seed-2)`);
  }
}

export interface SupervisedConfigSources {
  preset?: string | string[];
  file?: string;
  set?: readonly string[];
  /** The reference study's probe protocol over a folder of fragments 1..4. */
  protocol?: { name: string; fragments: string };
  extra?: Plain;
}

export async function loadSupervisedConfig(src: SupervisedConfigSources): Promise<SupervisedConfig> {
  const presets = typeof src.preset === 'string' ? [src.preset] : (src.preset ?? ['finetune']);
  const layers = presets.map((p) => {
    const layer = SUPERVISED_PRESETS[p];
    if (!layer) throw new Error(`unknown preset '${p}' (known: ${Object.keys(SUPERVISED_PRESETS).join(', ')})`);
    return layer;
  });
  const file = src.file ? await readConfigFile(src.file) : {};
  const protocol = src.protocol ? protocolDatasets(src.protocol.name, src.protocol.fragments) : {};
  const overrides = parseOverrides(src.set ?? []);
  const all = [...layers, protocol, file, src.extra ?? {}, overrides];
  if (!all.some((l) => (l['data'] as Plain | undefined)?.['train'] !== undefined)) {
    throw new Error(
      'no labelled data to train on: give --train DIR (repeatable), --protocol with --fragments, or data.train in --config',
    );
  }
  return resolveConfig(SupervisedConfigSchema, ...all);
}
