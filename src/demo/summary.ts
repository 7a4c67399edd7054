/**
 * The demo's `scores.json` (a contract that scripts rely on) and its printed summary: the held-out fragment's scores at
 * the validation threshold, every comparison with its arms and controls ({label, auc: {mean, low, high}, ...}),
 * the data-efficiency curves, and the targets with whether each is reached.
 */
import { join } from 'node:path';
import type { ScoreResult } from '../eval/metrics.js';
import { formatStudyComparison, type StudyComparison } from '../study/comparison.js';
import type { EfficiencyCurve } from '../study/results.js';
import { writeFileAtomic } from '../util/atomic.js';
import type { CrossFamily } from './cross-family.js';

export type { CrossFamily } from './cross-family.js';

export interface Target {
  name: string;
  value: number | null;
  target: number;
  reached: boolean;
  note?: string;
}

export interface DemoScores {
  preset: string;
  seed: number;
  minutes: number;
  /** CPU time of the whole run (user + system, all threads): the load-independent cost (docs/demo-budget.md). */
  cpuSeconds: number;
  heldOut: ScoreResult & { fragment: string; threshold: number };
  comparisons: StudyComparison[];
  curves: EfficiencyCurve[];
  crossFamily: CrossFamily | null;
  targets: Target[];
  quality: { target: number; reached: boolean };
}

export type DemoScoresInput = Omit<DemoScores, 'targets' | 'quality'>;

const target = (name: string, value: number | null | undefined, bar: number, note?: string): Target => ({
  name,
  value: value ?? null,
  target: bar,
  reached: value !== null && value !== undefined && value >= bar,
  ...(note ? { note } : {}),
});

const interval = (i: { low: number; high: number }) => `95% interval [${i.low.toFixed(3)}, ${i.high.toFixed(3)}]`;

/** The issue's targets, measured. */
export function demoTargets(s: DemoScoresInput): Target[] {
  const upper = s.comparisons[0]?.controls.find((c) => c.label === 'fine-tuned-frozen');
  const cf = s.crossFamily;
  const noFamily = 'not run';
  return [
    target('probe on the frozen fine-tuned encoder, AUC', upper?.auc.mean, 0.85),
    target('held-out fragment F0.5 at the validation threshold', s.heldOut.f05, 0.6),
    target(
      'cross-family transfer AUC (no layer-order flag)',
      cf ? cf.auc.mean : null,
      0.85,
      cf
        ? `${interval(cf.auc)}; ` +
            (cf.inFamily
              ? `the same recipe trained on family B reaches ${cf.inFamily.auc.mean.toFixed(3)} ${interval(cf.inFamily.auc)} on these fragments`
              : 'no in-family bound')
        : noFamily,
    ),
    target(
      'cross-family transfer F0.5 at the validation threshold',
      cf ? cf.f05.mean : null,
      0.5,
      cf ? `${interval(cf.f05)}; all-ink F0.5 ${cf.chanceF05.toFixed(3)}` : noFamily,
    ),
  ];
}

/** Writes `<dir>/scores.json` atomically and returns its content. */
export async function writeScores(dir: string, s: DemoScoresInput): Promise<DemoScores> {
  const targets = demoTargets(s);
  const scores: DemoScores = { ...s, targets, quality: { target: 0.6, reached: s.heldOut.f05 >= 0.6 } };
  await writeFileAtomic(join(dir, 'scores.json'), JSON.stringify(scores, null, 1) + '\n');
  return scores;
}

const fmt = (v: number | null) => (v === null ? '-' : v.toFixed(3));

/** The printed summary: every table, the curve's verdicts, the held-out scores and the targets. */
export function formatDemoSummary(s: DemoScores): string {
  const lines: string[] = [];
  for (const c of s.comparisons) lines.push(formatStudyComparison(c), '');
  for (const c of s.curves) {
    lines.push(`${c.title} (seeds vary ${c.varies})`);
    for (const series of c.series) {
      lines.push(
        `  ${series.label.padEnd(12)} ${series.points.map((p) => `${p.budget}: ${p.auc.mean.toFixed(3)} [${p.auc.low.toFixed(3)}, ${p.auc.high.toFixed(3)}]`).join('  |  ')}`,
      );
    }
    for (const v of c.verdicts) lines.push(`  ${v.budget}: ${v.verdict}`);
    lines.push('');
  }
  const h = s.heldOut;
  lines.push(
    `Held-out fragment ${h.fragment} (threshold ${h.threshold.toFixed(3)} chosen on the validation fragment): F0.5 ${h.f05.toFixed(3)}, AUC ${fmt(h.auc)}, precision ${h.precision.toFixed(3)}, recall ${h.recall.toFixed(3)}`,
  );
  const cf = s.crossFamily;
  if (cf) {
    lines.push(
      `Cross-family transfer (trained on family ${cf.trainFamily}, scored on ${cf.fragments.length} ` +
        `family-${cf.scoreFamily} fragments, layer order ${cf.layerOrder}, threshold ${cf.threshold.toFixed(3)}): ` +
        `AUC ${cf.auc.mean.toFixed(3)} [${cf.auc.low.toFixed(3)}, ${cf.auc.high.toFixed(3)}] (target >= 0.85), ` +
        `F0.5 ${cf.f05.mean.toFixed(3)} [${cf.f05.low.toFixed(3)}, ${cf.f05.high.toFixed(3)}] (target >= 0.5)`,
    );
    for (const f of cf.fragments) {
      lines.push(
        `  ${f.id}: ${f.bits}-bit, papyrus ${f.papyrusSide} the surface${f.reversed ? ', stored reversed' : ''}: ` +
          `F0.5 ${f.f05.toFixed(3)}, AUC ${fmt(f.auc)}` +
          (f.inFamily ? ` (in-family bound: F0.5 ${f.inFamily.f05.toFixed(3)}, AUC ${fmt(f.inFamily.auc)})` : ''),
      );
    }
    lines.push(
      `  controls: surface statistic AUC ${cf.surfaceStatistic.auc.mean.toFixed(3)}` +
        (cf.inFamily
          ? `; in-family bound (the same recipe trained on family B) AUC ${cf.inFamily.auc.mean.toFixed(3)} ` +
            `[${cf.inFamily.auc.low.toFixed(3)}, ${cf.inFamily.auc.high.toFixed(3)}], F0.5 ${cf.inFamily.f05.mean.toFixed(3)}`
          : ''),
    );
  }
  lines.push('Targets:');
  for (const t of s.targets)
    lines.push(
      `  ${t.reached ? 'reached' : 'NOT reached'}  ${t.name}: ${fmt(t.value)} (target >= ${t.target})${t.note ? ` - ${t.note}` : ''}`,
    );
  return lines.join('\n');
}
