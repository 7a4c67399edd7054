/**
 * `inkwell infer --weights FILE --input DATASET --output pred.png [--tile N] [--stride N] [--border PX |
 * --blend gaussian [--sigma PX]] [--tta none|rot90|flips|rot90+flips] [--batch N] [--bits 8|16]
 * [--mask-output mask.png [--threshold T]] [--scale F] [--threads N] [--device D] [--amp M] [--json]`: sliding-window ink detection
 * over a whole fragment or segment with a segmentation checkpoint (src/infer/infer.ts). Writes the probability
 * map at the input's on-disk size; prints a summary (or `--json`: the run's sizes, settings and timings).
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { nonNegativeInt, parseNumberFlag, positiveInt, positiveNumber, unitInterval } from '../options.js';
import {
  inferDataset,
  type InferDatasetOptions,
  type InferDatasetResult,
  TTA_MODES,
  type TTA,
} from '../../infer/index.js';
import { cacheOptions } from '../cache-options.js';
import type { Device } from '../../torch/index.js';
import type { AmpMode } from '../../torch/amp.js';
import { addDeviceOptions } from '../device-options.js';
import { LAYER_ORDER_CHOICES, type LayerOrderChoice } from '../../data/layer-order.js';
import type { LayerOrderSource } from '../../data/layout.js';

const ORDER_SOURCE: Record<LayerOrderSource, string> = {
  default: 'no flag, manifest or clear density profile',
  flag: 'from the flag',
  manifest: 'from the manifest',
  detected: 'detected from the density profile',
};

interface InferCliOptions {
  weights: string;
  input: string;
  output: string;
  tile?: number;
  stride?: number;
  border?: number;
  blend: 'edge' | 'gaussian';
  sigma?: number;
  tta: TTA;
  batch: number;
  bits: 8 | 16;
  maskOutput?: string;
  threshold: number;
  scale?: number;
  reversed?: boolean;
  layerOrder: LayerOrderChoice;
  threads?: number;
  allowNonfiniteWeights?: boolean;
  json?: boolean;
  device?: Device;
  amp?: AmpMode;
}

function parseBits(v: string): 8 | 16 {
  if (v.trim() !== '8' && v.trim() !== '16')
    throw new InvalidArgumentError(`'${v}' is not a PNG depth, expected 8 or 16`);
  return Number(v) as 8 | 16;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

/** The summary `infer` prints. */
export function inferSummary(r: InferDatasetResult): string {
  const t = r.timings;
  const overhead = t.tile_ms + t.post_ms + t.stitch_ms + t.finish_ms;
  const blend =
    r.blend.mode === 'edge' ? `edges of ${r.blend.border} px dropped` : `gaussian sigma ${r.blend.sigma.toFixed(1)} px`;
  const lines = [
    ...(r.outputs.probabilities
      ? [`wrote ${r.outputs.probabilities}: ${r.height}x${r.width} (HxW) ink probabilities of ${r.dataset}`]
      : []),
    `model ${r.spec.arch} (${r.spec.decoder}, ${r.spec.output} output, epoch ${r.epoch}) at scale ${r.scale} (${r.viewHeight}x${r.viewWidth}), layers ${r.layers[0]}:${r.layers[1]}${r.reversed ? ' (flipped: stored in reverse order' : ' (as stored'}, ${ORDER_SOURCE[r.layerOrderSource]})`,
    `${r.windows} windows of ${r.tile} px, stride ${r.stride}, ${blend}, tta ${r.tta}, batch ${r.batch}` +
      (r.skipped > 0 ? `; ${r.skipped} outside the mask skipped` : ''),
    `${r.seconds.toFixed(2)} s: model ${seconds(t.model_ms)}, reading ${seconds(t.read_ms)}, tiling+stitching ${seconds(overhead)}, loading ${seconds(t.load_ms)}, writing ${seconds(t.write_ms)}`,
    ...(r.outputs.mask
      ? [
          `wrote ${r.outputs.mask}: probability >= ${r.threshold}, ${(100 * r.inkFraction).toFixed(2)}% of the masked pixels`,
        ]
      : []),
  ];
  return lines.join('\n');
}

/** The JSON `infer --json` prints (everything but the map itself). */
export function inferJson(r: InferDatasetResult): string {
  const { probabilities: _omit, ...rest } = r;
  return JSON.stringify(rest);
}

export function registerInfer(program: Command): void {
  cacheOptions(addDeviceOptions(program.command('infer'), { amp: true }))
    .description(
      'ink probabilities for a whole fragment or segment: sliding windows, outer tile edges dropped (or gaussian blending), optional TTA',
    )
    .requiredOption('--weights <file>', 'segmentation checkpoint (probe/finetune run or saveSegmentationCheckpoint)')
    .requiredOption(
      '--input <dataset>',
      'fragment or segment folder (surface_volume/, layers/, volpkg surface or Zarr)',
    )
    .requiredOption('--output <png>', "probability map to write, at the input's on-disk size")
    .option(
      '--tile <n>',
      "window side at the model's resolution (default: the checkpoint's training tile)",
      positiveInt('a tile size'),
    )
    .option('--stride <n>', 'step between windows (default tile/2)', positiveInt('a stride'))
    .option(
      '--border <px>',
      'outer edge of each tile to drop (default tile/8); kept on the image border',
      nonNegativeInt('a border'),
    )
    .addOption(
      new Option('--blend <mode>', 'edge: drop the outer edges; gaussian: gaussian-weighted average')
        .choices(['edge', 'gaussian'])
        .default('edge'),
    )
    .option('--sigma <px>', 'gaussian width with --blend gaussian (default tile/4)', positiveNumber('a sigma'))
    .addOption(
      new Option('--tta <mode>', 'test-time augmentation, probabilities averaged')
        .choices([...TTA_MODES])
        .default('none'),
    )
    .option('--batch <n>', 'windows per forward pass', positiveInt('a batch size'), 4)
    .option('--bits <n>', 'PNG sample depth: 8 (x255) or 16 (x65535)', parseBits, 8)
    .option('--mask-output <png>', 'also write the thresholded ink mask (0/255)')
    .option('--threshold <t>', 'ink where probability >= t, for --mask-output', unitInterval('a threshold'), 0.5)
    .option(
      '--scale <f>',
      "resolution factor the model works at (default: the dataset pixel size over the model's 7.91 um: 0.5 for Kaggle fragments, 1 for segments, from meta.json voxelsize when given)",
      parseNumberFlag('a resolution factor', { min: 0, max: 1, exclusiveMin: true }),
    )
    .addOption(
      new Option(
        '--layer-order <order>',
        'auto: a manifest, else detected from the density profile; as-stored; reversed',
      )
        .choices([...LAYER_ORDER_CHOICES])
        .default('auto'),
    )
    .option('--reversed', 'the layers are stored in reverse order (same as --layer-order reversed)')
    .option(
      '--no-reversed',
      'the layers are stored in order, whatever the manifest says (same as --layer-order as-stored)',
    )
    .option('--threads <n>', 'libtorch threads', positiveInt('a thread count'))
    .option(
      '--allow-nonfinite-weights',
      'use a checkpoint holding NaN/Inf weights (with a warning) instead of refusing it',
    )
    .option('--json', 'print the run (sizes, settings, timings) as JSON')
    .action(async (o: InferCliOptions) => {
      if (o.blend === 'edge' && o.sigma !== undefined) throw new Error('infer: --sigma applies to --blend gaussian');
      if (o.blend === 'gaussian' && o.border !== undefined)
        throw new Error('infer: --border applies to --blend edge (gaussian blending keeps whole tiles)');
      const opts: InferDatasetOptions = {
        weights: o.weights,
        input: o.input,
        output: o.output,
        blend: o.blend,
        tta: o.tta,
        batch: o.batch,
        bits: o.bits,
        threshold: o.threshold,
      };
      if (o.tile !== undefined) opts.tile = o.tile;
      if (o.stride !== undefined) opts.stride = o.stride;
      if (o.border !== undefined) opts.border = o.border;
      if (o.sigma !== undefined) opts.sigma = o.sigma;
      if (o.maskOutput !== undefined) opts.maskOutput = o.maskOutput;
      if (o.scale !== undefined) opts.scale = o.scale;
      if (o.reversed !== undefined) opts.reversed = o.reversed;
      if (o.layerOrder !== 'auto') opts.layerOrder = o.layerOrder;
      if (o.threads !== undefined) opts.threads = o.threads;
      if (o.device !== undefined) opts.device = o.device;
      if (o.amp !== undefined) opts.amp = o.amp;
      if (o.allowNonfiniteWeights) opts.allowNonFiniteWeights = true;
      const r = await inferDataset(opts);
      process.stdout.write((o.json ? inferJson(r) : inferSummary(r)) + '\n');
    });
}
