/** The report page: sections in a fixed order, an "at a glance" summary, navigation; self-contained HTML. */
import { CSS } from './style.js';
import {
  displayName,
  groupFacts,
  h,
  na,
  problemList,
  renderCka,
  renderCollapse,
  renderConfig,
  renderCurves,
  renderGroupCurves,
  renderPredictions,
  runFacts,
} from './sections.js';
import { renderCurve, renderStudyComparison } from './study-tables.js';
import type { ReportData } from './types.js';

const MISSING_REASON: Record<string, string> = {
  comparison: 'no results.json with comparison tables in this folder or its run folders',
  predictions:
    'no predictions/ folder with <id>_prob.png, <id>_labels.png or <id>_ir.png (a pretraining-only run has none)',
  collapse: 'no embedding_std in any metrics.jsonl (only self-supervised pretraining logs it)',
  cka: 'no cka/ folder (write one with inkwell cka --checkpoints)',
  curves: 'no metrics.jsonl',
  config: 'no config.yaml',
};

const SECTION_TITLES: Record<string, string> = {
  comparison: 'Does pretraining help? Comparison over seeds',
  predictions: 'Predictions beside labels and IR',
  collapse: 'Collapse monitor',
  cka: 'CKA between checkpoints',
  curves: 'Training curves',
  config: 'Configs',
};

const SHORT_NAMES: Record<string, string> = {
  comparison: 'comparison tables (results.json)',
  predictions: 'predictions',
  collapse: 'collapse monitor',
  cka: 'CKA',
  curves: 'training curves',
  config: 'config',
};

const SECTION_ORDER: readonly string[] = ['comparison', 'predictions', 'collapse', 'cka', 'curves', 'config'];

export interface Composed {
  html: string;
  sections: string[];
  missing: string[];
  warnings: string[];
}

export function compose(data: ReportData): Composed {
  const bodies: Record<string, string[]> = Object.fromEntries(SECTION_ORDER.map((s) => [s, []]));
  const glance: Record<string, string[]> = Object.fromEntries(SECTION_ORDER.map((s) => [s, []]));
  const multi = data.folders.length > 1;
  let comparisonCount = 0;
  const encoders = [
    ...new Set(data.folders.flatMap((f) => (f.comparisons ?? []).flatMap((c) => c.arms.map((r) => r.label)))),
  ];
  for (const f of data.folders) {
    const name = displayName(f, data);
    (f.comparisons ?? []).forEach((c) => {
      const b = renderStudyComparison(c, f.name, comparisonCount++);
      bodies['comparison']!.push(b.html);
      if (b.glance) glance['comparison']!.push(b.glance);
    });
    (f.curves ?? []).forEach((c) => {
      const b = renderCurve(c, f.name, comparisonCount++);
      bodies['comparison']!.push(b.html);
      if (b.glance) glance['comparison']!.push(b.glance);
    });
    if (f.comparisons && f.comparisons.length === 0)
      bodies['comparison']!.push(
        `<p class="small">${h(f.name === '.' ? 'results.json' : `${f.name}/results.json`)} lists no comparisons.</p>`,
      );
    if (f.predictions) {
      const b = renderPredictions(f.predictions, f.name, encoders);
      bodies['predictions']!.push(b.html);
      if (b.glance) glance['predictions']!.push(b.glance);
    }
    const col = renderCollapse(f, name);
    if (col) {
      bodies['collapse']!.push(col.html);
      if (col.glance) glance['collapse']!.push(col.glance);
    }
    if (f.cka) {
      const b = renderCka(f.cka, f.name);
      bodies['cka']!.push(b.html);
      if (b.glance) glance['cka']!.push(b.glance);
    }
    if (f.metrics) {
      const members =
        f.group !== undefined ? data.folders.filter((g) => g.group === f.group && g.metrics !== undefined) : [];
      if (members.length > 1) {
        if (members[0] === f) bodies['curves']!.push(renderGroupCurves(members, f.group!));
      } else {
        bodies['curves']!.push(renderCurves(f.metrics, name));
      }
    }
    if (f.config) bodies['config']!.push(renderConfig(f, name));
  }
  const warnings = data.folders.flatMap((f) => f.problems);
  const sections = SECTION_ORDER.filter((s) => bodies[s]!.length > 0);
  const missing = SECTION_ORDER.filter((s) => bodies[s]!.length === 0);
  const runs = data.folders.filter((f) => f.metrics !== undefined || f.config !== undefined);
  const listed = new Set<string>();
  const runList = runs
    .map((f) => {
      const members = f.group !== undefined ? runs.filter((g) => g.group === f.group) : [];
      if (members.length > 1) {
        if (listed.has(f.group!)) return '';
        listed.add(f.group!);
        return `<li><b>${h(f.group!)}/</b>: ${h(groupFacts(members))}</li>`;
      }
      return `<li><b>${h(displayName(f, data))}</b>: ${h(runFacts(f))}</li>`;
    })
    .join('');
  const glanceItems = SECTION_ORDER.flatMap((s) => glance[s]!);
  const summary =
    `<section id="summary"><h2>At a glance</h2>` +
    (glanceItems.length ? `<ul>${glanceItems.join('')}</ul>` : '<p class="small">Nothing to summarise yet.</p>') +
    (missing.length
      ? `<p class="small">Not available in this folder: ${missing.map((s) => h(SHORT_NAMES[s]!)).join(', ')}.</p>`
      : '') +
    (warnings.length
      ? `<p><b>Problems while reading</b> (shown instead of failing):</p>${problemList(warnings)}`
      : '') +
    '</section>';
  const nav = `<nav>${['summary', ...SECTION_ORDER].map((s) => `<a href="#${s}"${s !== 'summary' && missing.includes(s) ? ' class="off"' : ''}>${h(s === 'summary' ? 'At a glance' : SECTION_TITLES[s]!)}</a>`).join('')}</nav>`;
  const secHtml = SECTION_ORDER.map(
    (s) =>
      `<section id="${s}"><h2>${h(SECTION_TITLES[s]!)}</h2>${bodies[s]!.length ? bodies[s]!.join('') : na(MISSING_REASON[s]!)}</section>`,
  ).join('');
  const html =
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">' +
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">` +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<title>${h(data.title)}</title><style>${CSS}</style></head><body><main>` +
    `<header><h1>${h(data.title)}</h1><p class="meta">${h(data.root)} \u00b7 generated ${h(data.generatedAt.toISOString().replace('T', ' ').slice(0, 19))} UTC by inkwell report</p>` +
    (runList ? `<p class="meta">${multi ? 'Runs' : 'Run'}:</p><ul class="meta">${runList}</ul>` : '') +
    `</header>` +
    nav +
    summary +
    secHtml +
    '</main></body></html>\n';
  return { html, sections, missing, warnings };
}

/** The report page for already collected data (see collectReport). */
export function renderReport(data: ReportData): string {
  return compose(data).html;
}
