import type { Command } from 'commander';
import { addDeviceOptions, type DeviceFlags, deviceOptions } from '../device-options.js';
import { seedInt } from '../options.js';
import { runDemo, type DemoPreset } from '../../demo/demo.js';
import { formatDemoSummary } from '../../demo/summary.js';
import { parseEncoderChoice } from '../../supervised/compare.js';

const collect = (v: string, prev: string[]) => [...prev, v];

interface DemoFlags extends DeviceFlags {
  preset: string;
  name?: string;
  out: string;
  seed: number;
  encoder: string[];
  json?: boolean;
}

export function registerDemo(program: Command): void {
  const cmd = program
    .command('demo')
    .description(
      'the study on built-in synthetic data: pretrain (VICReg), CKA, fine-tune, linear probes with controls and intervals, ' +
        'the reference protocol, the data-efficiency curve, inference on a held-out fragment, report',
    )
    .option(
      '--preset <name>',
      'default (<= 15 min on 2 cores), full (about an hour: masked reconstruction too, 3 seeds everywhere), tiny (a smoke run)',
      'default',
    )
    .option('--name <name>', 'run folder name under --out (default demo, demo-full, demo-tiny)')
    .option('--out <dir>', 'folder of run folders', 'runs')
    .option('--seed <n>', 'seed for the data and every run', seedInt, 0)
    .option(
      '--encoder <label=file>',
      'an extra encoder for every arm, e.g. k700=r3d50_K700.pth (repeatable)',
      collect,
      [],
    )
    .option('--json', 'print scores.json');
  // Every stage runs there: pretraining, CKA, fine-tuning, probes, the segmentation tables and inference.
  addDeviceOptions(cmd, { amp: true });
  cmd.action(async (o: DemoFlags) => {
    const encoders = o.encoder.map(parseEncoderChoice).filter((e) => e.weights !== null);
    const r = await runDemo({
      preset: o.preset as DemoPreset,
      out: o.out,
      seed: o.seed,
      encoders,
      ...(o.name ? { name: o.name } : {}),
      ...deviceOptions(o),
    });
    if (o.json) {
      console.log(JSON.stringify(r.scores, null, 1));
      return;
    }
    console.log(`\n${formatDemoSummary(r.scores)}`);
    console.log(
      `Report: ${r.report}\nInk model: ${r.runDir}/ink-model.pth\nEverything is in ${r.runDir} (${r.minutes.toFixed(1)} min).`,
    );
  });
}
