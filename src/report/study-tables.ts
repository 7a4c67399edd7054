/**
 * The study's tables in the report (docs/study-design.md): every arm and control with AUC and F0.5 as mean and
 * 95% bootstrap interval, the distance from chance and a verdict ("at chance" when the AUC interval covers
 * 0.5), an interval chart with chance marked, and the data-efficiency curve with one verdict per budget.
 */
import type { StudyComparison, StudyEntry } from '../study/comparison.js';
import type { EfficiencyCurve } from '../study/results.js';
import type { Interval } from '../util/stats.js';
import { intervalChart, lineChart, PALETTE } from './charts.js';
import { figure, h, type Block } from './sections.js';

const ci = (i: Interval): string =>
  Number.isFinite(i.mean) ? `${i.mean.toFixed(3)} [${i.low.toFixed(3)}, ${i.high.toFixed(3)}]` : '-';
const signed = (v: number): string =>
  Number.isFinite(v) ? `${v >= 0 ? '+' : '\u2212'}${Math.abs(v).toFixed(3)}` : '-';

function verdictClass(e: StudyEntry): string {
  if (e.verdict === 'at chance') return 'no';
  if (e.verdict.startsWith('above')) return 'yes';
  return 'unknown';
}

function entryRow(e: StudyEntry, control: boolean): string {
  return (
    `<tr${control ? ' class="control"' : ''}><td>${control ? '<span class="small">control</span> ' : ''}${h(e.label)}</td>` +
    `<td class="num">${h(ci(e.auc))}</td><td class="num">${h(ci(e.f05))}</td><td class="num">${h(signed(e.fromChance))}</td>` +
    `<td><span class="tag ${verdictClass(e)}">${h(e.verdict)}</span>${e.note ? ` <span class="small">${h(e.note)}</span>` : ''}</td>` +
    `<td class="num">${e.seeds.length} / ${e.folds}</td></tr>`
  );
}

/** One comparison: table, AUC interval chart with chance marked, protocol, what the seeds vary, verdict. */
export function renderStudyComparison(c: StudyComparison, folder: string, idx: number): Block {
  const header =
    '<tr><th>arm / control</th><th class="num">AUC [95% CI]</th><th class="num">F0.5 [95% CI]</th><th class="num">AUC \u2212 0.5</th>' +
    '<th>verdict</th><th class="num">seeds / folds</th></tr>';
  const body = c.arms.map((e) => entryRow(e, false)).join('') + c.controls.map((e) => entryRow(e, true)).join('');
  const rows = [...c.arms, ...c.controls]
    .filter((e) => e.label !== 'chance')
    .map((e, i) => ({
      label: e.label,
      values: [],
      mean: e.auc.mean,
      low: e.auc.low,
      high: e.auc.high,
      highlight: i < c.arms.length,
    }));
  const chart = figure(
    intervalChart(rows, {
      title: 'ROC AUC',
      xLabel: 'AUC (dot: mean; bar: 95% bootstrap interval; dashed: chance)',
      ref: { x: 0.5, label: 'chance (AUC 0.5)' },
    }),
  );
  const where = folder === '.' ? '' : ` <span class="from">(${h(folder)}/results.json)</span>`;
  const html =
    `<div class="block" id="comparison-${idx}"><h3>${h(c.title)}${where}</h3>` +
    `<p class="verdict">${h(c.verdict)}</p>` +
    `<table class="results"><thead>${header}</thead><tbody>${body}</tbody></table>` +
    `<div class="charts">${chart}</div>` +
    `<p class="small">${h(c.protocol)}. Seeds vary ${h(c.varies)}. Intervals: percentile bootstrap over seeds, then tiles within each seed; ` +
    'thresholds for F0.5 chosen on a fragment that is not scored.</p></div>';
  return { html, glance: `<li><b>${h(c.title)}</b>: ${h(c.verdict)}</li>` };
}

/** The data-efficiency curve: mean AUC per encoder over the budgets, the intervals per budget, one verdict each. */
export function renderCurve(c: EfficiencyCurve, folder: string, idx: number): Block {
  const series = c.series.map((s, i) => ({
    name: s.label,
    color: PALETTE[i % PALETTE.length]!,
    points: s.points.map((p, k) => [k, p.auc.mean] as const),
  }));
  const line = figure(
    lineChart(series, {
      title: 'Held-out AUC against label budget',
      xLabel: `budget (${c.budgets.map((b, k) => `${k}: ${b}`).join('; ')})`,
      yLabel: 'AUC',
      integerX: true,
      refLines: [{ y: 0.5, label: 'chance' }],
    }),
  );
  const perBudget = c.budgets.map((b, k) =>
    figure(
      intervalChart(
        c.series.map((s) => {
          const p = s.points[k]!;
          return { label: s.label, values: [], mean: p.auc.mean, low: p.auc.low, high: p.auc.high };
        }),
        { title: b, xLabel: 'AUC, 95% interval', ref: { x: 0.5, label: 'chance' } },
      ),
    ),
  );
  const header = `<tr><th>encoder</th>${c.budgets.map((b) => `<th class="num">${h(b)}</th>`).join('')}</tr>`;
  const body = c.series
    .map(
      (s) => `<tr><td>${h(s.label)}</td>${s.points.map((p) => `<td class="num">${h(ci(p.auc))}</td>`).join('')}</tr>`,
    )
    .join('');
  const verdicts = c.verdicts.map((v) => `<li><b>${h(v.budget)}</b>: ${h(v.verdict)}</li>`).join('');
  const where = folder === '.' ? '' : ` <span class="from">(${h(folder)}/results.json)</span>`;
  const html =
    `<div class="block" id="comparison-${idx}"><h3>${h(c.title)}${where}</h3>` +
    `<div class="charts pair">${line}${perBudget.join('')}</div>` +
    `<table class="results"><thead>${header}</thead><tbody>${body}</tbody></table><ul>${verdicts}</ul>` +
    `<p class="small">AUC mean [95% bootstrap interval] on the held-out fragment. Seeds vary ${h(c.varies)}.</p></div>`;
  return {
    html,
    glance: `<li><b>${h(c.title)}</b>: ${c.verdicts.map((v) => `${h(v.budget)}: ${h(v.verdict)}`).join('; ')}</li>`,
  };
}
