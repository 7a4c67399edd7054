/**
 * Checkpoints of ink-segmentation models (probe and fine-tune runs): the model's weights as a training
 * checkpoint (encoder under 'state_dict', decoder under 'modules') plus, inside the saved config, the
 * `segmentation` spec that rebuilds the same model and feeds it the same input (`inkwell infer` needs nothing
 * else). PyTorch reads the file too: `torch.load(f)['state_dict']`, `['modules']['decoder']`.
 */
import { z } from 'zod';
import * as torch from '../torch/index.js';
import { createSegmentationModel } from '../models/registry.js';
import type { SegmentationModel } from '../models/decoders.js';
import { formatIssues } from '../util/config.js';
import {
  checkpointConfig,
  disposeLoaded,
  restoreTrainingState,
  saveTrainingCheckpoint,
  type TrainingState,
} from './training-checkpoint.js';

export const SegmentationSpecSchema = z
  .object({
    arch: z.string(),
    inChannels: z.number().int().positive().default(1),
    widenFactor: z.number().positive().default(1),
    decoder: z.enum(['unet', 'probe']).default('unet'),
    output: z.enum(['full', 'half', 'quarter']).default('full'),
    depthPool: z.enum(['mean', 'max']).default('mean'),
    /** Slices the model sees, and the layer range [start, end) they are centred in (the reference study: 20 of 14..36). */
    depth: z.number().int().positive(),
    z: z.tuple([z.number().int().nonnegative(), z.number().int().positive()]),
    /** Tile side the model was trained on (inference default). */
    tile: z.number().int().positive(),
    /** Value normalisation before the model: the augmentations' /255 after an optional dataset normalisation. */
    normalize: z.string().default('none'),
  })
  .strict();

export type SegmentationSpec = z.output<typeof SegmentationSpecSchema>;

export function buildSegmentationModel(spec: SegmentationSpec): SegmentationModel {
  return createSegmentationModel(spec.arch, {
    inChannels: spec.inChannels,
    widenFactor: spec.widenFactor,
    decoder: spec.decoder,
    output: spec.output,
    depthPool: spec.depthPool,
  });
}

/** The config a segmentation checkpoint stores: the run's config with the `segmentation` spec added. */
export function segmentationCheckpointConfig(config: unknown, spec: SegmentationSpec): Record<string, unknown> {
  return { ...(typeof config === 'object' && config !== null ? config : {}), segmentation: spec };
}

export async function saveSegmentationCheckpoint(
  path: string,
  model: SegmentationModel,
  spec: SegmentationSpec,
  state: Omit<TrainingState, 'modules' | 'config'> & { config?: unknown },
): Promise<void> {
  await saveTrainingCheckpoint(path, {
    ...state,
    modules: { encoder: model.encoder, decoder: model.decoder },
    config: segmentationCheckpointConfig(state.config, spec),
  });
}

/** Rebuilds the model a segmentation checkpoint describes and loads its weights (strictly), reading the file once. */
export async function loadSegmentationModel(
  path: string,
): Promise<{ model: SegmentationModel; spec: SegmentationSpec; epoch: number }> {
  const { value } = await torch.load(path);
  let model: SegmentationModel | null = null;
  try {
    const config = checkpointConfig(value);
    if (!config?.['segmentation']) {
      throw new Error(
        `loadSegmentationModel(${path}): not an inkwell segmentation checkpoint (no 'segmentation' spec in its config); probe and finetune runs write these`,
      );
    }
    const parsed = SegmentationSpecSchema.safeParse(config['segmentation']);
    if (!parsed.success)
      throw new Error(`loadSegmentationModel(${path}): bad segmentation spec: ${formatIssues(parsed.error.issues)}`);
    model = buildSegmentationModel(parsed.data);
    const restored = restoreTrainingState(value, path, { modules: { encoder: model.encoder, decoder: model.decoder } });
    return { model, spec: parsed.data, epoch: restored.epoch };
  } catch (err) {
    model?.dispose();
    disposeLoaded(value);
    throw err;
  }
}
