/**
 * `inkwell report RUN_DIR [--output FILE] [--title TEXT] [--json]`: writes one self-contained HTML page for a
 * run folder, or for a folder of runs (e.g. a demo folder with pretrain/, probe/, finetune/ runs and top-level
 * results.json, cka/, predictions/): config, loss curves, collapse monitor, CKA heatmaps and numbers,
 * predictions beside labels and IR, and the encoder comparison over seeds. Missing parts are noted in the page.
 * Prints the page's path and the sections it holds (`--json`: {"path", "sections", "missing", "warnings",
 * "bytes"}); problems met while reading go to stderr.
 */
import type { Command } from 'commander';
import { writeReport } from '../../report/report.js';

interface ReportCliOptions {
  output?: string;
  title?: string;
  json?: boolean;
}

export function registerReport(program: Command): void {
  program
    .command('report')
    .description(
      'write a self-contained HTML report (curves, collapse monitor, CKA, predictions, comparison over seeds) for a run folder or a folder of runs',
    )
    .argument('<run-dir>', 'a run folder (with metrics.jsonl) or a folder whose subfolders are runs')
    .option('--output <file>', 'where to write the page (default RUN_DIR/report.html)')
    .option('--title <text>', 'page title (default "inkwell report: <folder name>")')
    .option('--json', 'print {"path", "sections", "missing", "warnings", "bytes"} as JSON')
    .action(async (runDir: string, o: ReportCliOptions) => {
      const r = await writeReport(runDir, {
        ...(o.output !== undefined ? { output: o.output } : {}),
        ...(o.title !== undefined ? { title: o.title } : {}),
      });
      if (o.json) {
        process.stdout.write(JSON.stringify(r) + '\n');
        return;
      }
      for (const w of r.warnings) process.stderr.write(`inkwell report: warning: ${w}\n`);
      process.stdout.write(`${r.path} (${(r.bytes / 1024).toFixed(0)} KiB)\n`);
      process.stdout.write(`sections: ${r.sections.join(', ') || 'none'}\n`);
      if (r.missing.length) process.stdout.write(`not available: ${r.missing.join(', ')}\n`);
    });
}
