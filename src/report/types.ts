/** What the report reads from a folder (collect.ts fills it; render.ts shows it). */
import type { StudyComparison } from '../study/comparison.js';
import type { EfficiencyCurve } from '../study/results.js';

/** The collapse warning ratio when the config names none (COLLAPSE_RATIO in src/ssl/monitor.ts). */
export const DEFAULT_COLLAPSE_RATIO = 0.25;
/** Inlined images fit inside MAX_IMAGE_SIDE x MAX_IMAGE_SIDE pixels. */
export const MAX_IMAGE_SIDE = 1024;

/**
 * Kinds logged once per epoch (their `step` is the epoch): names ending in `_epoch`, and validation kinds
 * (`val`, `val_*`, `*_val`), which the supervised trainer logs with the epoch as step.
 */
export function isPerEpochKind(kind: string): boolean {
  return kind.endsWith('_epoch') || kind === 'val' || kind.startsWith('val_') || kind.endsWith('_val');
}

export interface MetricSeries {
  kind: string;
  /** See isPerEpochKind: x = epoch; otherwise x = step. */
  perEpoch: boolean;
  /** Numeric fields in order of first appearance (without kind, step, time, and epoch for per-step kinds). */
  fields: string[];
  steps: number[];
  /** Per field, one value per record (NaN where the record lacks it or holds null). */
  values: Record<string, number[]>;
  times: number[];
}

export interface MetricsData {
  kinds: MetricSeries[];
  lines: number;
  /** 1-based numbers of lines that were not `{kind: string, step: number, ...}` JSON. */
  badLines: number[];
}

export interface InlineImage {
  /** data: URI (PNG, or JPEG when that is less than half the PNG's size). */
  src: string;
  width: number;
  height: number;
  originalWidth: number;
  originalHeight: number;
  file: string;
}

export interface CkaData {
  labels: string[];
  linear: number[][] | null;
  rbf: number[][] | null;
  rbfThreshold?: number;
  debiased?: boolean;
  linearPng?: InlineImage;
  rbfPng?: InlineImage;
}

export interface ScoreJson {
  f05?: number;
  precision?: number;
  recall?: number;
  iou?: number;
  dice?: number;
  auc?: number | null;
  threshold?: number;
}

export interface PredictionMap {
  /** The subfolder of predictions/ ('' for files directly in it). */
  group: string;
  image: InlineImage;
  score?: ScoreJson;
}

export interface PredictionFragment {
  id: string;
  ir?: InlineImage;
  labels?: InlineImage;
  mask?: InlineImage;
  probs: PredictionMap[];
}

export interface PredictionsData {
  groups: string[];
  fragments: PredictionFragment[];
  /** Files in predictions/ that match none of the names read. */
  ignored: string[];
}

export interface FolderData {
  /** Path relative to the report's root ('.' for the root itself). */
  name: string;
  dir: string;
  /** For a run two levels down (e.g. probe/random-seed1): the folder that groups it (probe). */
  group?: string;
  config?: { text: string; parsed: unknown };
  metrics?: MetricsData;
  cka?: CkaData;
  predictions?: PredictionsData;
  comparisons?: StudyComparison[];
  curves?: EfficiencyCurve[];
  /** Problems met while reading (unreadable or malformed files), each naming the file. */
  problems: string[];
}

export interface ReportData {
  root: string;
  title: string;
  generatedAt: Date;
  /** The root first, then run folders one level down in the order they started. */
  folders: FolderData[];
}
