/**
 * The frozen encoders of the study's arms: a random initialisation drawn from the arm's seed, or weights from
 * a file (an inkwell pretraining or segmentation checkpoint, or an external Kinetics ResNet3D, whose
 * architecture is read off its state dict so it is built at its own depth and width).
 */
import { inferResNet3DArch, loadEncoderWeights } from '../models/encoder-weights.js';
import { createEncoder } from '../models/registry.js';
import type { ResNet3D } from '../models/resnet3d.js';
import type { EncoderChoice } from '../supervised/compare.js';
import * as torch from '../torch/index.js';

export interface EncoderModel {
  arch: string;
  widenFactor: number;
}

/** A builder for runProbeStudy: seed s gives `weights(s)` loaded into `model`, or a random init seeded by s. */
export function encoderBuilder(
  model: EncoderModel,
  weights: (seed: number) => string | null,
): (seed: number) => Promise<ResNet3D> {
  return async (seed) => {
    torch.manualSeed(seed);
    const enc = createEncoder(model.arch, { widenFactor: model.widenFactor });
    const file = weights(seed);
    try {
      if (file) await loadEncoderWeights(enc, file, { strict: false });
    } catch (err) {
      enc.dispose();
      throw err;
    }
    return enc;
  };
}

/** The architecture of an external encoder file (e.g. Kinetics-700 r3d-50), for its arm's probes and fine-tuning. */
export async function externalEncoderModel(e: EncoderChoice): Promise<EncoderModel> {
  if (!e.weights) throw new Error(`externalEncoderModel(${e.label}): no weights file`);
  const sd = await torch.readStateDict(e.weights);
  const guess = inferResNet3DArch(sd);
  if (!guess || guess.depth === null) {
    throw new Error(`encoder ${e.label}=${e.weights}: not a ResNet3D state dict of a known depth`);
  }
  return { arch: `resnet3d-${guess.depth}`, widenFactor: guess.widenFactor };
}
