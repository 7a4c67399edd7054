/**
 * `inkwell export --arch resnet3d-50 [--weights FILE] [--in-channels 1] [--num-classes N] --out model.pth`:
 * writes the encoder's plain state dict (kenshohara's key names, an OrderedDict in .pth, or .safetensors), which
 * PyTorch loads with `load_state_dict(..., strict=True)` into the same architecture. Without --weights the
 * weights are a seeded random initialisation (--seed). With --weights the classifier size follows the
 * checkpoint's fc unless --num-classes says otherwise (`--num-classes 0` drops it); kenshohara's ResNet always
 * has an fc, so export a head for that code, or none for a headless twin.
 */
import type { Command } from 'commander';
import { nonNegativeInt } from '../options.js';
import { formatShape } from '../../torch/dtype.js';
import * as torch from '../../torch/index.js';
import { describeEncoderLoad, inferResNet3DArch, type EncoderLoadReport } from '../../models/encoder-weights.js';
import type { EncoderOptions } from '../../models/registry.js';
import { addEncoderOptions, buildEncoder, type EncoderFlags } from './embed.js';

export interface ExportOptions extends EncoderFlags {
  out: string;
  numClasses?: number;
}

export interface ExportResult {
  path: string;
  tensors: number;
  parameters: number;
  numClasses: number | null;
  load: EncoderLoadReport | null;
  description: string;
}

async function headFor(o: ExportOptions): Promise<EncoderOptions> {
  if (o.numClasses !== undefined) return { numClasses: o.numClasses === 0 ? null : o.numClasses };
  if (o.weights === undefined) return {};
  const readOpts: torch.LoadStateDictOptions = {};
  if (o.key !== undefined) readOpts.key = o.key;
  const sd = await torch.readStateDict(o.weights, readOpts);
  const entries = new Map<string, torch.serialization.StoredTensor>();
  for (const [k, v] of sd) {
    if (o.prefix === undefined) entries.set(k, v);
    else if (k.startsWith(o.prefix)) entries.set(k.slice(o.prefix.length), v);
  }
  const guess = inferResNet3DArch(entries);
  return guess ? { numClasses: guess.numClasses } : {};
}

export async function runExport(o: ExportOptions): Promise<ExportResult> {
  const ext = o.out.toLowerCase();
  if (!ext.endsWith('.pth') && !ext.endsWith('.pt') && !ext.endsWith('.safetensors')) {
    throw new Error(`export: --out must end in .pth, .pt or .safetensors, got '${o.out}'`);
  }
  const head = await headFor(o);
  const { model, report } = await buildEncoder(o, head);
  try {
    const sd = model.stateDict();
    await torch.save(o.out, sd);
    const conv1 = sd.get('conv1.weight')!;
    const description =
      `wrote ${o.out}: ${model.describe()}; ${sd.size} tensors, conv1 ${formatShape(conv1.shape)}` +
      `${report ? ` (${describeEncoderLoad(report)})` : ` (random init, seed ${o.seed ?? 0})`}`;
    return {
      path: o.out,
      tensors: sd.size,
      parameters: model.parameterCount(),
      numClasses: model.options.numClasses,
      load: report,
      description,
    };
  } finally {
    model.dispose();
  }
}

export function registerExport(program: Command): void {
  const cmd = program
    .command('export')
    .description(
      'write an encoder as a plain state dict (.pth or .safetensors) that PyTorch loads strictly into the same architecture',
    );
  addEncoderOptions(cmd)
    .option(
      '--num-classes <n>',
      "classifier size (default: the checkpoint's fc, or the architecture's; 0 = none)",
      nonNegativeInt('a class count'),
    )
    .requiredOption('--out <file>', 'model.pth, model.pt or model.safetensors')
    .action(async (opts: ExportOptions) => {
      const r = await runExport(opts);
      process.stdout.write(r.description + '\n');
    });
}
