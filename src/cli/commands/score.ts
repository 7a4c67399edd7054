/**
 * `inkwell score --pred pred.png --labels inklabels.png [--mask mask.png] [--threshold T | --best-threshold]
 * [--skip-empty-tiles SIZE] [--json]`: scores a predicted ink probability map (8-bit / 255, 16-bit / 65535)
 * against ink labels (> 0) within a mask (> 0): Kaggle F0.5, precision, recall, IoU, Dice and ROC AUC.
 * `--json` prints exactly {"f05", "precision", "recall", "iou", "dice", "auc", "threshold"} (auc null when the
 * evaluated pixels hold a single class).
 */
import { type Command, Option } from 'commander';
import { positiveInt, unitInterval } from '../options.js';
import {
  noInkMessage,
  scoreImageFiles,
  type ScoreFilesReport,
  type ScoreOptions,
  type ScoreResult,
} from '../../eval/index.js';

interface ScoreCliOptions {
  pred: string;
  labels: string;
  mask?: string;
  threshold?: number;
  bestThreshold?: boolean;
  skipEmptyTiles?: number;
  json?: boolean;
}

/** The JSON `score --json` prints: exactly the seven ScoreResult keys, in a fixed order. */
export function scoreJson(s: ScoreResult): string {
  return JSON.stringify({
    f05: s.f05,
    precision: s.precision,
    recall: s.recall,
    iou: s.iou,
    dice: s.dice,
    auc: s.auc,
    threshold: s.threshold,
  });
}

/** The readable table `score` prints by default. */
export function scoreTable(
  r: ScoreFilesReport,
  files: { pred: string; labels: string; mask?: string },
  best: boolean,
): string {
  const s = r.scores;
  const c = r.counts;
  const f = (v: number): string => v.toFixed(4);
  const pct = (a: number, b: number): string => (b > 0 ? `${((100 * a) / b).toFixed(2)}%` : '-');
  const lines = [
    `prediction  ${files.pred} (${r.height}x${r.width} HxW, ${r.bits}-bit)`,
    `labels      ${files.labels}`,
    ...(files.mask !== undefined ? [`mask        ${files.mask}`] : []),
    `pixels      ${c.pixels} evaluated, ${c.positives} ink (${pct(c.positives, c.pixels)})` +
      (c.tilesKept !== undefined ? `; ${c.tilesKept} of ${c.tilesTotal} tiles hold ink` : ''),
    '',
    `threshold   ${s.threshold.toPrecision(6)}${best ? ' (maximises F0.5)' : ''}`,
    `F0.5        ${f(s.f05)}`,
    `precision   ${f(s.precision)}`,
    `recall      ${f(s.recall)}`,
    `IoU         ${f(s.iou)}`,
    `Dice        ${f(s.dice)}`,
    `ROC AUC     ${s.auc === null ? 'undefined (the evaluated pixels hold a single class)' : f(s.auc)}`,
    `TP ${c.tp}  FP ${c.fp}  FN ${c.fn}  TN ${c.tn}`,
  ];
  return lines.join('\n');
}

export function registerScore(program: Command): void {
  program
    .command('score')
    .description('score an ink probability map against ink labels: Kaggle F0.5, precision, recall, IoU, Dice, ROC AUC')
    .requiredOption('--pred <png>', 'predicted ink probabilities: 8-bit (/255) or 16-bit (/65535) grey PNG')
    .requiredOption('--labels <png>', 'ink labels (ink where > 0)')
    .option('--mask <png>', 'pixels to evaluate (where > 0; default: all)')
    .addOption(
      new Option('--threshold <t>', 'predicted ink where probability >= t (default 0.5)')
        .argParser(unitInterval('a threshold'))
        .conflicts('bestThreshold'),
    )
    .option('--best-threshold', 'use the threshold that maximises F0.5 (reported)')
    .option('--skip-empty-tiles <size>', 'ignore SIZExSIZE tiles without any ink label', positiveInt('a tile size'))
    .option('--json', 'print {"f05", "precision", "recall", "iou", "dice", "auc", "threshold"}')
    .action(async (o: ScoreCliOptions) => {
      const opts: ScoreOptions = {};
      if (o.threshold !== undefined) opts.threshold = o.threshold;
      if (o.bestThreshold) opts.bestThreshold = true;
      if (o.skipEmptyTiles !== undefined) opts.skipEmptyTiles = o.skipEmptyTiles;
      const files = { pred: o.pred, labels: o.labels, ...(o.mask !== undefined ? { mask: o.mask } : {}) };
      const report = await scoreImageFiles(files, opts);
      if (report.counts.positives === 0) {
        process.stderr.write(
          `score: warning: ${noInkMessage(files, report.counts.pixels)}: precision, recall and F0.5 are 0 ` +
            'whatever the prediction, and ROC AUC is undefined; these scores say nothing about the prediction\n',
        );
      }
      process.stdout.write(
        (o.json ? scoreJson(report.scores) : scoreTable(report, files, o.bestThreshold ?? false)) + '\n',
      );
    });
}
