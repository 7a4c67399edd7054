/**
 * `inkwell cka --x a.npy --y b.npy [--kernel linear|rbf] [--threshold 0.5] [--debiased] [--batch-size N] [--json]`:
 * CKA between two [n, p] representation sets saved as .npy (same n rows; p may differ). `--json` prints
 * exactly {"cka": value}. `--batch-size N` gives minibatch CKA (Nguyen et al. 2021, unbiased HSIC) over
 * consecutive batches of N rows, for sample sets too large for one n x n gram.
 *
 * `inkwell cka --checkpoints DIR --input DATASET --samples 512 [--out DIR]`: the reference study's sanity check
 * (docs/reference-study.md): embed the same tiles with every epoch checkpoint in DIR and write the epoch x epoch linear
 * and RBF CKA matrices (cka.json, cka_linear.png, cka_rbf.png). DATASET is a dataset folder (tiles of --tile
 * px at --stride inside the eroded mask, a seeded sample of --samples, layers --z, values / 255 as the reference study
 * normalised them) or an .npy batch [N, C, D, H, W] of float tiles (its first --samples).
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { join } from 'node:path';
import { positiveInt, positiveNumber, seedInt } from '../options.js';
import * as torch from '../../torch/index.js';
import { cka, type CkaKernel, DEFAULT_RBF_THRESHOLD, minibatchCka } from '../../eval/index.js';
import { type CheckpointCkaOptions, runCheckpointCka } from '../../eval/cka-checkpoints.js';
import { cacheOptions } from '../cache-options.js';
import { addDeviceOptions } from '../device-options.js';

function parseRange(v: string): [number, number] {
  const m = /^(\d+):(\d+)$/.exec(v.trim());
  if (!m || Number(m[1]) >= Number(m[2]))
    throw new InvalidArgumentError(
      `'${v}' is not a layer range, expected START:END with START < END (END exclusive), e.g. 15:35`,
    );
  return [Number(m[1]), Number(m[2])];
}

/** CKA of two .npy representation files; errors name both files. */
export function ckaOfFiles(
  xPath: string,
  yPath: string,
  opts: { kernel: CkaKernel; threshold: number; debiased: boolean; batchSize?: number },
): { cka: number; xShape: number[]; yShape: number[] } {
  return torch.tidy(() => {
    const x = torch.loadNpy(xPath);
    const y = torch.loadNpy(yPath);
    const xShape = [...x.shape];
    const yShape = [...y.shape];
    try {
      const value =
        opts.batchSize !== undefined
          ? minibatchCka(x, y, {
              kernel: opts.kernel,
              threshold: opts.threshold,
              debiased: true,
              batchSize: opts.batchSize,
            })
          : cka(x, y, { kernel: opts.kernel, threshold: opts.threshold, debiased: opts.debiased });
      return { cka: value, xShape, yShape };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new Error(`${message} (X = ${xPath} [${xShape.join(', ')}], Y = ${yPath} [${yShape.join(', ')}])`);
    }
  });
}

function matrixTable(name: string, labels: readonly string[], m: readonly (readonly number[])[]): string {
  const w = Math.max(6, ...labels.map((l) => l.length));
  const head = `${name.padEnd(w)}  ${labels.map((l) => l.padStart(w)).join('  ')}`;
  return [
    head,
    ...m.map((row, i) => `${labels[i]!.padEnd(w)}  ${row.map((v) => v.toFixed(3).padStart(w)).join('  ')}`),
  ].join('\n');
}

// ---------------------------------------------------------------- command

/** The flags: the checkpoint form's options (paths optional until checked), plus the two-file form's. */
type CkaCliOptions = Omit<CheckpointCkaOptions, 'checkpoints' | 'input' | 'out' | 'debiased' | 'log'> &
  Partial<Pick<CheckpointCkaOptions, 'checkpoints' | 'input' | 'out'>> & {
    x?: string;
    y?: string;
    kernel: CkaKernel;
    debiased?: boolean;
    json?: boolean;
  };

export function registerCka(program: Command): void {
  cacheOptions(addDeviceOptions(program.command('cka'), { amp: false }))
    .description(
      'CKA similarity of representations: two .npy sets (--x/--y), or every epoch checkpoint on the same tiles (--checkpoints)',
    )
    .option('--x <npy>', 'first representation set, [n, p1]')
    .option('--y <npy>', 'second representation set, [n, p2] (same n samples)')
    .addOption(
      new Option('--kernel <kernel>', 'kernel (the --checkpoints form writes both)')
        .choices(['linear', 'rbf'])
        .default('linear'),
    )
    .option(
      '--threshold <t>',
      'RBF bandwidth as a fraction of the median distance',
      positiveNumber('an RBF bandwidth'),
      DEFAULT_RBF_THRESHOLD,
    )
    .option('--debiased', 'unbiased HSIC estimator (Song et al. 2012); needs n > 3')
    .option(
      '--batch-size <n>',
      'minibatch CKA over batches of n rows (Nguyen et al. 2021; unbiased HSIC)',
      positiveInt('a batch size'),
    )
    .option('--json', 'print {"cka": value} (--checkpoints: {"labels", "linear", "rbf"})')
    .option(
      '--checkpoints <dir>',
      'folder of epoch checkpoints (.pth/.pt/.ckpt/.safetensors) to compare, epoch x epoch',
    )
    .option('--input <dataset>', 'with --checkpoints: a dataset folder, or an .npy batch of tiles [N, C, D, H, W]')
    .option('--samples <n>', 'with --checkpoints: tiles to embed', positiveInt('a sample count'), 512)
    .option('--out <dir>', 'with --checkpoints: report folder (default: <checkpoints>/cka)')
    .option('--arch <name>', 'with --checkpoints: encoder architecture', 'resnet3d-50-reference')
    .option('--in-channels <n>', 'with --checkpoints: encoder input channels', positiveInt('a channel count'), 1)
    .option('--widen-factor <f>', 'with --checkpoints: encoder width multiplier', positiveNumber('a width multiplier'))
    .option(
      '--key <key>',
      "with --checkpoints: checkpoint entry holding the state dict (default 'state_dict' when present)",
    )
    .option('--prefix <prefix>', "with --checkpoints: load only keys under this prefix, removing it (e.g. 'backbone.')")
    .option('--no-strict', 'with --checkpoints: load the keys that fit instead of refusing a mismatched checkpoint')
    .addOption(
      new Option(
        '--features <which>',
        "with --checkpoints: encoder output (fc, e.g. the reference study's 512) or pooled features before fc",
      )
        .choices(['output', 'pooled'])
        .default('output'),
    )
    .option(
      '--z <start:end>',
      "with --checkpoints: layer range of a dataset (default 15:35, the reference study's 20 slices, when present; else all)",
      parseRange,
    )
    .option('--tile <px>', 'with --checkpoints: tile size in a dataset', positiveInt('a tile size'), 128)
    .option('--stride <px>', 'with --checkpoints: tile grid stride in a dataset', positiveInt('a stride'), 32)
    .option('--seed <n>', 'with --checkpoints: seed of the tile sample', seedInt, 0)
    .option('--embed-batch <n>', 'with --checkpoints: tiles per forward pass', positiveInt('a batch size'), 8)
    .action(async (o: CkaCliOptions) => {
      if (o.checkpoints !== undefined) {
        if (o.x !== undefined || o.y !== undefined)
          throw new Error('cka: --checkpoints and --x/--y were both given, expected one form');
        if (o.input === undefined)
          throw new Error('cka --checkpoints: expected --input DATASET (a dataset folder or an .npy batch of tiles)');
        const opts: CheckpointCkaOptions = {
          checkpoints: o.checkpoints,
          input: o.input,
          samples: o.samples,
          arch: o.arch,
          inChannels: o.inChannels,
          strict: o.strict,
          features: o.features,
          tile: o.tile,
          stride: o.stride,
          seed: o.seed,
          embedBatch: o.embedBatch,
          threshold: o.threshold,
          debiased: o.debiased ?? false,
          out: o.out ?? join(o.checkpoints, 'cka'),
          log: (line) => {
            if (!o.json) process.stderr.write(line + '\n');
          },
        };
        if (o.widenFactor !== undefined) opts.widenFactor = o.widenFactor;
        if (o.key !== undefined) opts.key = o.key;
        if (o.prefix !== undefined) opts.prefix = o.prefix;
        if (o.z !== undefined) opts.z = o.z;
        if (o.batchSize !== undefined) opts.batchSize = o.batchSize;
        if (o.device !== undefined) opts.device = o.device;
        const r = await runCheckpointCka(opts);
        if (o.json) {
          process.stdout.write(JSON.stringify({ labels: r.labels, linear: r.linear, rbf: r.rbf }) + '\n');
          return;
        }
        process.stdout.write(
          [
            `${r.labels.length} checkpoints x ${r.samples} tiles [${r.inputShape.join(', ')}] -> ${r.featureDim} features (${o.arch}, ${o.features})`,
            matrixTable('linear', r.labels, r.linear),
            matrixTable(`rbf ${o.threshold}`, r.labels, r.rbf),
            `wrote ${r.files.json}, ${r.files.linearPng}, ${r.files.rbfPng}`,
          ].join('\n\n') + '\n',
        );
        return;
      }
      if (o.x === undefined || o.y === undefined)
        throw new Error(
          'cka: expected --x and --y (two .npy representation sets), or --checkpoints DIR --input DATASET',
        );
      const r = ckaOfFiles(o.x, o.y, {
        kernel: o.kernel,
        threshold: o.threshold,
        debiased: o.debiased ?? false,
        ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}),
      });
      if (o.json) {
        process.stdout.write(JSON.stringify({ cka: r.cka }) + '\n');
        return;
      }
      const kind = `${o.kernel === 'rbf' ? `RBF (threshold ${o.threshold})` : 'linear'} CKA, ${o.batchSize !== undefined ? `minibatch of ${o.batchSize} (unbiased HSIC)` : o.debiased ? 'debiased' : 'biased'}`;
      process.stdout.write(
        [
          `X    ${o.x} [${r.xShape.join(', ')}]`,
          `Y    ${o.y} [${r.yShape.join(', ')}]`,
          `${kind}: ${r.cka.toFixed(6)}`,
        ].join('\n') + '\n',
      );
    });
}
