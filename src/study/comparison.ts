/**
 * A comparison table of the study as results.json and scores.json carry it (docs/study-design.md): the arms
 * measured and the controls that make them readable - `chance`, `surface-statistic` (a hand-made statistic
 * that follows the papyrus surface) and `fine-tuned-frozen` (the same instrument on a fine-tuned encoder, the
 * upper bound; `in-family` in the cross-family table) - each with AUC and F0.5 as {mean, low, high}, its distance from chance and a verdict. The
 * table's verdict ranks only arms separable from chance and says when their intervals overlap.
 */
import type { Interval } from '../util/stats.js';
import { armVerdict, chanceScores, separable, type ArmScores } from './scoring.js';

export interface StudyEntry {
  label: string;
  auc: Interval;
  f05: Interval;
  /** AUC mean - 0.5. */
  fromChance: number;
  verdict: string;
  seeds: number[];
  /** Held-out fragments scored (leave-one-fragment-out folds). */
  folds: number;
  note?: string;
}

export interface StudyComparison {
  title: string;
  /** What was trained and scored, in one line. */
  protocol: string;
  /** Exactly what the seeds vary in this table. */
  varies: string;
  arms: StudyEntry[];
  controls: StudyEntry[];
  verdict: string;
}

export function entryOf(label: string, s: ArmScores, note?: string): StudyEntry {
  return {
    label,
    auc: s.auc,
    f05: s.f05,
    fromChance: s.auc.mean - 0.5,
    verdict: armVerdict(s.auc),
    seeds: s.seeds,
    folds: s.folds,
    ...(note === undefined ? {} : { note }),
  };
}

/** The chance control of the pixels `reference` scored. */
export function chanceEntry(reference: ArmScores): StudyEntry {
  const c = chanceScores(reference);
  return {
    ...entryOf('chance', c, 'AUC 0.5; F0.5 of calling every pixel ink, 1.25p/(1+0.25p) at ink share p'),
    verdict: 'chance',
  };
}

/**
 * Labels of the controls that bound a table from above: the probe on a fine-tuned encoder, and for the
 * cross-family transfer the same recipe trained on the scored family itself.
 */
export const UPPER_BOUNDS: readonly string[] = ['fine-tuned-frozen', 'in-family'];

const fmt = (i: Interval) => `${i.mean.toFixed(3)} [${i.low.toFixed(3)}, ${i.high.toFixed(3)}]`;

/**
 * One line: which arms are above chance, the best of them and whether its lead over the runner-up is larger
 * than the intervals; where the upper bound sits; arms at chance are named, never ranked.
 */
export function comparisonVerdict(arms: readonly StudyEntry[], controls: readonly StudyEntry[]): string {
  const parts: string[] = [];
  const upper = controls.find((c) => UPPER_BOUNDS.includes(c.label));
  if (upper && upper.verdict === 'at chance') {
    parts.push(`the upper bound (${upper.label}) is at chance: this instrument cannot see ink, its arms say nothing`);
  }
  const atChance = arms.filter((a) => a.verdict === 'at chance' || !(a.auc.low > 0.5 || a.auc.high < 0.5));
  const above = arms.filter((a) => a.auc.low > 0.5).sort((a, b) => b.auc.mean - a.auc.mean);
  if (above.length === 0) parts.push('every arm is at chance or below it: no ranking');
  else {
    const [best, next] = above;
    if (!next) parts.push(`${best!.label} is the only arm above chance (AUC ${fmt(best!.auc)})`);
    else if (separable(best!.auc, next.auc)) {
      parts.push(`${best!.label} leads ${next.label} (AUC ${fmt(best!.auc)} vs ${fmt(next.auc)}, intervals apart)`);
    } else {
      parts.push(
        `${best!.label} and ${next.label} are not separable (AUC intervals overlap: ${fmt(best!.auc)} vs ${fmt(next.auc)})`,
      );
    }
    const surface = controls.find((c) => c.label === 'surface-statistic');
    if (surface && Number.isFinite(surface.auc.mean)) {
      parts.push(
        separable(best!.auc, surface.auc)
          ? `${best!.label} is ${best!.auc.mean > surface.auc.mean ? 'above' : 'below'} the hand-made surface statistic (${fmt(surface.auc)})`
          : `${best!.label} is not separable from the hand-made surface statistic (${fmt(surface.auc)})`,
      );
    }
  }
  const best = above[0];
  if (best && upper && upper.verdict !== 'at chance') {
    parts.push(
      separable(best.auc, upper.auc)
        ? `${best.label} is ${best.auc.mean < upper.auc.mean ? 'below' : 'above'} the upper bound ${upper.label} (${fmt(upper.auc)})`
        : `${best.label} is not separable from the upper bound ${upper.label} (${fmt(upper.auc)})`,
    );
  }
  if (atChance.length) parts.push(`at chance: ${atChance.map((a) => a.label).join(', ')}`);
  return parts.join('; ');
}

/** The table as text: label, AUC and F0.5 with intervals, distance from chance, verdict. */
export function formatStudyComparison(c: StudyComparison): string {
  const rows = [...c.arms, ...c.controls].map((e) => [
    e.label,
    fmt(e.auc),
    fmt(e.f05),
    (e.fromChance >= 0 ? '+' : '') + e.fromChance.toFixed(3),
    e.verdict,
  ]);
  const head = ['arm / control', 'AUC [95% CI]', 'F0.5 [95% CI]', 'AUC - 0.5', 'verdict'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((x, i) => x.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [
    c.title,
    `(${c.protocol}; seeds vary ${c.varies})`,
    line(head),
    ...rows.map(line),
    `verdict: ${c.verdict}`,
  ].join('\n');
}
