/**
 * Inline SVG charts for the HTML report: line charts (axes with "nice" ticks, labels, reference lines, a legend,
 * optional log y) and interval charts (one row per group: each seed as a dot, the mean with its interval's bar).
 * Every string that reaches the SVG is XML-escaped; the SVG scales with its container through its viewBox.
 */

export type Point = readonly [number, number];

export interface LineSeries {
  /** Legend entry (series without a name are left out of the legend). */
  name?: string;
  points: readonly Point[];
  color?: string;
  /** Stroke opacity in (0, 1] (default 1). */
  opacity?: number;
  /** Stroke width in px (default 1.6). */
  strokeWidth?: number;
  /** Mark every point with a dot (default: when the series has at most 40 points). */
  dots?: boolean;
}

export interface RefLine {
  y: number;
  label: string;
  color?: string;
  /** Dashed (default true). */
  dashed?: boolean;
}

export interface LineChartOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Outer size in px (default 360 x 220). */
  width?: number;
  height?: number;
  /** 'log' needs positive values; non-positive ones are dropped (default 'linear'). */
  yScale?: 'linear' | 'log';
  /** Horizontal reference lines, kept inside the y range. */
  refLines?: readonly RefLine[];
  /** x ticks at whole numbers only (epochs, steps). */
  integerX?: boolean;
  /** Text for screen readers (default: the title). */
  description?: string;
}

export const PALETTE = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
] as const;

export function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&#39;', '"': '&quot;' })[c]!);
}

/** [min, max] of the values without spreading them into arguments (safe for millions of values); [Inf, -Inf] when empty. */
export function extent(values: Iterable<number>): [number, number] {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** A 1, 2 or 5 times a power of ten close to span / count. */
export function niceStep(span: number, count: number): number {
  if (!(span > 0) || !Number.isFinite(span)) return 1;
  const raw = span / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const r = raw / mag;
  return (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
}

/** Ticks covering [min, max] at a nice step, and the range widened to whole steps (`lo`, `hi`). */
export function niceTicks(
  min: number,
  max: number,
  count = 5,
): { ticks: number[]; lo: number; hi: number; step: number } {
  if (!Number.isFinite(min) || !Number.isFinite(max) || min > max) {
    throw new Error(`niceTicks: range [${min}, ${max}] is invalid, expected finite min <= max`);
  }
  let a = min;
  let b = max;
  if (a === b) {
    const pad = a === 0 ? 1 : Math.abs(a) * 0.5;
    a -= pad;
    b += pad;
  }
  const step = niceStep(b - a, count);
  const lo = Math.floor(a / step + 1e-9) * step;
  const hi = Math.ceil(b / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let k = Math.round(lo / step); k <= Math.round(hi / step); k++) ticks.push(clean(k * step));
  return { ticks, lo: clean(lo), hi: clean(hi), step };
}

/** Removes binary noise such as 0.30000000000000004. */
function clean(v: number): number {
  return Number.parseFloat(v.toPrecision(12));
}

/**
 * A tick label: as many decimals as `step` needs, or exponent form when the axis' largest magnitude `scale`
 * (default |v|) is at least 1e5 or below 1e-3, so that one axis uses one notation.
 */
export function formatTick(v: number, step: number, scale = Math.abs(v)): string {
  if (v === 0) return '0';
  if (scale >= 1e5 || scale < 1e-3) {
    const s = v.toExponential(2);
    return s.replace(/\.?0+e/, 'e').replace('e+', 'e');
  }
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  return v.toFixed(decimals);
}

const axisScale = (ticks: readonly number[]): number => Math.max(...ticks.map(Math.abs));

/** A compact, readable number for captions and tables (4 significant digits, exponent form when tiny or huge). */
export function formatNumber(v: number | null | undefined, digits = 4): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '-';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(digits - 2).replace('e+', 'e');
  return Number.parseFloat(v.toPrecision(digits)).toString();
}

/**
 * Keeps at most about 4 points per pixel column: in each of `buckets` x ranges the first, lowest, highest and
 * last point, in their original order, so that spikes survive the thinning.
 */
export function thinPoints(points: readonly Point[], buckets: number): Point[] {
  if (points.length <= buckets * 4) return [...points];
  const x0 = points[0]![0];
  const x1 = points[points.length - 1]![0];
  const width = (x1 - x0) / buckets || 1;
  const out: Point[] = [];
  let start = 0;
  while (start < points.length) {
    const b = Math.min(buckets - 1, Math.floor((points[start]![0] - x0) / width));
    let end = start;
    let lo = start;
    let hi = start;
    while (end + 1 < points.length && Math.min(buckets - 1, Math.floor((points[end + 1]![0] - x0) / width)) === b) {
      end++;
      if (points[end]![1] < points[lo]![1]) lo = end;
      if (points[end]![1] > points[hi]![1]) hi = end;
    }
    for (const i of [...new Set([start, lo, hi, end])].sort((p, q) => p - q)) out.push(points[i]!);
    start = end + 1;
  }
  return out;
}

interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

function svgOpen(f: Frame, label: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="${escapeXml(label)}" viewBox="0 0 ${f.width} ${f.height}" width="${f.width}" height="${f.height}" font-family="system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', sans-serif" font-size="11">` +
    `<title>${escapeXml(label)}</title>`
  );
}

const r1 = (v: number): string => (Math.round(v * 10) / 10).toString();

/** Splits a series at non-finite values (drawn as gaps); drops non-positive y on a log scale. */
function segments(points: readonly Point[], log: boolean): Point[][] {
  const out: Point[][] = [];
  let cur: Point[] = [];
  for (const p of points) {
    const ok = Number.isFinite(p[0]) && Number.isFinite(p[1]) && (!log || p[1] > 0);
    if (ok) cur.push(p);
    else if (cur.length) {
      out.push(cur);
      cur = [];
    }
  }
  if (cur.length) out.push(cur);
  return out;
}

/** Log-scale ticks: powers of ten, with 2x and 5x when the range spans less than three decades. */
function logTicks(min: number, max: number): { ticks: number[]; lo: number; hi: number } {
  const e0 = Math.floor(Math.log10(min) + 1e-9);
  const e1 = Math.ceil(Math.log10(max) - 1e-9);
  const lo = 10 ** e0;
  const hi = 10 ** Math.max(e1, e0 + 1);
  const ticks: number[] = [];
  const mult = e1 - e0 < 3 ? [1, 2, 5] : [1];
  for (let e = e0; e <= Math.max(e1, e0 + 1); e++)
    for (const m of mult) {
      const v = clean(m * 10 ** e);
      if (v >= lo && v <= hi) ticks.push(v);
    }
  return { ticks, lo, hi };
}

/**
 * A line chart as an SVG string: one path per series (gaps at non-finite values), axes with nice ticks, axis
 * labels, dashed reference lines with their labels, and a legend when two or more series are named. A chart
 * without any finite point shows "no data" instead of failing.
 */
export function lineChart(series: readonly LineSeries[], opts: LineChartOptions = {}): string {
  const log = opts.yScale === 'log';
  // One legend entry per distinct name (runs of the same group share a name and a colour).
  const named = series.filter(
    (s, i) => s.name !== undefined && s.name !== '' && series.findIndex((t) => t.name === s.name) === i,
  );
  const legendRows = named.length >= 2 ? Math.ceil(named.length / 3) : 0;
  const f: Frame = {
    width: opts.width ?? 360,
    height: opts.height ?? 220,
    left: 58,
    right: 14,
    top: (opts.title !== undefined ? 24 : 10) + legendRows * 14,
    bottom: opts.xLabel !== undefined ? 40 : 26,
  };
  const label = opts.description ?? opts.title ?? 'chart';
  const parts: string[] = [svgOpen(f, label)];
  if (opts.title !== undefined) {
    parts.push(
      `<text x="${f.left}" y="15" font-size="13" font-weight="600" fill="#222">${escapeXml(opts.title)}${log ? '<tspan font-weight="400" fill="#777"> (log scale)</tspan>' : ''}</text>`,
    );
  }
  const pw = f.width - f.left - f.right;
  const ph = f.height - f.top - f.bottom;
  const segs = series.map((s) => segments(s.points, log));
  const all = segs.flat(2);
  if (all.length === 0) {
    parts.push(`<rect x="${f.left}" y="${f.top}" width="${pw}" height="${ph}" fill="#fafafa" stroke="#ddd"/>`);
    parts.push(
      `<text x="${f.left + pw / 2}" y="${f.top + ph / 2}" text-anchor="middle" fill="#888">no data</text></svg>`,
    );
    return parts.join('');
  }
  let [xMin, xMax] = extent(all.map((p) => p[0]));
  const refs = (opts.refLines ?? []).filter((r) => Number.isFinite(r.y) && (!log || r.y > 0));
  const ys = [...all.map((p) => p[1]), ...refs.map((r) => r.y)];
  let [yMin, yMax] = extent(ys);
  if (xMin === xMax) {
    xMin -= 1;
    xMax += 1;
  }
  let yTicks: number[];
  let yStep = 1;
  if (log) {
    const t = logTicks(yMin, yMax);
    yTicks = t.ticks;
    yMin = t.lo;
    yMax = t.hi;
  } else {
    const t = niceTicks(yMin, yMax, Math.max(3, Math.round(ph / 40)));
    yTicks = t.ticks;
    yStep = t.step;
    yMin = t.lo;
    yMax = t.hi;
  }
  const xStepRaw = niceStep(xMax - xMin, Math.max(3, Math.round(pw / 70)));
  const xStep = opts.integerX ? Math.max(1, Math.round(xStepRaw)) : xStepRaw;
  const xTicks: number[] = [];
  for (let k = Math.ceil(xMin / xStep - 1e-9); k * xStep <= xMax + 1e-9 * Math.abs(xMax || 1); k++)
    xTicks.push(clean(k * xStep));
  const sx = (x: number): number => f.left + ((x - xMin) / (xMax - xMin)) * pw;
  const sy = log
    ? (y: number): number =>
        f.top + ph - ((Math.log10(y) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * ph
    : (y: number): number => f.top + ph - ((y - yMin) / (yMax - yMin)) * ph;

  parts.push(`<rect x="${f.left}" y="${f.top}" width="${pw}" height="${ph}" fill="#fff" stroke="#ccc"/>`);
  for (const t of yTicks) {
    const y = r1(sy(t));
    parts.push(`<line x1="${f.left}" x2="${f.left + pw}" y1="${y}" y2="${y}" stroke="#eee"/>`);
    parts.push(
      `<text x="${f.left - 5}" y="${y}" text-anchor="end" dominant-baseline="middle" fill="#555">${escapeXml(log ? formatTick(t, t) : formatTick(t, yStep, axisScale(yTicks)))}</text>`,
    );
  }
  for (const t of xTicks) {
    const x = r1(sx(t));
    parts.push(`<line x1="${x}" x2="${x}" y1="${f.top + ph}" y2="${f.top + ph + 4}" stroke="#999"/>`);
    parts.push(
      `<text x="${x}" y="${f.top + ph + 15}" text-anchor="middle" fill="#555">${escapeXml(formatTick(t, xStep, axisScale(xTicks)))}</text>`,
    );
  }
  if (opts.xLabel !== undefined) {
    parts.push(
      `<text x="${f.left + pw / 2}" y="${f.height - 6}" text-anchor="middle" fill="#333">${escapeXml(opts.xLabel)}</text>`,
    );
  }
  if (opts.yLabel !== undefined) {
    parts.push(
      `<text transform="translate(12 ${f.top + ph / 2}) rotate(-90)" text-anchor="middle" fill="#333">${escapeXml(opts.yLabel)}</text>`,
    );
  }
  for (const r of refs) {
    const y = r1(sy(r.y));
    const c = r.color ?? '#d62728';
    parts.push(
      `<line x1="${f.left}" x2="${f.left + pw}" y1="${y}" y2="${y}" stroke="${escapeXml(c)}" stroke-width="1.2"${r.dashed === false ? '' : ' stroke-dasharray="5 4"'}/>`,
    );
    // The label sits above its line, or below it when the line runs along the top of the plot.
    const ty = Number(y) - f.top < 14 ? Number(y) + 11 : Number(y) - 3;
    parts.push(
      `<text x="${f.left + pw - 4}" y="${ty}" text-anchor="end" fill="${escapeXml(c)}" font-size="10">${escapeXml(r.label)}</text>`,
    );
  }
  series.forEach((s, i) => {
    const colour = escapeXml(s.color ?? PALETTE[i % PALETTE.length]!);
    const opacity = s.opacity ?? 1;
    for (const seg of segs[i]!) {
      const thin = thinPoints(seg, Math.max(1, Math.round(pw)));
      const d = thin.map((p, k) => `${k === 0 ? 'M' : 'L'}${r1(sx(p[0]))} ${r1(sy(p[1]))}`).join('');
      if (thin.length > 1) {
        parts.push(
          `<path d="${d}" fill="none" stroke="${colour}" stroke-width="${s.strokeWidth ?? 1.6}" stroke-opacity="${opacity}" stroke-linejoin="round"/>`,
        );
      }
    }
    const count = segs[i]!.reduce((n, seg) => n + seg.length, 0);
    if (s.dots ?? count <= 40) {
      for (const seg of segs[i]!)
        for (const p of seg) {
          parts.push(
            `<circle cx="${r1(sx(p[0]))}" cy="${r1(sy(p[1]))}" r="2.4" fill="${colour}" fill-opacity="${opacity}"/>`,
          );
        }
    }
  });
  if (legendRows > 0) {
    const colW = Math.floor(pw / 3);
    named.forEach((s, k) => {
      const x = f.left + (k % 3) * colW;
      const y = (opts.title !== undefined ? 24 : 10) + Math.floor(k / 3) * 14 + 2;
      const colour = escapeXml(s.color ?? PALETTE[series.indexOf(s) % PALETTE.length]!);
      parts.push(`<line x1="${x}" x2="${x + 14}" y1="${y}" y2="${y}" stroke="${colour}" stroke-width="2.5"/>`);
      parts.push(
        `<text x="${x + 18}" y="${y}" dominant-baseline="middle" fill="#333">${escapeXml(truncate(s.name!, Math.floor((colW - 22) / 6)))}</text>`,
      );
    });
  }
  parts.push('</svg>');
  return parts.join('');
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, Math.max(1, n - 1))}\u2026`;
}

export interface IntervalRow {
  label: string;
  /** One value per seed (non-finite values are skipped). */
  values: readonly number[];
  mean: number;
  /** The interval drawn as a bar with caps (e.g. a 95% bootstrap interval); none when absent or not finite. */
  low?: number;
  high?: number;
  highlight?: boolean;
}

export interface IntervalChartOptions {
  title?: string;
  xLabel?: string;
  width?: number;
  description?: string;
  /** A dashed vertical reference line (e.g. chance at AUC 0.5). */
  ref?: { x: number; label: string };
}

/**
 * One row per group: every seed's value as a hollow dot, the mean as a filled dot and its interval as a bar
 * with caps. Highlighted rows are drawn in colour and bold, the others in grey.
 */
export function intervalChart(rows: readonly IntervalRow[], opts: IntervalChartOptions = {}): string {
  const rowH = 26;
  const longest = Math.max(4, ...rows.map((r) => r.label.length));
  // About 7.4 px per character of 11 px DejaVu Sans Bold (the widest labels are bold).
  const left = Math.min(210, 14 + longest * 7.4);
  const maxChars = Math.round((left - 14) / 7.4);
  const f: Frame = {
    width: opts.width ?? 420,
    height: 0,
    left,
    right: 16,
    top: opts.title !== undefined ? 26 : 8,
    bottom: opts.xLabel !== undefined ? 40 : 26,
  };
  f.height = f.top + Math.max(1, rows.length) * rowH + f.bottom;
  const label = opts.description ?? opts.title ?? 'interval chart';
  const parts: string[] = [svgOpen(f, label)];
  if (opts.title !== undefined)
    parts.push(`<text x="8" y="16" font-size="13" font-weight="600" fill="#222">${escapeXml(opts.title)}</text>`);
  const pw = f.width - f.left - f.right;
  const ph = f.height - f.top - f.bottom;
  const vals: number[] = [];
  for (const r of rows) {
    vals.push(...r.values.filter(Number.isFinite));
    if (Number.isFinite(r.mean)) vals.push(r.mean);
    for (const v of [r.low, r.high]) if (v !== undefined && Number.isFinite(v)) vals.push(v);
  }
  if (opts.ref && vals.length) vals.push(opts.ref.x);
  if (vals.length === 0) {
    parts.push(
      `<text x="${f.left + pw / 2}" y="${f.top + ph / 2}" text-anchor="middle" fill="#888">no data</text></svg>`,
    );
    return parts.join('');
  }
  const t = niceTicks(Math.min(...vals), Math.max(...vals), Math.max(3, Math.round(pw / 70)));
  const sx = (x: number): number => f.left + ((x - t.lo) / (t.hi - t.lo)) * pw;
  parts.push(`<rect x="${f.left}" y="${f.top}" width="${pw}" height="${ph}" fill="#fff" stroke="#ccc"/>`);
  for (const v of t.ticks) {
    const x = r1(sx(v));
    parts.push(`<line x1="${x}" x2="${x}" y1="${f.top}" y2="${f.top + ph}" stroke="#eee"/>`);
    parts.push(
      `<text x="${x}" y="${f.top + ph + 15}" text-anchor="middle" fill="#555">${escapeXml(formatTick(v, t.step, axisScale(t.ticks)))}</text>`,
    );
  }
  if (opts.xLabel !== undefined)
    parts.push(
      `<text x="${f.left + pw / 2}" y="${f.height - 6}" text-anchor="middle" fill="#333">${escapeXml(opts.xLabel)}</text>`,
    );
  if (opts.ref) {
    const x = r1(sx(opts.ref.x));
    parts.push(
      `<line x1="${x}" x2="${x}" y1="${f.top}" y2="${f.top + ph}" stroke="#b91c1c" stroke-dasharray="4 3"><title>${escapeXml(opts.ref.label)}</title></line>`,
    );
  }
  rows.forEach((r, i) => {
    const y = f.top + i * rowH + rowH / 2;
    const colour = r.highlight ? PALETTE[0] : '#666';
    parts.push(
      `<text x="${f.left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle" fill="#222"${r.highlight ? ' font-weight="700"' : ''}><title>${escapeXml(r.label)}</title>${escapeXml(truncate(r.label, maxChars))}</text>`,
    );
    if (i > 0)
      parts.push(
        `<line x1="${f.left}" x2="${f.left + pw}" y1="${f.top + i * rowH}" y2="${f.top + i * rowH}" stroke="#f3f3f3"/>`,
      );
    if (
      r.low !== undefined &&
      r.high !== undefined &&
      Number.isFinite(r.low) &&
      Number.isFinite(r.high) &&
      r.high > r.low
    ) {
      const a = r1(sx(r.low));
      const b = r1(sx(r.high));
      parts.push(`<line x1="${a}" x2="${b}" y1="${y}" y2="${y}" stroke="${colour}" stroke-width="2"/>`);
      parts.push(`<line x1="${a}" x2="${a}" y1="${y - 6}" y2="${y + 6}" stroke="${colour}" stroke-width="2"/>`);
      parts.push(`<line x1="${b}" x2="${b}" y1="${y - 6}" y2="${y + 6}" stroke="${colour}" stroke-width="2"/>`);
    }
    for (const v of r.values) {
      if (Number.isFinite(v))
        parts.push(`<circle cx="${r1(sx(v))}" cy="${y}" r="3.2" fill="none" stroke="${colour}" stroke-width="1.3"/>`);
    }
    if (Number.isFinite(r.mean)) parts.push(`<circle cx="${r1(sx(r.mean))}" cy="${y}" r="4.6" fill="${colour}"/>`);
  });
  parts.push('</svg>');
  return parts.join('');
}
