/** Numbers the report derives from what it read: the collapse monitor's summary and CKA off-diagonals. */
import { median } from '../util/stats.js';
import { DEFAULT_COLLAPSE_RATIO, type FolderData, type MetricSeries } from './types.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface CollapseSummary {
  kind: string;
  perEpoch: boolean;
  /** 1/sqrt(D) recovered from std / ratio, and D. */
  expected?: number;
  dim?: number;
  threshold: number;
  lastStd: number;
  lastRatio: number;
  minRatio: number;
  minRatioAt: number;
  /** Records whose ratio is below the threshold. */
  below: number;
  records: number;
}

export function collapseSummary(k: MetricSeries, threshold: number): CollapseSummary | null {
  const std = k.values['embedding_std'];
  if (!std) return null;
  const ratio = k.values['embedding_std_ratio'];
  const pairs = ratio ? std.map((s, i) => s / ratio[i]!).filter((e) => Number.isFinite(e) && e > 0) : [];
  const expected = pairs.length ? median(pairs) : undefined;
  const finite = k.steps
    .map((x, i) => ({ x, s: std[i]!, r: ratio ? ratio[i]! : Number.NaN }))
    .filter((p) => Number.isFinite(p.s));
  if (finite.length === 0) return null;
  const last = finite[finite.length - 1]!;
  let minAt = finite[0]!;
  for (const p of finite) if (Number.isFinite(p.r) && (!Number.isFinite(minAt.r) || p.r < minAt.r)) minAt = p;
  const out: CollapseSummary = {
    kind: k.kind,
    perEpoch: k.perEpoch,
    threshold,
    lastStd: last.s,
    lastRatio: last.r,
    minRatio: minAt.r,
    minRatioAt: minAt.x,
    below: finite.filter((p) => p.r < threshold).length,
    records: finite.length,
  };
  if (expected !== undefined) {
    out.expected = expected;
    out.dim = Math.round(1 / (expected * expected));
  }
  return out;
}

export function configNumber(parsed: unknown, path: readonly string[]): number | undefined {
  let cur: unknown = parsed;
  for (const p of path) {
    if (!isObject(cur)) return undefined;
    cur = cur[p];
  }
  return typeof cur === 'number' && Number.isFinite(cur) ? cur : undefined;
}

export function collapseThreshold(f: FolderData): number {
  return configNumber(f.config?.parsed, ['monitor', 'collapseRatio']) ?? DEFAULT_COLLAPSE_RATIO;
}

export function offDiagonal(m: number[][]): { min: number; max: number; mean: number; neighbours: number } | null {
  const off: number[] = [];
  const next: number[] = [];
  m.forEach((row, i) =>
    row.forEach((v, j) => {
      if (i !== j && Number.isFinite(v)) off.push(v);
      if (j === i + 1 && Number.isFinite(v)) next.push(v);
    }),
  );
  if (off.length === 0) return null;
  const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
  return {
    min: Math.min(...off),
    max: Math.max(...off),
    mean: mean(off),
    neighbours: next.length ? mean(next) : Number.NaN,
  };
}
