/**
 * Loading published 3D-ResNet weights into a ResNet3D: kenshohara's Kinetics checkpoints
 * (`{'epoch', 'arch', 'state_dict', 'optimizer'}`, legacy or zip format, keys with or without DataParallel's
 * `module.`), plain state dicts, safetensors, and the reference study's LightningModule checkpoints (`prefix: 'backbone.'`).
 *
 * conv1 is adapted when the checkpoint has another input-channel count: to 1 channel by summing over the input
 * channels (`conv1.weight.sum(1, keepdim=True)`, what every Vesuvius solution did with the Kinetics weights, e.g.
 * the Kaggle 4th place's `load_pretrained_weights`), to more by repeating the channels and scaling by
 * in_old/in_new (timm's `adapt_input_conv`), which keeps the activations at the same scale (exactly the same
 * response to a constant input when in_new is a multiple of in_old).
 */
import { formatShape } from '../torch/dtype.js';
import { checkFiniteWeights, nn, readStateDict, Tensor, tidy, type LoadStateDictOptions } from '../torch/index.js';
import { fromStored } from '../torch/ops/creation.js';
import { repeat } from '../torch/ops/shape.js';
import type { StoredTensor } from '../torch/serialization/stored.js';
import { RESNET3D_LAYERS, RESNET3D_DEPTHS, type ResNet3D } from './resnet3d.js';

type AnyTensor = Tensor | StoredTensor;

export interface Conv1Adaptation {
  key: 'conv1.weight';
  from: number;
  to: number;
  method: 'sum' | 'repeat-scale';
}

/**
 * conv1 weights [out, in_old, kt, kh, kw] for `inChannels` inputs: summed over the input channels for 1,
 * else repeated ceil(in_new/in_old) times, cut to in_new and scaled by in_old/in_new. Returns a new tensor.
 */
export function adaptConv1Weight(w: Tensor, inChannels: number): Tensor {
  if (w.rank !== 5)
    throw new Error(`adaptConv1Weight: expected a Conv3d weight [out,in,kt,kh,kw], got ${formatShape(w.shape)}`);
  if (!Number.isInteger(inChannels) || inChannels < 1)
    throw new Error(`adaptConv1Weight: inChannels must be a positive integer, got ${inChannels}`);
  const old = w.shape[1]!;
  return tidy(() => {
    const f = w.dtype === 'float32' || w.dtype === 'float64' ? w : w.float();
    if (inChannels === old) return f.clone();
    if (inChannels === 1) return f.sum(1, true);
    const times = Math.ceil(inChannels / old);
    return repeat(f, [1, times, 1, 1, 1])
      .slice(1, 0, inChannels)
      .mul(old / inChannels);
  });
}

/** What a ResNet3D state dict says about its architecture. */
export interface ResNet3DArchGuess {
  /** kenshohara depth for these blocks per stage, or null if no depth has them. */
  depth: number | null;
  block: 'BasicBlock' | 'Bottleneck';
  layers: number[];
  inChannels: number;
  widenFactor: number;
  conv1TSize: number;
  /** 'A' when no stage has a downsample branch, 'B' otherwise. */
  shortcut: 'A' | 'B';
  numClasses: number | null;
}

function shapeOf(t: AnyTensor): readonly number[] {
  return t instanceof Tensor ? t.shape : t.shape;
}

/** Reads depth, block type, widths, input channels and head size off a ResNet3D-style state dict; null if it is not one. */
export function inferResNet3DArch(sd: ReadonlyMap<string, AnyTensor>): ResNet3DArchGuess | null {
  const conv1 = sd.get('conv1.weight');
  if (!conv1 || shapeOf(conv1).length !== 5) return null;
  const layers = [1, 2, 3, 4].map((s) => {
    let n = 0;
    while ([...sd.keys()].some((k) => k.startsWith(`layer${s}.${n}.`))) n++;
    return n;
  });
  if (layers.some((n) => n === 0)) return null;
  const block = sd.has('layer1.0.conv3.weight') ? 'Bottleneck' : 'BasicBlock';
  const spec = RESNET3D_DEPTHS.find(
    (d) => RESNET3D_LAYERS[d].block.blockName === block && RESNET3D_LAYERS[d].layers.every((n, i) => n === layers[i]),
  );
  const fc = sd.get('fc.weight');
  const [c1Out, c1In, c1T] = shapeOf(conv1) as [number, number, number];
  return {
    depth: spec ?? null,
    block,
    layers,
    inChannels: c1In,
    widenFactor: c1Out / 64,
    conv1TSize: c1T,
    shortcut: [...sd.keys()].some((k) => k.includes('.downsample.')) ? 'B' : 'A',
    numClasses: fc ? shapeOf(fc)[0]! : null,
  };
}

export function describeArchGuess(g: ResNet3DArchGuess): string {
  const name = g.depth === null ? `a ${g.block} ResNet with [${g.layers.join(',')}] blocks` : `resnet3d-${g.depth}`;
  return (
    `${name} (${g.block} x [${g.layers.join(',')}], widen ${g.widenFactor}, ${g.inChannels} input channel(s), conv1 t${g.conv1TSize}, ` +
    `shortcut ${g.shortcut}, ${g.numClasses === null ? 'no fc' : `fc ${g.numClasses} classes`})`
  );
}

export interface LoadEncoderOptions extends LoadStateDictOptions {
  /** Keep only keys under this prefix and remove it (e.g. 'backbone.' for the reference study's Lightning checkpoints). */
  prefix?: string;
  /** Refuse any missing, unexpected or mis-shaped key (default true). Off: load what fits and report the rest. */
  strict?: boolean;
  /** Adapt conv1 to the model's input channels when the checkpoint has another count (default true). */
  adaptInChannels?: boolean;
  /** Leave out the checkpoint's `fc.*` (default: when the model has no classifier head). */
  dropHead?: boolean;
  /** Load NaN/Inf weights with a loud warning instead of refusing them (default false). */
  allowNonFinite?: boolean;
}

export interface EncoderLoadReport extends nn.LoadResult {
  /** File name or 'state dict'. */
  source: string;
  adapted: Conv1Adaptation | null;
  /** Checkpoint keys left out on purpose (the classifier of a headless model, keys outside `prefix`). */
  droppedKeys: string[];
  /** BatchNorm `num_batches_tracked` counters absent from older checkpoints, left at 0 (as PyTorch does). */
  defaultedKeys: string[];
  /** Number of tensors copied into the model. */
  loaded: number;
  /** What the checkpoint looks like (null when it is not a 3D ResNet). */
  checkpointArch: ResNet3DArchGuess | null;
}

/** "loaded 62 tensors from r3d18_K.pth; conv1.weight adapted 3 -> 1 channel(s) (sum); dropped fc.weight, fc.bias; all keys matched". */
export function describeEncoderLoad(r: EncoderLoadReport): string {
  const parts = [`loaded ${r.loaded} tensor(s) from ${r.source}`];
  if (r.adapted)
    parts.push(`conv1.weight adapted ${r.adapted.from} -> ${r.adapted.to} channel(s) (${r.adapted.method})`);
  if (r.droppedKeys.length)
    parts.push(
      `dropped ${r.droppedKeys.length > 4 ? `${r.droppedKeys.slice(0, 4).join(', ')}, ... ${r.droppedKeys.length - 4} more` : r.droppedKeys.join(', ')}`,
    );
  if (r.defaultedKeys.length) parts.push(`${r.defaultedKeys.length} num_batches_tracked absent (left at 0)`);
  parts.push(nn.describeLoad(r));
  return parts.join('; ');
}

/**
 * Loads a state dict into `model` (see the module comment for what is adapted). Strict by default: a
 * checkpoint of another architecture is refused before anything is copied, with the first mismatches and what
 * the checkpoint looks like.
 */
export function loadEncoderStateDict(
  model: ResNet3D,
  source: ReadonlyMap<string, AnyTensor>,
  opts: LoadEncoderOptions = {},
  sourceName = 'state dict',
): EncoderLoadReport {
  const strict = opts.strict ?? true;
  const dropHead = opts.dropHead ?? model.fc === null;
  const droppedKeys: string[] = [];
  let entries = new Map<string, AnyTensor>();
  for (const [k, v] of source) {
    if (opts.prefix !== undefined) {
      if (!k.startsWith(opts.prefix)) {
        droppedKeys.push(k);
        continue;
      }
      entries.set(k.slice(opts.prefix.length), v);
    } else {
      entries.set(k, v);
    }
  }
  if (opts.prefix !== undefined && entries.size === 0) {
    throw new Error(
      `loadEncoderWeights(${model.name} <- ${sourceName}): no key starts with '${opts.prefix}' (first keys: ${[...source.keys()].slice(0, 4).join(', ')})`,
    );
  }
  const checkpointArch = inferResNet3DArch(entries);
  if (dropHead) {
    const kept = new Map<string, AnyTensor>();
    for (const [k, v] of entries) {
      if (k === 'fc.weight' || k === 'fc.bias') droppedKeys.push(k);
      else kept.set(k, v);
    }
    entries = kept;
  }

  return tidy(() => {
    let adapted: Conv1Adaptation | null = null;
    const conv1 = entries.get('conv1.weight');
    const want = model.conv1.weight.shape;
    if (conv1 && (opts.adaptInChannels ?? true)) {
      const got = shapeOf(conv1);
      const sameButChannels = got.length === 5 && got[0] === want[0] && got.slice(2).every((s, i) => s === want[2 + i]);
      if (sameButChannels && got[1] !== want[1]) {
        const w = conv1 instanceof Tensor ? conv1 : fromStored(conv1);
        entries.set('conv1.weight', adaptConv1Weight(w, want[1]!));
        adapted = { key: 'conv1.weight', from: got[1]!, to: want[1]!, method: want[1] === 1 ? 'sum' : 'repeat-scale' };
      }
    }

    const own = model.stateDict();
    const result: nn.LoadResult = { missingKeys: [], unexpectedKeys: [], shapeMismatches: [] };
    const defaultedKeys: string[] = [];
    for (const key of own.keys()) {
      if (entries.has(key)) continue;
      // PyTorch's BatchNorm fills in a missing num_batches_tracked for state dicts saved before it existed.
      if (key.endsWith('.num_batches_tracked')) defaultedKeys.push(key);
      else result.missingKeys.push(key);
    }
    for (const [key, value] of entries) {
      const target = own.get(key);
      if (!target) {
        result.unexpectedKeys.push(key);
        continue;
      }
      const shape = shapeOf(value);
      if (shape.length !== target.rank || shape.some((s, i) => s !== target.shape[i])) {
        result.shapeMismatches.push({ key, expected: [...target.shape], got: [...shape] });
      }
    }
    const problems = result.missingKeys.length + result.unexpectedKeys.length + result.shapeMismatches.length;
    if (strict && problems > 0) {
      const looks = !checkpointArch
        ? '; the checkpoint is not a 3D ResNet state dict (no conv1.weight / layerN.M.* keys)'
        : `; the checkpoint looks like ${describeArchGuess(checkpointArch)}${
            checkpointArch.depth === null
              ? ''
              : ` (build that with --arch resnet3d-${checkpointArch.depth}${checkpointArch.widenFactor !== 1 ? ` --widen-factor ${checkpointArch.widenFactor}` : ''})`
          }`;
      throw new Error(
        `loadEncoderWeights(${model.name} <- ${sourceName}): the checkpoint does not fit this model: ${nn.describeLoad(result)}${looks}; ` +
          `this model is ${model.describe()} (pass strict: false / --no-strict to load only the matching keys)`,
      );
    }
    const bad = new Set([...result.unexpectedKeys, ...result.shapeMismatches.map((m) => m.key)]);
    const loadable = new Map<string, AnyTensor>();
    for (const [k, v] of entries) if (!bad.has(k)) loadable.set(k, v);
    checkFiniteWeights(loadable, `loadEncoderWeights(${model.name} <- ${sourceName})`, {
      allowNonFinite: opts.allowNonFinite ?? false,
      hint: 'pass allowNonFinite (--allow-nonfinite-weights)',
    });
    model.loadStateDict(loadable, { strict: false });
    return {
      ...result,
      source: sourceName,
      adapted,
      droppedKeys,
      defaultedKeys,
      loaded: loadable.size,
      checkpointArch,
    };
  });
}

/** Reads `path` (.pth zip or legacy, .safetensors; nested 'state_dict' and 'module.' handled) and loads it into `model`. */
export async function loadEncoderWeights(
  model: ResNet3D,
  path: string,
  opts: LoadEncoderOptions = {},
): Promise<EncoderLoadReport> {
  const readOpts: LoadStateDictOptions = {};
  if (opts.key !== undefined) readOpts.key = opts.key;
  if (opts.stripPrefix !== undefined) readOpts.stripPrefix = opts.stripPrefix;
  const sd = await readStateDict(path, readOpts);
  return loadEncoderStateDict(model, sd, opts, path);
}
