import type { Command } from 'commander';
import { nonNegativeInt, positiveInt, positiveNumber } from '../options.js';
import { join } from 'node:path';
import { parseEncoderChoice, trainPerEncoder } from '../../supervised/compare.js';
import { STAGES, type StageName } from '../../models/resnet3d.js';
import { SURFACE_Z_RANGE } from '../../data/layout.js';
import { loadProbeTiles } from '../../study/columns.js';
import { formatStudyComparison } from '../../study/comparison.js';
import { encoderBuilder } from '../../study/encoders.js';
import { READOUTS, type Readout } from '../../study/linear-probe.js';
import { runProbeStudy } from '../../study/probe-study.js';
import { recordResults } from '../../study/results.js';
import { segmentationTable } from '../../study/segmentation-study.js';
import { loadSupervisedConfig, SUPERVISED_PRESETS } from '../../supervised/config.js';
import { trainSupervised } from '../../supervised/trainer.js';
import type { Plain } from '../../util/config.js';
import { requireDevice } from '../../torch/index.js';
import { launchFromCli, type LaunchFlags } from '../../train/launch.js';
import { addLaunchOptions } from '../launch-options.js';
import { cacheOptions } from '../cache-options.js';
import { deviceOverrides } from '../../train/device.js';
import { addDeviceOptions, type DeviceFlags } from '../device-options.js';

const collect = (v: string, prev: string[]) => [...prev, v];

interface CommonFlags extends DeviceFlags {
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
  return addDeviceOptions(cmd, { amp: true, configKey: true })
    .option('--config <file>', 'YAML/JSON config (see src/supervised/config.ts)')
    .option(
      '--preset <name>',
      `settings to start from, repeatable and applied in order (${Object.keys(SUPERVISED_PRESETS).join(', ')})`,
      collect,
      [],
    )
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
  if ((o.protocol === undefined) !== (o.fragments === undefined)) {
    throw new Error('--protocol and --fragments go together');
  }
  const extra: Plain = {};
  const data: Plain = {};
  if (o.train.length) data['train'] = o.train.map((path) => ({ path }));
  if (o.val.length) data['val'] = o.val.map((path) => ({ path }));
  if (Object.keys(data).length) extra['data'] = data;
  const set = [...deviceOverrides(o), ...o.set];
  if (o.name) set.unshift(`name=${o.name}`);
  if (o.out) set.unshift(`out=${o.out}`);
  const cfg = await loadSupervisedConfig({
    preset: o.preset.length ? o.preset : [defaultPreset],
    extra,
    set,
    ...(o.config ? { file: o.config } : {}),
    ...(o.protocol && o.fragments ? { protocol: { name: o.protocol, fragments: o.fragments } } : {}),
  });
  // Before any data is read: a device this process cannot use is the first thing to hear about.
  requireDevice(cfg.device, `${defaultPreset}: device`);
  return cfg;
}

export function registerFinetune(program: Command): void {
  const cmd = common(cacheOptions(program.command('finetune')), 'finetune')
    .description(
      'train an ink-segmentation model (encoder + U-Net decoder) on labelled fragments; validates, checkpoints every epoch; ' +
        'data-parallel with --nproc-per-node N (or RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT from any launcher)',
    )
    .option(
      '--encoder-weights <file>',
      'initial encoder weights (an inkwell pretraining checkpoint or an external .pth, e.g. Kinetics)',
    )
    .option('--resume', "continue from the run's latest checkpoint")
    .option('--overwrite', 'replace an existing run of the same name')
    .option('--max-epochs <n>', 'stop after n epochs in this invocation', positiveInt('an epoch count'));
  addLaunchOptions(cmd);
  cmd.action(
    async (
      o: CommonFlags &
        LaunchFlags & { encoderWeights?: string; resume?: boolean; overwrite?: boolean; maxEpochs?: number },
      command: Command,
    ) => {
      // As pretrain: the launcher re-runs this command line, minus its own flags, in each worker.
      const raw = (command.parent as unknown as { rawArgs?: string[] } | null)?.rawArgs;
      if (await launchFromCli(o, raw?.length ? raw : process.argv.slice(2))) return;
      if (o.encoderWeights) o.set.unshift(`encoder.weights=${o.encoderWeights}`);
      const cfg = await config(o, 'finetune');
      const r = await trainSupervised(cfg, {
        resume: o.resume ?? false,
        overwrite: o.overwrite ?? false,
        ...(o.maxEpochs === undefined ? {} : { maxEpochs: o.maxEpochs }),
      });
      if (process.env['RANK'] && process.env['RANK'] !== '0') return;
      if (o.json) console.log(JSON.stringify(r, null, 1));
      else
        console.log(
          `${cfg.name}: ${r.epochs.length} epoch(s) in ${r.runDir}; last checkpoint ${r.lastCheckpoint ?? '(none)'}` +
            (r.final ? `; validation F0.5 ${r.final.f05.toFixed(3)}, AUC ${r.final.auc?.toFixed(3) ?? '-'}` : ''),
        );
    },
  );
}

interface ProbeFlags extends DeviceFlags {
  fragment: string[];
  encoder: string[];
  upper?: string;
  upperFolds?: string;
  seeds: number;
  stages: string;
  readout: string;
  arch: string;
  widen: number;
  tile: number;
  depth: number;
  z: string;
  erode: number;
  tiles: number;
  pixels: number;
  resamples: number;
  reference?: boolean;
  epochs: number;
  out: string;
  name: string;
  title?: string;
  json?: boolean;
}

export function registerProbe(program: Command): void {
  addDeviceOptions(cacheOptions(program.command('probe')), { amp: false })
    .description(
      'linear probes on frozen encoders as an instrument: cached per-voxel features, standardised, L-BFGS with a weight-decay sweep on a ' +
        'validation fragment, max/logsumexp over depth; leave-one-fragment-out with bootstrap intervals and the chance, surface-statistic and ' +
        "fine-tuned-frozen controls (docs/study-design.md); --reference adds the reference study's frozen encoder + U-Net decoder protocol",
    )
    .requiredOption(
      '--fragment <dir>',
      'a labelled fragment (repeatable, at least 3: each is scored once, thresholds come from the next)',
      collect,
      [],
    )
    .option(
      '--encoder <spec>',
      "'random', a weights file, or label=file (repeatable; e.g. --encoder random --encoder vicreg=runs/p/checkpoints/epoch_0004.pth)",
      collect,
      [],
    )
    .option(
      '--upper <checkpoint>',
      'a fine-tuned segmentation checkpoint: its frozen encoder probed is the upper-bound control',
    )
    .option(
      '--upper-folds <list>',
      'fragment numbers (1-based, in --fragment order) the --upper model did not train on (default: all)',
    )
    .option('--seeds <n>', 'seeds per encoder (the random init varies with them)', positiveInt('a seed count'), 3)
    .option('--stages <list>', 'encoder stages concatenated (stem, layer1, layer2, layer3, layer4)', 'stem,layer1')
    .option('--readout <how>', 'over depth: max, lse (logsumexp) or mean', 'max')
    .option('--arch <name>', 'encoder architecture', 'resnet3d-10-reference')
    .option('--widen <f>', 'encoder width factor', positiveNumber('a width factor'), 0.25)
    .option('--tile <n>', 'tile side', positiveInt('a tile size'), 64)
    .option('--depth <n>', 'slices the encoder sees', positiveInt('a depth'), 16)
    .option(
      '--z <a:b>',
      'layers read around the surface (the encoder sees --depth slices centred in them)',
      SURFACE_Z_RANGE.join(':'),
    )
    .option('--erode <n>', 'mask erosion', nonNegativeInt('an erosion'), 16)
    .option('--tiles <n>', 'tiles cached per fragment', positiveInt('a tile count'), 16)
    .option('--pixels <n>', 'pixels sampled per tile', positiveInt('a pixel count'), 128)
    .option('--resamples <n>', 'bootstrap resamples', positiveInt('a resample count'), 1000)
    .option(
      '--reference',
      'also train the reference protocol (frozen encoder + U-Net decoder) on all but the last two fragments',
    )
    .option('--epochs <n>', 'epochs of the reference protocol', positiveInt('an epoch count'), 6)
    .option('--out <dir>', 'folder of run folders', 'runs')
    .option('--name <name>', 'run name', 'probe')
    .option('--title <text>', 'title of the comparison table')
    .option('--json', 'print the comparisons as JSON')
    .action(async (o: ProbeFlags) => {
      const device = requireDevice(o.device ?? 'cpu', 'probe: device');
      if (o.fragment.length < 3) {
        throw new Error(`probe: leave-one-fragment-out needs at least 3 --fragment folders, got ${o.fragment.length}`);
      }
      const [z0, z1] = o.z.split(':').map(Number) as [number, number];
      if (!(Number.isInteger(z0) && Number.isInteger(z1) && z1 > z0)) {
        throw new Error(`probe: --z must be START:END, got '${o.z}'`);
      }
      if (!READOUTS.includes(o.readout as Readout)) {
        throw new Error(`probe: --readout must be one of ${READOUTS.join(', ')}, got '${o.readout}'`);
      }
      const stages = o.stages.split(',') as StageName[];
      for (const s of stages)
        if (!STAGES.includes(s)) throw new Error(`probe: unknown stage '${s}' (known: ${STAGES.join(', ')})`);
      const depth = o.depth;
      const tile = o.tile;
      const seeds = Array.from({ length: o.seeds }, (_, i) => i);
      const model = { arch: o.arch, widenFactor: o.widen };
      const dir = join(o.out, o.name);
      const specs = o.fragment.map((path) => ({ path, z: [z0, z1] as [number, number] }));
      const tiles: Awaited<ReturnType<typeof loadProbeTiles>>[] = [];
      for (const spec of specs) {
        tiles.push(
          await loadProbeTiles(spec, {
            tile,
            stride: tile,
            depth,
            erode: o.erode,
            maxTiles: o.tiles,
            pixelsPerTile: o.pixels,
            seed: 0,
          }),
        );
      }
      const encoders = (o.encoder.length ? o.encoder : ['random']).map(parseEncoderChoice);
      const upperFolds = o.upperFolds
        ? o.upperFolds.split(',').map((v) => positiveInt('a fragment number')(v) - 1)
        : undefined;
      const intervals = { resamples: o.resamples };
      const probe = await runProbeStudy({
        title: o.title ?? `Linear probe on frozen encoders (${o.fragment.length} fragments, leave-one-fragment-out)`,
        fragments: tiles,
        seeds,
        stages,
        readout: o.readout as Readout,
        intervals,
        device,
        varies: 'the random encoder initialisation; weights files are fixed',
        log: (l) => process.stderr.write(l + '\n'),
        encoders: [
          ...encoders.map((e) => ({
            label: e.label,
            role: 'arm' as const,
            build: encoderBuilder(model, () => e.weights),
          })),
          ...(o.upper
            ? [
                {
                  label: 'fine-tuned-frozen',
                  role: 'fine-tuned-frozen' as const,
                  build: encoderBuilder(model, () => o.upper!),
                  ...(upperFolds ? { folds: upperFolds } : {}),
                },
              ]
            : []),
        ],
      });
      const comparisons = [probe.comparison];
      if (o.reference) {
        if (o.fragment.length < 3) throw new Error('probe --reference: needs at least 3 fragments');
        const n = specs.length;
        const cfg = await loadSupervisedConfig({
          preset: ['probe'],
          extra: {
            data: { train: specs.slice(0, n - 2), val: [specs[n - 2]!], tile, depth, stride: tile / 2, erode: o.erode },
            model: { ...model, decoder: 'unet' },
          },
          set: [`name=${o.name}-reference`, `out=${o.out}`, `train.epochs=${o.epochs}`],
        });
        const runs = await trainPerEncoder(cfg, encoders, seeds, { overwrite: true });
        comparisons.push(
          await segmentationTable(
            'Reference protocol: frozen encoder + U-Net decoder',
            `frozen encoder, U-Net decoder trained on the first ${n - 2} fragments; threshold on fragment ${n - 1}, scored on fragment ${n}`,
            'the decoder initialisation and tile order',
            runs,
            { val: tiles[n - 2]!, test: tiles[n - 1]!, fold: n - 1, probeRuns: probe.runs, intervals },
          ),
        );
      }
      const path = await recordResults(dir, { comparisons });
      if (o.json) console.log(JSON.stringify(comparisons, null, 1));
      else console.log(`${comparisons.map(formatStudyComparison).join('\n\n')}\n-> ${path}`);
    });
}
