import type { Command } from 'commander';
import { seedInt } from '../options.js';
import { formatComparison, verdict } from '../../supervised/compare.js';
import { runDemo, type DemoPreset } from '../../demo/demo.js';

export function registerDemo(program: Command): void {
  program.command('demo')
    .description('the whole study on built-in synthetic data: pretrain (VICReg), CKA, probes (random vs VICReg), fine-tune, infer, score, report')
    .option('--preset <name>', "default (about 10-15 min on 2 cores), transfer (adds the scroll-domain transfer test), tiny (a 1-minute smoke run)", 'default')
    .option('--name <name>', 'run folder name under --out (default demo, demo-transfer, demo-tiny)')
    .option('--out <dir>', 'folder of run folders', 'runs')
    .option('--seed <n>', 'seed for the data and every run', seedInt, 0)
    .option('--json', 'print the result as JSON')
    .action(async (o: { preset: string; name?: string; out: string; seed: number; json?: boolean }) => {
      const r = await runDemo({ preset: o.preset as DemoPreset, out: o.out, seed: o.seed, ...(o.name ? { name: o.name } : {}) });
      if (o.json) {
        console.log(JSON.stringify(r, null, 1));
        return;
      }
      console.log('');
      for (const c of r.comparisons) console.log(formatComparison({ ...c, note: verdict(c) }) + '\n');
      const s = r.heldOut.scores;
      console.log(`Held-out fragment ${r.heldOut.fragment} (threshold ${r.heldOut.threshold.toFixed(2)} chosen on validation): F0.5 ${s.f05.toFixed(3)}, AUC ${s.auc?.toFixed(3) ?? '-'}, precision ${s.precision.toFixed(3)}, recall ${s.recall.toFixed(3)}` +
        ` - ${r.quality.reached ? 'reaches' : 'does NOT reach'} the F0.5 >= ${r.quality.target} bar.`);
      console.log(`Report: ${r.report}\nEverything is in ${r.runDir} (${r.minutes.toFixed(1)} min).`);
    });
}
