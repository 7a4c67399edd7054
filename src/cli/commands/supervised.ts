import type { Command } from 'commander';
import { compareEncoders, formatComparison, parseEncoderChoice, recordComparisons } from '../../supervised/compare.js';
import { loadSupervisedConfig, SUPERVISED_PRESETS } from '../../supervised/config.js';
import { trainSupervised } from '../../supervised/trainer.js';
import type { Plain } from '../../util/config.js';
import { addLaunchOptions, launchFromCli, type LaunchFlags } from '../../train/launch.js';

const collect = (v: string, prev: string[]) => [...prev, v];

interface CommonFlags {
  config?: string;
  preset: string[];
  protocol?: string;
  fragments?: string;
  train: string[];
  val: string[];
  set: string[];
  name?: string;
  out?: string;
  json?: boolean;
}

function common(cmd: Command, defaultPreset: string): Command {
  return cmd
    .option('--config <file>', 'YAML/JSON config (see src/supervised/config.ts)')
    .option('--preset <name>', `settings to start from, repeatable and applied in order (${Object.keys(SUPERVISED_PRESETS).join(', ')})`, collect, [])
    .option(
      '--protocol <name>',
      "the reference study's protocol over --fragments: reference-1 (train 1,3,4 + upper 70% of 2; validate " +
        'lower 30% of 2) or reference-2 (train 1,2,3; validate 4 on tiles with ink); also seed-1, seed-2',
    )
    .option('--fragments <dir>', 'folder holding Kaggle fragments 1..4 (for --protocol)')
    .option('--train <path>', 'a labelled dataset to train on (repeatable)', collect, [])
    .option('--val <path>', 'a labelled dataset to validate on (repeatable)', collect, [])
    .option('--set <key=value>', 'override a config key (repeatable)', collect, [])
    .option('--name <name>', 'run name')
    .option('--out <dir>', 'folder of run folders')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `\nDefault preset: ${defaultPreset}.`);
}

async function config(o: CommonFlags, defaultPreset: string) {
  if ((o.protocol === undefined) !== (o.fragments === undefined)) throw new Error('--protocol and --fragments go together');
  const extra: Plain = {};
  const data: Plain = {};
  if (o.train.length) data['train'] = o.train.map((path) => ({ path }));
  if (o.val.length) data['val'] = o.val.map((path) => ({ path }));
  if (Object.keys(data).length) extra['data'] = data;
  const set = [...o.set];
  if (o.name) set.unshift(`name=${o.name}`);
  if (o.out) set.unshift(`out=${o.out}`);
  return loadSupervisedConfig({
    preset: o.preset.length ? o.preset : [defaultPreset], extra, set,
    ...(o.config ? { file: o.config } : {}),
    ...(o.protocol && o.fragments ? { protocol: { name: o.protocol, fragments: o.fragments } } : {}),
  });
}

export function registerFinetune(program: Command): void {
  const cmd = common(program.command('finetune'), 'finetune')
    .description('train an ink-segmentation model (encoder + U-Net decoder) on labelled fragments; validates, checkpoints every epoch; ' +
      'data-parallel with --nproc-per-node N (or RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT from any launcher)')
    .option('--encoder-weights <file>', 'initial encoder weights (an inkwell pretraining checkpoint or an external .pth, e.g. Kinetics)')
    .option('--resume', 'continue from the run\'s latest checkpoint')
    .option('--overwrite', 'replace an existing run of the same name')
    .option('--max-epochs <n>', 'stop after n epochs in this invocation');
  addLaunchOptions(cmd);
  cmd.action(async (o: CommonFlags & LaunchFlags & { encoderWeights?: string; resume?: boolean; overwrite?: boolean; maxEpochs?: string }, command: Command) => {
      // As pretrain: the launcher re-runs this command line, minus its own flags, in each worker.
      const raw = (command.parent as unknown as { rawArgs?: string[] } | null)?.rawArgs;
      if (await launchFromCli(o, raw && raw.length ? raw : process.argv.slice(2))) return;
      if (o.encoderWeights) o.set.unshift(`encoder.weights=${o.encoderWeights}`);
      const cfg = await config(o, 'finetune');
      const r = await trainSupervised(cfg, { resume: o.resume ?? false, overwrite: o.overwrite ?? false, ...(o.maxEpochs ? { maxEpochs: Number(o.maxEpochs) } : {}) });
      if (process.env['RANK'] && process.env['RANK'] !== '0') return;
      if (o.json) console.log(JSON.stringify(r, null, 1));
      else console.log(`${cfg.name}: ${r.epochs.length} epoch(s) in ${r.runDir}; last checkpoint ${r.lastCheckpoint ?? '(none)'}` +
        (r.final ? `; validation F0.5 ${r.final.f05.toFixed(3)}, AUC ${r.final.auc?.toFixed(3) ?? '-'}` : ''));
    });
}

export function registerProbe(program: Command): void {
  common(program.command('probe'), 'probe')
    .description('frozen-encoder probes: train a light decoder on a frozen encoder, for each --encoder and seed, and tabulate validation F0.5/AUC/precision/recall')
    .option('--encoder <spec>', "'random', a weights file, or label=file (repeatable; e.g. --encoder random --encoder vicreg=runs/p/checkpoints/epoch_0004.pth --encoder k700=r3d50_K.pth)", collect, [])
    .option('--seeds <n>', 'seeds per encoder (mean +- std over them)', '3')
    .option('--title <text>', 'title of the comparison table')
    .action(async (o: CommonFlags & { encoder: string[]; seeds: string; title?: string }) => {
      const cfg = await config(o, 'probe');
      const encoders = (o.encoder.length ? o.encoder : ['random']).map(parseEncoderChoice);
      const seeds = Array.from({ length: Number(o.seeds) }, (_, i) => cfg.seed + i);
      const title = o.title ?? `frozen-encoder probe (${o.protocol ?? 'custom protocol'})`;
      const comparison = await compareEncoders(cfg, encoders, seeds, title);
      const path = await recordComparisons(`${cfg.out}/${cfg.name}`, [comparison]);
      if (o.json) console.log(JSON.stringify(comparison, null, 1));
      else console.log(`${formatComparison(comparison)}\n-> ${path}`);
    });
}
