import type { Command } from 'commander';
import { positiveInt } from '../options.js';
import { loadPretrainConfig, PRETRAIN_PRESETS } from '../../ssl/config.js';
import { pretrain } from '../../ssl/pretrain.js';
import { launchFromCli, type LaunchFlags } from '../../train/launch.js';
import { addLaunchOptions } from '../launch-options.js';
import { cacheOptions } from '../cache-options.js';
import { deviceOverrides } from '../../train/device.js';
import { addDeviceOptions, type DeviceFlags } from '../device-options.js';

const collect = (v: string, prev: string[]) => [...prev, v];

interface PretrainFlags extends LaunchFlags, DeviceFlags {
  config?: string;
  preset: string;
  input: string[];
  set: string[];
  name?: string;
  out?: string;
  resume?: boolean;
  overwrite?: boolean;
  json?: boolean;
  maxEpochs?: number;
}

export function registerPretrain(program: Command): void {
  const cmd = cacheOptions(program.command('pretrain'))
    .description(
      'self-supervised pretraining (VICReg, BYOL, SimSiam, masked reconstruction) of a 3D encoder on scroll segments and fragments; ' +
        'data-parallel with --nproc-per-node N (or RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT from any launcher)',
    )
    .option('--config <file>', 'YAML/JSON config (see src/ssl/config.ts for every key)')
    .option(
      '--preset <name>',
      `starting settings: ${Object.keys(PRETRAIN_PRESETS).join(', ')} (reference = the reference study's run; also 'seed')`,
      'reference',
    )
    .option(
      '--input <path>',
      "a dataset folder to pretrain on (repeatable; adds to the config's data.datasets)",
      collect,
      [],
    )
    .option('--set <key=value>', 'override a config key, e.g. --set train.epochs=10 (repeatable)', collect, [])
    .option('--name <name>', 'run name (runs/<name>/)')
    .option('--out <dir>', 'folder of run folders', undefined)
    .option('--resume', 'continue the run from its latest checkpoint (any number of workers)')
    .option('--overwrite', 'replace an existing run of the same name')
    .option(
      '--max-epochs <n>',
      'stop after n epochs in this invocation (the schedule still spans train.epochs; --resume continues)',
      positiveInt('an epoch count'),
    )
    .option('--json', 'print the per-epoch summaries as JSON at the end');
  addDeviceOptions(cmd, { amp: true, configKey: true });
  addLaunchOptions(cmd);
  cmd.action(async (o: PretrainFlags, command: Command) => {
    // The launcher re-runs this command line, minus its own flags, in each worker: commander keeps the arguments
    // the program was parsed from in `rawArgs` (untyped), which main() may have been given instead of process.argv.
    const raw = (command.parent as unknown as { rawArgs?: string[] } | null)?.rawArgs;
    if (await launchFromCli(o, raw?.length ? raw : process.argv.slice(2))) return;
    const set = [...deviceOverrides(o), ...o.set];
    if (o.name) set.unshift(`name=${o.name}`);
    if (o.out) set.unshift(`out=${o.out}`);
    const cfg = await loadPretrainConfig({
      preset: o.preset,
      ...(o.config ? { file: o.config } : {}),
      inputs: o.input,
      set,
    });
    const result = await pretrain(cfg, {
      resume: o.resume ?? false,
      overwrite: o.overwrite ?? false,
      ...(o.maxEpochs === undefined ? {} : { maxEpochs: o.maxEpochs }),
    });
    if (result.rank !== 0) return;
    if (o.json) console.log(JSON.stringify(result, null, 1));
    else
      console.log(
        `pretrain: ${result.epochs.length} epoch(s) in ${result.runDir}; last checkpoint ${result.lastCheckpoint ?? '(none)'}${result.worldSize > 1 ? ` (${result.worldSize} workers)` : ''}`,
      );
  });
}
