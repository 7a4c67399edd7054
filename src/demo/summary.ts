/**
 * The demo's `scores.json` (a contract, issue 11) and its printed summary: the held-out fragment's scores at
 * the validation threshold, every comparison with its arms and controls ({label, auc: {mean, low, high}, ...}),
 * the data-efficiency curves, and the targets with whether each is reached.
 */
import { join } from 'node:path';
import type { ScoreResult } from '../eval/metrics.js';
import { formatStudyComparison, type StudyComparison } from '../study/comparison.js';
import type { EfficiencyCurve } from '../study/results.js';
import { writeFileAtomic } from '../util/atomic.js';

/**
 * Cross-family transfer: a model trained on one synthetic family scored on a fragment of the other (issue 11).
 * The seam: the demo fills it once the second family's generator is on this branch; null until then.
 */
export interface CrossFamily {
  trainFamily: string;
  scoreFamily: string;
  fragment: string;
  threshold: number;
  auc: number | null;
  f05: number;
}

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

/** The issue's targets, measured. */
export function demoTargets(s: DemoScoresInput): Target[] {
  const upper = s.comparisons[0]?.controls.find((c) => c.label === 'fine-tuned-frozen');
  const cf = s.crossFamily;
  const noFamily = 'not run: the second synthetic family is not available on this branch';
  return [
    target('probe on the frozen fine-tuned encoder, AUC', upper?.auc.mean, 0.85),
    target('held-out fragment F0.5 at the validation threshold', s.heldOut.f05, 0.6),
    target('cross-family transfer AUC', cf ? cf.auc : null, 0.85, cf ? undefined : noFamily),
    target(
      'cross-family transfer F0.5 at the validation threshold',
      cf ? cf.f05 : null,
      0.5,
      cf ? undefined : noFamily,
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
  lines.push('Targets:');
  for (const t of s.targets)
    lines.push(
      `  ${t.reached ? 'reached' : 'NOT reached'}  ${t.name}: ${fmt(t.value)} (target >= ${t.target})${t.note ? ` - ${t.note}` : ''}`,
    );
  return lines.join('\n');
}
