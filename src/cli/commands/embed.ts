/**
 * `inkwell embed --arch resnet3d-50 [--in-channels 1] [--weights FILE] [--key state_dict] [--stage pooled|1..4]
 *  --input x.npy --output f.npy`: runs an encoder in eval mode, without gradients and in batches, on an .npy batch
 * [N,C,D,H,W] and writes the features: [N,F] for `pooled` (the global pool before any classifier), [N,C,D',H',W']
 * for a stage (1..4 = layer1..layer4, `stem` = conv1-bn1-relu). Weights of another input-channel count are
 * adapted (conv1 summed to 1 channel, repeated and scaled for more); without --weights the encoder is randomly
 * initialised from --seed (a random-encoder baseline, as in the reference study's probes).
 */
import { type Command, Option } from 'commander';
import { positiveInt, positiveNumber, seedInt } from '../options.js';
import { formatShape } from '../../torch/dtype.js';
import * as torch from '../../torch/index.js';
import type { Device, Tensor } from '../../torch/index.js';
import { createEncoder, type EncoderOptions } from '../../models/registry.js';
import {
  describeEncoderLoad,
  loadEncoderWeights,
  type EncoderLoadReport,
  type LoadEncoderOptions,
} from '../../models/encoder-weights.js';
import type { ResNet3D, StageName } from '../../models/resnet3d.js';
import { progress } from '../../util/progress.js';
import { DEFAULT_DEVICE_CONFIG, DeviceRuntime } from '../../train/device.js';
import { addDeviceOptions } from '../device-options.js';

/** Encoder flags shared by `embed` and `export`, as commander hands them over. */
export interface EncoderFlags {
  arch: string;
  inChannels?: number;
  widenFactor?: number;
  shortcut?: 'A' | 'B';
  conv1TSize?: number;
  conv1TStride?: number;
  /** commander's `--no-max-pool` sets this to false. */
  maxPool?: boolean;
  weights?: string;
  key?: string;
  prefix?: string;
  strict?: boolean;
  allowNonfiniteWeights?: boolean;
  seed?: number;
}

export function addEncoderOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--arch <name>', 'encoder architecture, e.g. resnet3d-50, resnet3d-50-reference, resnet3d-18')
    .option(
      '--in-channels <n>',
      'input channels of the encoder (checkpoints of another count are adapted)',
      positiveInt('a channel count'),
      1,
    )
    .option('--widen-factor <f>', 'multiplies the stage widths 64/128/256/512', positiveNumber('a width multiplier'))
    .addOption(
      new Option('--shortcut <A|B>', "residual shortcut type (kenshohara's shortcut_type)").choices(['A', 'B']),
    )
    .option('--conv1-t-size <n>', 'temporal kernel of conv1 (default 7)', positiveInt('a kernel size'))
    .option('--conv1-t-stride <n>', 'temporal stride of conv1 (default 1)', positiveInt('a stride'))
    .option('--no-max-pool', 'skip the max pool after the stem (no_max_pool)')
    .option(
      '--weights <file>',
      'checkpoint (.pth zip or legacy, .safetensors); a nested state_dict and module. prefixes are found',
    )
    .option('--key <key>', "checkpoint entry holding the state dict (default 'state_dict' when present)")
    .option(
      '--prefix <prefix>',
      "load only keys under this prefix, removing it (e.g. 'backbone.' for Lightning checkpoints)",
    )
    .option(
      '--no-strict',
      'load the keys that fit and report the rest, instead of refusing a checkpoint that does not match',
    )
    .option(
      '--allow-nonfinite-weights',
      'load a checkpoint holding NaN/Inf weights with a warning instead of refusing it',
    )
    .option(
      '--seed <n>',
      'seed for the random initialisation (used when no --weights, or for keys the checkpoint lacks)',
      seedInt,
      0,
    );
}

/** Encoder options from the shared flags. */
export function encoderOptionsFrom(f: EncoderFlags): EncoderOptions {
  const o: EncoderOptions = {};
  if (f.inChannels !== undefined) o.inChannels = f.inChannels;
  if (f.widenFactor !== undefined) o.widenFactor = f.widenFactor;
  if (f.shortcut !== undefined) o.shortcut = f.shortcut;
  if (f.conv1TSize !== undefined) o.conv1TSize = f.conv1TSize;
  if (f.conv1TStride !== undefined) o.conv1TStride = f.conv1TStride;
  // commander's --no-max-pool sets maxPool=false; only the explicit flag overrides the preset.
  if (f.maxPool === false) o.noMaxPool = true;
  return o;
}

export function loadOptionsFrom(f: EncoderFlags): LoadEncoderOptions {
  const o: LoadEncoderOptions = { strict: f.strict ?? true, allowNonFinite: f.allowNonfiniteWeights ?? false };
  if (f.key !== undefined) o.key = f.key;
  if (f.prefix !== undefined) o.prefix = f.prefix;
  return o;
}

/** Builds the encoder (seeded) and loads --weights when given. */
export async function buildEncoder(
  f: EncoderFlags,
  extra: EncoderOptions = {},
): Promise<{ model: ResNet3D; report: EncoderLoadReport | null }> {
  torch.manualSeed(f.seed ?? 0);
  const model = createEncoder(f.arch, { ...encoderOptionsFrom(f), ...extra });
  try {
    const report = f.weights === undefined ? null : await loadEncoderWeights(model, f.weights, loadOptionsFrom(f));
    return { model, report };
  } catch (err) {
    model.dispose();
    throw err;
  }
}

export type EmbedStage = 'pooled' | 'stem' | '1' | '2' | '3' | '4';
const STAGE_OF: Record<Exclude<EmbedStage, 'pooled'>, StageName> = {
  stem: 'stem',
  1: 'layer1',
  2: 'layer2',
  3: 'layer3',
  4: 'layer4',
};

export interface EmbedOptions extends EncoderFlags {
  /** Where the encoder runs (default cpu). */
  device?: Device;
  input: string;
  output: string;
  stage?: string;
  batchSize?: number;
}

export interface EmbedResult {
  shape: number[];
  samples: number;
  stage: EmbedStage;
  load: EncoderLoadReport | null;
  description: string;
}

/**
 * Features of `model` for `x` (eval mode, no grad), `batchSize` samples at a time; the result joins the current
 * scope. `place` puts each batch where the model is (DeviceRuntime.place; the CPU needs nothing).
 */
export function embedTensor(
  model: ResNet3D,
  x: Tensor,
  stage: EmbedStage,
  batchSize: number,
  onBatch?: (done: number) => void,
  place: (t: Tensor) => Tensor = (t) => t,
): Tensor {
  model.checkInput(x, 'embed');
  model.eval();
  const n = x.shape[0]!;
  const parts: Tensor[] = [];
  try {
    for (let i = 0; i < n; i += batchSize) {
      const part = torch.noGrad(() =>
        torch.tidy(() => {
          const xb = place(x.slice(0, i, Math.min(n, i + batchSize)));
          if (stage === 'pooled') return model.pooledFeatures(xb);
          const name = STAGE_OF[stage];
          return model.forwardFeatures(xb, { upTo: name })[name]!;
        }),
      );
      parts.push(torch.keep(part));
      onBatch?.(Math.min(n, i + batchSize));
    }
    return torch.cat(parts, 0); // a copy even for one batch, so that the result joins the caller's scope like any op's
  } finally {
    for (const p of parts) p.dispose();
  }
}

export async function runEmbed(o: EmbedOptions): Promise<EmbedResult> {
  const stage = (o.stage ?? 'pooled') as EmbedStage;
  if (!['pooled', 'stem', '1', '2', '3', '4'].includes(stage))
    throw new Error(`embed: --stage must be pooled, stem or 1..4, got '${o.stage}'`);
  const batchSize = o.batchSize ?? 8;
  const rt = DeviceRuntime.open({ ...DEFAULT_DEVICE_CONFIG, ...(o.device ? { device: o.device } : {}) }, 'embed');
  const { model, report } = await buildEncoder(o);
  rt.prepare(model);
  const scope = torch.scope();
  try {
    const raw = torch.loadNpy(o.input);
    if (!raw.isFloatingPoint()) {
      throw new Error(
        `embed: ${o.input} holds ${raw.dtype} ${formatShape(raw.shape)}; expected float32 [N,C,D,H,W] (normalise the volume to floats first)`,
      );
    }
    const x = raw.dtype === 'float32' ? raw : raw.float();
    if (x.rank !== 5)
      throw new Error(
        `embed: ${o.input} is ${formatShape(x.shape)}; expected a batch [N,${model.options.inChannels},D,H,W] (rank 5)`,
      );
    const n = x.shape[0]!;
    const bar = progress(`embed ${o.arch}`, n, { unit: 'samples' });
    let features: Tensor;
    try {
      features = embedTensor(
        model,
        x,
        stage,
        batchSize,
        (done) => bar.update(done),
        (t) => rt.place(t),
      );
    } finally {
      bar.stop();
    }
    await torch.saveNpy(o.output, features);
    const what = stage === 'pooled' ? 'pooled features' : `${STAGE_OF[stage]} features`;
    const description =
      `wrote ${o.output} ${formatShape(features.shape)}: ${o.arch} ${what} of ${n} sample(s)` +
      `${report ? ` (${describeEncoderLoad(report)})` : ` (random weights, seed ${o.seed ?? 0})`}`;
    return { shape: [...features.shape], samples: n, stage, load: report, description };
  } finally {
    scope.close();
    model.dispose();
  }
}

export function registerEmbed(program: Command): void {
  const cmd = program
    .command('embed')
    .description(
      'encoder features of an .npy batch [N,C,D,H,W]: pooled [N,F] or a stage [N,C,D,H,W] (eval mode, batched)',
    );
  addDeviceOptions(addEncoderOptions(cmd), { amp: false })
    .option(
      '--stage <stage>',
      'pooled (global pool, before any classifier), stem, or 1..4 for layer1..layer4',
      'pooled',
    )
    .option('--batch-size <n>', 'samples per forward pass', positiveInt('a batch size'), 8)
    .requiredOption('--input <file>', 'float32 .npy [N,C,D,H,W]')
    .requiredOption('--output <file>', '.npy to write the features to')
    .action(async (opts: EmbedOptions) => {
      const r = await runEmbed(opts);
      process.stdout.write(r.description + '\n');
    });
}
