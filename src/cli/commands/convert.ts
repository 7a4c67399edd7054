/**
 * `inkwell convert <in> <out> [--key K] [--strip-prefix P]`: converts a checkpoint between PyTorch .pth/.pt
 * (zip or legacy format), .safetensors and .npy, chosen by the output's extension (the input is recognised by
 * its contents). `--key state_dict` takes one entry of a training checkpoint; `--strip-prefix module.` drops
 * the DataParallel prefix. Written atomically; prints what it wrote.
 */
import type { Command } from 'commander';
import { convertCheckpoint, type ConvertOptions, type ConvertReport } from '../../torch/serialization/index.js';

function megabytes(n: number): string {
  return `${(n / 1e6).toFixed(n < 1e5 ? 3 : 1)} MB`;
}

/** The line `convert` prints, e.g. `wrote r3d18.safetensors (safetensors from pth-zip): 62 tensors, 133.4 MB`. */
export function describeConversion(outPath: string, r: ConvertReport): string {
  let line = `wrote ${outPath} (${r.outFormat} from ${r.inFormat}): ${r.tensors} tensor${r.tensors === 1 ? '' : 's'}, ${megabytes(r.bytes)}`;
  if (r.metadataKeys.length > 0) line += `; metadata: ${r.metadataKeys.join(', ')}`;
  if (r.dropped.length > 0) line += `; dropped (no place in ${r.outFormat}): ${r.dropped.join(', ')}`;
  return line;
}

export function registerConvert(program: Command): void {
  program
    .command('convert')
    .description(
      'convert a checkpoint between .pth/.pt (zip or legacy), .safetensors and .npy (by the output extension)',
    )
    .argument('<in>', 'checkpoint to read (.pth/.pt zip or legacy, .safetensors, .npy)')
    .argument('<out>', 'file to write; its extension picks the format')
    .option('--key <key>', "convert only this entry (e.g. 'state_dict'; dotted paths go deeper)")
    .option('--strip-prefix <prefix>', "remove this prefix from the keys (e.g. 'module.')")
    .action(async (input: string, output: string, opts: { key?: string; stripPrefix?: string }) => {
      const options: ConvertOptions = {};
      if (opts.key !== undefined) options.key = opts.key;
      if (opts.stripPrefix !== undefined) options.stripPrefix = opts.stripPrefix;
      const report = await convertCheckpoint(input, output, options);
      process.stdout.write(describeConversion(output, report) + '\n');
    });
}
