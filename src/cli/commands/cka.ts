/**
 * `inkwell cka --x a.npy --y b.npy [--kernel linear|rbf] [--threshold 0.5] [--debiased] [--batch-size N] [--json]`:
 * CKA between two [n, p] representation sets saved as .npy (same n rows; p may differ). `--json` prints
 * exactly {"cka": value}. `--batch-size N` gives minibatch CKA (Nguyen et al. 2021, unbiased HSIC) over
 * consecutive batches of N rows, for sample sets too large for one n x n gram.
 *
 * `inkwell cka --checkpoints DIR --input DATASET --samples 512` (the seed's epoch x epoch check) embeds tiles
 * with every epoch checkpoint; it needs the encoder models and dataset reader, not available in this build yet.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Command, InvalidArgumentError, Option } from 'commander';
import * as torch from '../../torch/index.js';
import { cka, type CkaKernel, DEFAULT_RBF_THRESHOLD, minibatchCka } from '../../eval/index.js';

interface CkaCliOptions {
  x?: string;
  y?: string;
  kernel: CkaKernel;
  threshold: number;
  debiased?: boolean;
  batchSize?: number;
  json?: boolean;
  checkpoints?: string;
  input?: string;
  samples?: number;
  out?: string;
}

function parsePositive(v: string): number {
  const t = Number(v);
  if (v.trim() === '' || !(t > 0) || !Number.isFinite(t)) throw new InvalidArgumentError(`'${v}' is not a positive number`);
  return t;
}

function parseCount(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !(n > 0)) throw new InvalidArgumentError(`'${v}' is not a positive integer`);
  return n;
}

/** CKA of two .npy representation files; errors name both files. */
export function ckaOfFiles(xPath: string, yPath: string, opts: { kernel: CkaKernel; threshold: number; debiased: boolean; batchSize?: number }): { cka: number; xShape: number[]; yShape: number[] } {
  return torch.tidy(() => {
    const x = torch.loadNpy(xPath);
    const y = torch.loadNpy(yPath);
    const xShape = [...x.shape];
    const yShape = [...y.shape];
    try {
      const value = opts.batchSize !== undefined
        ? minibatchCka(x, y, { kernel: opts.kernel, threshold: opts.threshold, debiased: true, batchSize: opts.batchSize })
        : cka(x, y, { kernel: opts.kernel, threshold: opts.threshold, debiased: opts.debiased });
      return { cka: value, xShape, yShape };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new Error(`${message} (X = ${xPath} [${xShape.join(', ')}], Y = ${yPath} [${yShape.join(', ')}])`);
    }
  });
}

/** True when the models module (encoder factory and checkpoint loading) exists in this build. */
function modelsAvailable(): boolean {
  const here = dirname(fileURLToPath(import.meta.url));
  return existsSync(join(here, '..', '..', 'models', 'index.js'));
}

export function registerCka(program: Command): void {
  program
    .command('cka')
    .description('CKA similarity between two representation sets (.npy [n, p]), linear or RBF, biased or debiased')
    .option('--x <npy>', 'first representation set, [n, p1]')
    .option('--y <npy>', 'second representation set, [n, p2] (same n samples)')
    .addOption(new Option('--kernel <kernel>', 'kernel').choices(['linear', 'rbf']).default('linear'))
    .option('--threshold <t>', 'RBF bandwidth as a fraction of the median distance', parsePositive, DEFAULT_RBF_THRESHOLD)
    .option('--debiased', 'unbiased HSIC estimator (Song et al. 2012); needs n > 3')
    .option('--batch-size <n>', 'minibatch CKA over batches of n rows (Nguyen et al. 2021; unbiased HSIC)', parseCount)
    .option('--json', 'print {"cka": value}')
    .option('--checkpoints <dir>', 'epoch checkpoints to compare (epoch x epoch matrix)')
    .option('--input <dataset>', 'dataset whose tiles the checkpoints embed (with --checkpoints)')
    .option('--samples <n>', 'tiles to embed (with --checkpoints)', parseCount, 512)
    .option('--out <dir>', 'report folder (with --checkpoints)')
    .action((o: CkaCliOptions) => {
      if (o.checkpoints !== undefined) {
        if (o.x !== undefined || o.y !== undefined) throw new Error('cka: --checkpoints and --x/--y were both given, expected one form');
        if (!modelsAvailable()) {
          throw new Error(`cka --checkpoints: needs models: not available yet (the encoder models and checkpoint loading are not part of this build); save representations as .npy and compare them with --x/--y`);
        }
        throw new Error('cka --checkpoints: needs models: not available yet (this build of the cka command predates the models module); compare saved .npy representations with --x/--y');
      }
      if (o.x === undefined || o.y === undefined) throw new Error('cka: expected --x and --y (two .npy representation sets), or --checkpoints DIR --input DATASET');
      const r = ckaOfFiles(o.x, o.y, {
        kernel: o.kernel, threshold: o.threshold, debiased: o.debiased ?? false,
        ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}),
      });
      if (o.json) {
        process.stdout.write(JSON.stringify({ cka: r.cka }) + '\n');
        return;
      }
      const kind = `${o.kernel === 'rbf' ? `RBF (threshold ${o.threshold})` : 'linear'} CKA, ${o.batchSize !== undefined ? `minibatch of ${o.batchSize} (unbiased HSIC)` : o.debiased ? 'debiased' : 'biased'}`;
      process.stdout.write([
        `X    ${o.x} [${r.xShape.join(', ')}]`,
        `Y    ${o.y} [${r.yShape.join(', ')}]`,
        `${kind}: ${r.cka.toFixed(6)}`,
      ].join('\n') + '\n');
    });
}
