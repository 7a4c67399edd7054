/**
 * The report's sections other than the study tables: predictions beside labels and IR, the collapse monitor,
 * CKA, training curves (single runs and overlaid groups) and configs, each as HTML with an optional
 * "at a glance" line.
 */
import { basename } from 'node:path';
import {
  escapeXml,
  extent,
  formatNumber,
  lineChart,
  PALETTE,
  type LineSeries,
  type Point,
  type RefLine,
} from './charts.js';
import { collapseSummary, collapseThreshold, offDiagonal } from './summarise.js';
import type {
  CkaData,
  FolderData,
  InlineImage,
  MetricSeries,
  MetricsData,
  PredictionMap,
  PredictionsData,
  ReportData,
} from './types.js';

export interface Block {
  html: string;
  glance?: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export const h = escapeXml;
const pct = (v: number): string => `${(100 * v).toFixed(0)}%`;

export function slug(s: string): string {
  const t = s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
  return t || 'root';
}

export function displayName(f: FolderData, data: ReportData): string {
  return f.name === '.' ? basename(data.root) : f.name;
}

/** A centred moving average over `window` points (NaN-aware). */
function movingAverage(points: readonly Point[], window: number): Point[] {
  const half = Math.floor(window / 2);
  const out: Point[] = [];
  let sum = 0;
  let cnt = 0;
  let lo = 0;
  let hi = -1;
  for (let i = 0; i < points.length; i++) {
    while (hi < Math.min(points.length - 1, i + half)) {
      hi++;
      const y = points[hi]![1];
      if (Number.isFinite(y)) {
        sum += y;
        cnt++;
      }
    }
    while (lo < i - half) {
      const y = points[lo]![1];
      if (Number.isFinite(y)) {
        sum -= y;
        cnt--;
      }
      lo++;
    }
    out.push([points[i]![0], cnt > 0 ? sum / cnt : Number.NaN]);
  }
  return out;
}

function pointsOf(k: MetricSeries, field: string): Point[] {
  const v = k.values[field] ?? [];
  return k.steps.map((x, i) => [x, v[i] ?? Number.NaN] as const);
}

function autoLog(points: readonly Point[]): boolean {
  const ys = points.map((p) => p[1]).filter(Number.isFinite);
  if (ys.length < 2 || ys.some((y) => y <= 0)) return false;
  const [lo, hi] = extent(ys);
  return hi / lo > 1e3;
}

const SMOOTH_ABOVE = 60;

function seriesFor(k: MetricSeries, field: string): { series: LineSeries[]; window: number } {
  const pts = pointsOf(k, field);
  const color = PALETTE[0];
  if (k.perEpoch || pts.length <= SMOOTH_ABOVE) return { series: [{ points: pts, color }], window: 0 };
  const window = Math.max(5, Math.round(pts.length / 40));
  return {
    series: [
      { points: pts, color, opacity: 0.25, strokeWidth: 1, dots: false },
      { points: movingAverage(pts, window), color, strokeWidth: 1.8, dots: false },
    ],
    window,
  };
}

export function figure(svg: string, caption?: string): string {
  return `<figure class="chart-box">${svg}${caption !== undefined ? `<figcaption>${caption}</figcaption>` : ''}</figure>`;
}

export function na(what: string): string {
  return `<p class="na">Not available: ${what}</p>`;
}

export function problemList(problems: readonly string[]): string {
  if (!problems.length) return '';
  return `<ul class="problems">${problems.map((p) => `<li>${h(p)}</li>`).join('')}</ul>`;
}

function durationText(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  if (seconds < 120) return `${seconds.toFixed(0)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function timeSpan(runs: readonly FolderData[]): string {
  const times = runs.flatMap((f) => (f.metrics?.kinds ?? []).flatMap((k) => k.times)).filter(Number.isFinite);
  if (times.length < 2) return '';
  const [first, last] = extent(times);
  const span = last - first;
  return span >= 1 ? `; ${durationText(span)} from first to last record` : '';
}

export function runFacts(f: FolderData): string {
  const m = f.metrics;
  if (!m) return 'no metrics.jsonl';
  const kinds = m.kinds.map((k) => `${k.kind} (${k.steps.length})`).join(', ');
  return `${m.lines} records: ${kinds || 'none'}${timeSpan([f])}`;
}

/** One line for the runs of a group: how many per encoder, and the kinds they log. */
export function groupFacts(runs: readonly FolderData[]): string {
  const labels = [...new Set(runs.map((r) => runLabel(r.name)))];
  const per = labels.map((l) => `${l} \u00d7${runs.filter((r) => runLabel(r.name) === l).length}`).join(', ');
  const kinds = [...new Set(runs.flatMap((r) => (r.metrics?.kinds ?? []).map((k) => canonicalKind(k.kind, r))))];
  const records = runs.reduce((n, r) => n + (r.metrics?.lines ?? 0), 0);
  return `${runs.length} runs (${per}); ${records} records: ${kinds.join(', ') || 'none'}${timeSpan(runs)}`;
}

const CONFIG_KEYS: readonly string[][] = [
  ['name'],
  ['encoder'],
  ['method', 'name'],
  ['model', 'arch'],
  ['train', 'epochs'],
  ['train', 'batchSize'],
  ['optim', 'name'],
  ['optim', 'lr'],
  ['seed'],
];

function configSummary(parsed: unknown): string {
  const items: string[] = [];
  for (const path of CONFIG_KEYS) {
    let cur: unknown = parsed;
    for (const p of path) cur = isObject(cur) ? cur[p] : undefined;
    if (typeof cur === 'string' || typeof cur === 'number' || typeof cur === 'boolean')
      items.push(`<span class="kv"><b>${h(path.join('.'))}</b> ${h(String(cur))}</span>`);
  }
  return items.join(' ');
}

function imgTag(img: InlineImage, alt: string): string {
  return `<img src="${img.src}" alt="${h(alt)}" width="${img.width}" height="${img.height}" loading="eager">`;
}

function sizeNote(img: InlineImage): string {
  const shown = img.width !== img.originalWidth ? `, shown at ${img.width}\u00d7${img.height}` : '';
  return `${img.originalWidth}\u00d7${img.originalHeight}${shown}`;
}

/** Prediction groups in the order the comparison tables list their encoders, then by name. */
function orderedProbs(probs: readonly PredictionMap[], encoders: readonly string[]): PredictionMap[] {
  const rank = (g: string): number => {
    const i = encoders.indexOf(g);
    return i < 0 ? encoders.length : i;
  };
  return [...probs].sort((a, b) => rank(a.group) - rank(b.group) || a.group.localeCompare(b.group));
}

export function renderPredictions(p: PredictionsData, folder: string, encoders: readonly string[]): Block {
  const frags = p.fragments.map((fr) => {
    const cells: string[] = [];
    const cell = (img: InlineImage | undefined, title: string, extra = ''): void => {
      if (!img) return;
      cells.push(
        `<figure class="pred">${imgTag(img, `${fr.id} ${title}`)}<figcaption><b>${h(title)}</b>${extra} <span class="small">${h(sizeNote(img))}</span></figcaption></figure>`,
      );
    };
    cell(fr.ir, 'IR image');
    cell(fr.labels, 'ink labels');
    for (const m of orderedProbs(fr.probs, encoders)) {
      const s = m.score;
      const score = s
        ? ` <span class="score">F0.5 ${h(formatNumber(s.f05 ?? Number.NaN, 3))}${s.auc !== undefined ? `, AUC ${h(formatNumber(s.auc, 3))}` : ''}</span>`
        : '';
      cell(m.image, m.group ? `prediction: ${m.group}` : 'prediction', score);
    }
    cell(fr.mask, 'mask');
    const missing = [!fr.ir && 'IR image', !fr.labels && 'labels', fr.probs.length === 0 && 'probability map'].filter(
      (x): x is string => typeof x === 'string',
    );
    return `<div class="fragment"><h4>${h(fr.id)}</h4>${missing.length ? `<p class="na small">Not available for this fragment: ${h(missing.join(', '))}</p>` : ''}<div class="preds" style="--cols:${Math.min(6, Math.max(3, cells.length))}">${cells.join('')}</div></div>`;
  });
  const where = `<p class="small">From ${h(folder === '.' ? 'predictions/' : `${folder}/predictions/`)}${p.groups.filter(Boolean).length ? ` (${h(p.groups.filter(Boolean).join(', '))})` : ''}. Probability maps: white = ink.${p.ignored.length ? ` Ignored files: ${h(p.ignored.join(', '))}.` : ''}</p>`;
  const glance = `<li><b>Predictions</b>${folder === '.' ? '' : ` (${h(folder)})`}: ${p.fragments.length} fragment${p.fragments.length === 1 ? '' : 's'}: ${h(p.fragments.map((f) => f.id).join(', '))}.</li>`;
  return { html: `<div class="block">${where}${frags.join('')}</div>`, glance };
}

export function renderCollapse(f: FolderData, name: string): Block | null {
  const threshold = collapseThreshold(f);
  const kinds = (f.metrics?.kinds ?? []).filter((k) => k.values['embedding_std'] !== undefined);
  if (!kinds.length) return null;
  const ordered = [...kinds].sort((a, b) => Number(b.perEpoch) - Number(a.perEpoch));
  const rows: string[] = [];
  let glance = '';
  let verdict = '';
  for (const k of ordered) {
    const s = collapseSummary(k, threshold);
    if (!s) continue;
    const x = k.perEpoch ? 'epoch' : 'step';
    const stdRefs: RefLine[] = [];
    if (s.expected !== undefined) {
      stdRefs.push({
        y: s.expected,
        label: `healthy 1/\u221aD = ${formatNumber(s.expected, 3)} (D=${s.dim})`,
        color: '#2ca02c',
      });
      stdRefs.push({ y: threshold * s.expected, label: `warning ${threshold}/\u221aD`, color: '#d62728' });
    }
    const charts: string[] = [];
    const stdS = seriesFor(k, 'embedding_std');
    charts.push(
      figure(
        lineChart(stdS.series, {
          title: 'embedding_std',
          xLabel: x,
          integerX: true,
          refLines: stdRefs,
          description: `embedding_std per ${x} (${k.kind})`,
        }),
      ),
    );
    if (k.values['embedding_std_ratio']) {
      const rS = seriesFor(k, 'embedding_std_ratio');
      charts.push(
        figure(
          lineChart(rS.series, {
            title: 'ratio to healthy (std \u00d7 \u221aD)',
            xLabel: x,
            integerX: true,
            description: `embedding_std_ratio per ${x} (${k.kind})`,
            refLines: [
              { y: 1, label: 'healthy 1.0', color: '#2ca02c' },
              { y: threshold, label: `warning ${threshold}`, color: '#d62728' },
            ],
          }),
        ),
      );
    }
    rows.push(
      `<h4>${h(k.kind)} <span class="small">per ${x}.${stdS.window ? ` Faint: every step; line: moving average over ${stdS.window} steps.` : ''}</span></h4><div class="charts">${charts.join('')}</div>`,
    );
    if (!verdict) {
      const where = `${s.perEpoch ? 'epoch' : 'step'} ${formatNumber(s.minRatioAt)}`;
      if (!Number.isFinite(s.lastRatio)) {
        verdict = `Last embedding_std ${formatNumber(s.lastStd)} (${k.kind}); no embedding_std_ratio logged, so it cannot be compared with the healthy 1/\u221aD.`;
      } else if (s.below > 0) {
        verdict = `WARNING: the embeddings' spread fell below the warning ratio ${threshold} in ${s.below} of ${s.records} ${k.kind} records (lowest ${pct(s.minRatio)} of healthy at ${where}); it ended at ${pct(s.lastRatio)}.`;
      } else {
        verdict = `No collapse: the spread of the normalised embeddings ended at ${pct(s.lastRatio)} of the healthy 1/\u221aD${s.dim !== undefined ? ` (D=${s.dim})` : ''} and never fell below the ${threshold} warning ratio (lowest ${pct(s.minRatio)}, at ${where}; ${k.kind}).`;
      }
      glance = `<li${s.below > 0 ? ' class="warn"' : ''}><b>Collapse monitor</b> (${h(name)}): ${h(verdict)}</li>`;
    }
  }
  const html =
    `<div class="block" id="collapse-${slug(name)}"><h3>${h(name)}</h3><p class="verdict ${verdict.startsWith('WARNING') ? 'no' : 'yes'}">${h(verdict)}</p>${rows.join('')}` +
    '<p class="small">embedding_std: the mean over dimensions of the batch std of L2-normalised embeddings (SimSiam, Chen &amp; He 2021); it stays near 1/\u221aD for embeddings spread over the sphere and goes to 0 when they collapse to one vector.</p></div>';
  return { html, glance };
}

function matrixTable(m: number[][], labels: readonly string[], caption: string): string {
  const head = `<tr><th></th>${labels.map((l) => `<th>${h(l)}</th>`).join('')}</tr>`;
  const rows = m
    .map(
      (row, i) =>
        `<tr><th>${h(labels[i] ?? '')}</th>${row.map((v, j) => `<td class="num${i === j ? ' diag' : ''}">${Number.isFinite(v) ? v.toFixed(3) : 'nan'}</td>`).join('')}</tr>`,
    )
    .join('');
  return `<table class="matrix"><caption>${h(caption)}</caption><thead>${head}</thead><tbody>${rows}</tbody></table>`;
}

export function renderCka(c: CkaData, folder: string): Block {
  const images = [
    c.linearPng && imgTag(c.linearPng, 'linear CKA heatmap'),
    c.rbfPng && imgTag(c.rbfPng, 'RBF CKA heatmap'),
  ].filter((x): x is string => typeof x === 'string');
  const tables: string[] = [];
  const facts: string[] = [];
  const tag = c.debiased ? ' (debiased)' : '';
  for (const [name, m] of [
    ['Linear CKA', c.linear],
    [`RBF CKA${c.rbfThreshold !== undefined ? ` (threshold ${c.rbfThreshold})` : ''}`, c.rbf],
  ] as const) {
    if (!m) continue;
    tables.push(matrixTable(m, c.labels, `${name}${tag}`));
    const o = offDiagonal(m);
    if (o)
      facts.push(
        `${name.split(' (')[0]} between different checkpoints: ${o.min.toFixed(2)}\u2013${o.max.toFixed(2)} (mean ${o.mean.toFixed(2)}${Number.isFinite(o.neighbours) ? `; neighbours ${o.neighbours.toFixed(2)}` : ''})`,
      );
  }
  const where = folder === '.' ? 'cka/' : `${folder}/cka/`;
  const notes: string[] = [];
  if (!c.linear && !c.rbf) notes.push(na(`the CKA numbers (${h(where)}cka.json missing or unreadable)`));
  if (!images.length) notes.push(na(`the heatmap images (${h(where)}cka_linear.png, cka_rbf.png)`));
  const factText = facts.join('. ');
  const html =
    `<div class="block"><p class="small">From ${h(where)}. ${c.labels.length ? `Checkpoints: ${h(c.labels.join(', '))}.` : ''}</p>` +
    (factText ? `<p>${h(factText)}.</p>` : '') +
    '<p class="small">CKA is 1 for the same representation up to rotation and scale; lower values mean the representation changed more between two checkpoints. The reference study saw 0.06\u20130.35 off the diagonal and read it as "the representations keep changing".</p>' +
    notes.join('') +
    (images.length ? `<div class="heatmaps">${images.map((i) => `<figure>${i}</figure>`).join('')}</div>` : '') +
    (tables.length ? `<div class="matrices">${tables.join('')}</div>` : '') +
    '</div>';
  return {
    html,
    glance: factText ? `<li><b>CKA</b>${folder === '.' ? '' : ` (${h(folder)})`}: ${h(factText)}.</li>` : '',
  };
}

export function renderCurves(m: MetricsData, name: string): string {
  const blocks = m.kinds.map((k) => {
    const x = k.perEpoch ? 'epoch' : 'step';
    let window = 0;
    const charts = k.fields.map((field) => {
      const s = seriesFor(k, field);
      window = Math.max(window, s.window);
      const log = autoLog(s.series[0]!.points);
      return figure(
        lineChart(s.series, {
          title: field,
          xLabel: x,
          integerX: true,
          ...(log ? { yScale: 'log' as const } : {}),
          description: `${field} per ${x} (${k.kind})`,
        }),
      );
    });
    const note = window ? ` Faint: every step; line: moving average over ${window} steps.` : '';
    return (
      `<h4>${h(k.kind)} <span class="small">${k.steps.length} record${k.steps.length === 1 ? '' : 's'}, per ${x}.${note}</span></h4>` +
      (charts.length ? `<div class="charts">${charts.join('')}</div>` : '<p class="small">No numeric fields.</p>')
    );
  });
  return `<div class="block" id="curves-${slug(name)}"><h3>${h(name)}</h3>${blocks.join('') || na('metrics.jsonl holds no records')}</div>`;
}

/** The encoder label of a run folder: its name without a trailing seed (`-seed3`, `_seed3`, `-s3`). */
export function runLabel(name: string): string {
  const base = name.split('/').at(-1) ?? name;
  return base.replace(/[-_](seed|s)\d+$/i, '') || base;
}

/** A kind named after its run (the supervised trainer logs under the run's name) reads as 'train'. */
function canonicalKind(kind: string, run: FolderData): string {
  const base = run.name.split('/').at(-1) ?? run.name;
  if (kind === base) return 'train';
  if (kind === `${base}_epoch`) return 'train_epoch';
  return kind;
}

/** Curves of the runs of one group overlaid: one small multiple per kind and field, one line per run. */
export function renderGroupCurves(runs: readonly FolderData[], group: string): string {
  const labels = [...new Set(runs.map((r) => runLabel(r.name)))];
  const kinds: { key: string; perEpoch: boolean; fields: string[] }[] = [];
  for (const r of runs)
    for (const k of r.metrics?.kinds ?? []) {
      const key = canonicalKind(k.kind, r);
      let entry = kinds.find((e) => e.key === key);
      if (!entry) {
        entry = { key, perEpoch: k.perEpoch, fields: [] };
        kinds.push(entry);
      }
      for (const f of k.fields) if (!entry.fields.includes(f)) entry.fields.push(f);
    }
  let smoothed = 0;
  const blocks = kinds.map((k) => {
    const x = k.perEpoch ? 'epoch' : 'step';
    const charts = k.fields.map((field) => {
      const series: LineSeries[] = [];
      for (const r of runs) {
        const mk = r.metrics?.kinds.find((m) => canonicalKind(m.kind, r) === k.key);
        if (!mk?.values[field]) continue;
        let pts = pointsOf(mk, field);
        if (!mk.perEpoch && pts.length > SMOOTH_ABOVE) {
          const w = Math.max(5, Math.round(pts.length / 40));
          smoothed = Math.max(smoothed, w);
          pts = movingAverage(pts, w);
        }
        const label = runLabel(r.name);
        series.push({
          name: label,
          points: pts,
          color: PALETTE[labels.indexOf(label) % PALETTE.length]!,
          opacity: 0.85,
          strokeWidth: 1.4,
          dots: mk.perEpoch && pts.length <= 40,
        });
      }
      const log = autoLog(series.flatMap((s) => s.points));
      return figure(
        lineChart(series, {
          title: field,
          xLabel: x,
          integerX: true,
          ...(log ? { yScale: 'log' as const } : {}),
          description: `${field} per ${x} (${k.key}), ${series.length} runs`,
        }),
      );
    });
    return `<h4>${h(k.key)} <span class="small">per ${x}</span></h4><div class="charts">${charts.join('')}</div>`;
  });
  const counts = labels.map(
    (l) =>
      `${l} (${runs.filter((r) => runLabel(r.name) === l).length} run${runs.filter((r) => runLabel(r.name) === l).length === 1 ? '' : 's'})`,
  );
  return `<div class="block" id="curves-${slug(group)}"><h3>${h(group)}/ <span class="small">${runs.length} runs overlaid, one line per run, coloured by encoder: ${h(counts.join(', '))}.${smoothed ? ` Per-step curves are moving averages over up to ${smoothed} steps.` : ''}</span></h3>${blocks.join('') || na('metrics.jsonl holds no records')}</div>`;
}

export function renderConfig(f: FolderData, name: string): string {
  const c = f.config!;
  const lines = c.text.split('\n').length;
  return (
    `<div class="block" id="config-${slug(name)}"><h3>${h(name)}</h3><p>${configSummary(c.parsed)}</p>` +
    `<details><summary>config.yaml (${lines} lines)</summary><pre>${h(c.text)}</pre></details></div>`
  );
}
