/**
 * The same supervised protocol repeated for several encoders (random init, pretraining checkpoints, external
 * Kinetics weights) and seeds: one run folder `<base.name>/<label>-seed<s>` each. The study (src/study) scores
 * the runs' checkpoints on cached tiles with intervals and controls; this file only trains them.
 */
import { join } from 'node:path';
import type { SupervisedConfig } from './config.js';
import { trainSupervised, type SupervisedOptions, type ValidationScores } from './trainer.js';

export interface EncoderChoice {
  /** Row label, e.g. 'random', 'vicreg epoch 4', 'kinetics-700'. */
  label: string;
  /** Weights file, or null for random initialisation. */
  weights: string | null;
  /** The encoder's own architecture when it differs from the config's (an external Kinetics ResNet3D). */
  model?: { arch: string; widenFactor: number };
}

/** `label=path`, a bare path (labelled by its file name) or 'random'. */
export function parseEncoderChoice(text: string): EncoderChoice {
  if (text === 'random') return { label: 'random', weights: null };
  const eq = text.indexOf('=');
  if (eq > 0) {
    const weights = text.slice(eq + 1);
    return { label: text.slice(0, eq), weights: weights === 'random' ? null : weights };
  }
  return {
    label: text
      .split('/')
      .at(-1)!
      .replace(/\.(pth|pt|ckpt|safetensors)$/, ''),
    weights: text,
  };
}

export interface EncoderRun {
  encoder: string;
  seed: number;
  /** Last checkpoint of the run (a segmentation checkpoint). */
  checkpoint: string;
  /** The trainer's own validation scores (at a threshold chosen on those same pixels: not a study score). */
  final: ValidationScores;
}

/**
 * Trains `base` once per encoder and seed. `weightsFor` may give a seed its own weights (e.g. the pretraining
 * run of the same seed); by default every seed starts from `encoder.weights`.
 */
export async function trainPerEncoder(
  base: SupervisedConfig,
  encoders: readonly EncoderChoice[],
  seeds: readonly number[],
  opts: SupervisedOptions = {},
  weightsFor: (e: EncoderChoice, seed: number) => string | null = (e) => e.weights,
): Promise<EncoderRun[]> {
  if (encoders.length === 0) throw new Error('trainPerEncoder: no encoders given');
  if (base.data.val.length === 0) throw new Error('trainPerEncoder: the protocol has no validation data (data.val)');
  const runs: EncoderRun[] = [];
  for (const enc of encoders) {
    for (const seed of seeds) {
      const cfg: SupervisedConfig = {
        ...base,
        seed,
        out: join(base.out, base.name),
        name: `${enc.label.replace(/[^\w.-]+/g, '_')}-seed${seed}`,
        encoder: { ...base.encoder, weights: weightsFor(enc, seed) },
        model: { ...base.model, ...enc.model },
      };
      const r = await trainSupervised(cfg, opts);
      if (!r.final || !r.lastCheckpoint)
        throw new Error(`trainPerEncoder: ${cfg.name} produced no validation scores or checkpoint`);
      runs.push({ encoder: enc.label, seed, checkpoint: r.lastCheckpoint, final: r.final });
    }
  }
  return runs;
}
