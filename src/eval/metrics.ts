/**
 * Pixel metrics for ink maps: F0.5 as the Kaggle "Vesuvius Challenge - Ink Detection" metric defines it
 * (1.25 * P * R / (0.25 * P + R), docs/reference-study.md), precision, recall, IoU, Dice, exact tie-aware ROC AUC
 * and the threshold that maximises F0.5.
 *
 * Conventions (the Python reference test/fixtures/eval_fixtures.py uses the same ones):
 * - predictions are probabilities in [0, 1] (Float32Array); a pixel is predicted ink when
 *   `pred >= fround(threshold)`, compared in float32 so that a threshold printed from a float32 value selects
 *   exactly the same pixels when passed back;
 * - labels and masks are set where > 0; only pixels inside the mask count;
 * - a ratio whose denominator is 0 (no ink, no predicted ink) is reported as 0 (sklearn's zero_division=0);
 * - ROC AUC is the Mann-Whitney statistic P(score_ink > score_background) + P(equal) / 2, i.e. the area under
 *   the ROC curve with ties counted as half (sklearn's roc_auc_score); it is null when the evaluated pixels hold
 *   only one class, where the AUC is undefined;
 * - the best threshold is the lowest predicted value v such that `pred >= v` maximises F0.5.
 *
 * AUC and the threshold scan work on a table of distinct predicted values with ink / background counts. When
 * every prediction is some k/65535 (8-bit PNGs, v/255 = 257v/65535, and 16-bit PNGs), that table is a
 * 65536-bin histogram built in one pass and the results are exact; other floats are sorted instead.
 */

import { aucFromTable, scoreTable, type RocTable } from '../util/roc.js';

export interface ScoreOptions {
  /** Threshold for the binary metrics (default 0.5); ignored when `bestThreshold` is set. */
  threshold?: number;
  /** Use the threshold that maximises F0.5 (reported in `threshold`). */
  bestThreshold?: boolean;
  /**
   * Ignore SIZExSIZE tiles (a grid from the top-left corner; partial tiles at the right and bottom edges are
   * tiles too) that contain no ink label, as the reference study's evaluation on fragment 4 did ("skipped patches where no
   * ink is present"). A tile keeps its pixels when any label pixel in it is > 0.
   */
  skipEmptyTiles?: number;
}

/** The scores `inkwell score --json` prints, exactly these keys. */
export interface ScoreResult {
  f05: number;
  precision: number;
  recall: number;
  iou: number;
  dice: number;
  /** null when the evaluated pixels hold only ink or only background. */
  auc: number | null;
  threshold: number;
}

export interface ScoreCounts {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
  /** Pixels evaluated (inside the mask and the kept tiles). */
  pixels: number;
  /** Ink pixels among them. */
  positives: number;
  /** With `skipEmptyTiles`: tiles kept (with ink) and tiles in the grid. */
  tilesKept?: number;
  tilesTotal?: number;
  /** 'histogram' when every prediction is k/65535 (exact 65536-bin path), else 'sort'. */
  method: 'histogram' | 'sort';
}

export interface ScoreReport {
  scores: ScoreResult;
  counts: ScoreCounts;
}

export interface Confusion {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

/**
 * Distinct predicted values in ascending order with the number of ink (`pos`) and background (`neg`) pixels
 * holding each value, and how it was built.
 */
export interface ValueTable extends RocTable {
  method: 'histogram' | 'sort';
}

const BINS = 65536;
const SCALE = BINS - 1;
/** fround(b / 65535) for every bin: a prediction p is "on the grid" when LUT[round(p * 65535)] === p. */
const LUT = Float32Array.from({ length: BINS }, (_, b) => b / SCALE);

/** F-beta with beta = 0.5 from precision and recall: 1.25 * P * R / (0.25 * P + R) (Kaggle's ink detection metric); 0 when P = R = 0. */
export function f05(precision: number, recall: number): number {
  const den = 0.25 * precision + recall;
  return den > 0 ? (1.25 * precision * recall) / den : 0;
}

function ratio(num: number, den: number): number {
  return den > 0 ? num / den : 0;
}

/** Precision, recall, F0.5, IoU and Dice from confusion counts (0 where a denominator is 0). */
export function metricsFromConfusion(c: Confusion): {
  precision: number;
  recall: number;
  f05: number;
  iou: number;
  dice: number;
} {
  const precision = ratio(c.tp, c.tp + c.fp);
  const recall = ratio(c.tp, c.tp + c.fn);
  return {
    precision,
    recall,
    f05: f05(precision, recall),
    iou: ratio(c.tp, c.tp + c.fp + c.fn),
    dice: ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn),
  };
}

function checkSizes(
  op: string,
  pred: Float32Array,
  labels: Uint8Array,
  mask: Uint8Array | null,
  width: number,
  height: number,
): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`${op}: image size ${height}x${width} (HxW) is invalid, expected positive integers`);
  }
  const n = width * height;
  const bad = (what: string, len: number): never => {
    throw new Error(`${op}: ${what} has ${len} pixels, expected ${n} (${height}x${width}, HxW)`);
  };
  if (pred.length !== n) bad('the prediction', pred.length);
  if (labels.length !== n) bad('the labels', labels.length);
  if (mask !== null && mask.length !== n) bad('the mask', mask.length);
}

/**
 * The evaluated pixels as a 0/1 map: the mask (> 0) and, with `skipEmptyTiles`, only tiles holding a label > 0.
 * Returns null when every pixel counts.
 */
export function evaluationMask(
  labels: Uint8Array,
  mask: Uint8Array | null,
  width: number,
  height: number,
  skipEmptyTiles?: number,
): { use: Uint8Array | null; tilesKept?: number; tilesTotal?: number } {
  if (skipEmptyTiles === undefined) {
    if (mask === null) return { use: null };
    const use = new Uint8Array(mask.length);
    for (let i = 0; i < mask.length; i++) use[i] = mask[i]! > 0 ? 1 : 0;
    return { use };
  }
  const size = skipEmptyTiles;
  if (!Number.isInteger(size) || size <= 0)
    throw new Error(`scoreMaps: --skip-empty-tiles size ${size} is invalid, expected a positive integer`);
  const tw = Math.ceil(width / size);
  const th = Math.ceil(height / size);
  const hasInk = new Uint8Array(tw * th);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    const trow = Math.floor(y / size) * tw;
    for (let x = 0; x < width; x++) if (labels[row + x]! > 0) hasInk[trow + Math.floor(x / size)] = 1;
  }
  let tilesKept = 0;
  for (let t = 0; t < hasInk.length; t++) tilesKept += hasInk[t]!;
  const use = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    const trow = Math.floor(y / size) * tw;
    for (let x = 0; x < width; x++) {
      const i = row + x;
      use[i] = hasInk[trow + Math.floor(x / size)]! && (mask === null || mask[i]! > 0) ? 1 : 0;
    }
  }
  return { use, tilesKept, tilesTotal: tw * th };
}

function badValue(op: string, p: number, i: number, width: number): never {
  throw new Error(
    `${op}: prediction ${p} at pixel (x ${i % width}, y ${Math.floor(i / width)}) is not a probability, expected a value in [0, 1]`,
  );
}

/**
 * The table of distinct predicted values among the evaluated pixels (`use` null: all pixels), with ink and
 * background counts; exact for any float32 input (histogram when every value is k/65535, else sorting).
 */
export function valueTable(
  pred: Float32Array,
  labels: Uint8Array,
  use: Uint8Array | null,
  width = pred.length,
  op = 'valueTable',
): ValueTable {
  const n = pred.length;
  const posHist = new Float64Array(BINS);
  const negHist = new Float64Array(BINS);
  let onGrid = true;
  let positives = 0;
  let negatives = 0;
  for (let i = 0; i < n; i++) {
    if (use !== null && use[i] === 0) continue;
    const p = pred[i]!;
    if (!(p >= 0 && p <= 1)) badValue(op, p, i, width);
    const b = Math.round(p * SCALE);
    if (LUT[b] !== p) {
      onGrid = false;
      break;
    }
    if (labels[i]! > 0) {
      posHist[b]!++;
      positives++;
    } else {
      negHist[b]!++;
      negatives++;
    }
  }
  if (onGrid) {
    let distinct = 0;
    for (let b = 0; b < BINS; b++) if (posHist[b]! + negHist[b]! > 0) distinct++;
    const values = new Float64Array(distinct);
    const pos = new Float64Array(distinct);
    const neg = new Float64Array(distinct);
    let k = 0;
    for (let b = 0; b < BINS; b++) {
      if (posHist[b]! + negHist[b]! === 0) continue;
      values[k] = b / SCALE;
      pos[k] = posHist[b]!;
      neg[k] = negHist[b]!;
      k++;
    }
    return { values, pos, neg, positives, negatives, method: 'histogram' };
  }
  // Off the 1/65535 grid: check every evaluated value (the histogram pass stopped at the first off-grid one),
  // then sort ink and background values separately and merge runs of equal values (src/util/roc.ts).
  for (let i = 0; i < n; i++) {
    if (use !== null && use[i] === 0) continue;
    const p = pred[i]!;
    if (!(p >= 0 && p <= 1)) badValue(op, p, i, width);
  }
  return { ...scoreTable(pred, labels, use, op), method: 'sort' };
}

// ROC AUC from a value table (the Mann-Whitney U statistic, ties counted as 1/2; null when a class is absent)
// lives in src/util/roc.ts, shared with the synthetic-data calibration, and stays part of this module's API.
export { aucFromTable };

/** The F0.5-maximising threshold from a value table: the lowest distinct value v for which `pred >= v` is best. */
export function bestThresholdFromTable(t: ValueTable): {
  threshold: number;
  f05: number;
  precision: number;
  recall: number;
} {
  if (t.values.length === 0)
    throw new Error('bestThreshold: no pixels to evaluate (the mask or tile filter leaves none)');
  // Scan from the top: tp/fp are the ink/background pixels with value >= values[k].
  let tp = 0;
  let fp = 0;
  const f = new Float64Array(t.values.length);
  const pr = new Float64Array(t.values.length);
  const rc = new Float64Array(t.values.length);
  for (let k = t.values.length - 1; k >= 0; k--) {
    tp += t.pos[k]!;
    fp += t.neg[k]!;
    pr[k] = ratio(tp, tp + fp);
    rc[k] = ratio(tp, t.positives);
    f[k] = f05(pr[k]!, rc[k]!);
  }
  let best = 0;
  for (let k = 1; k < f.length; k++) if (f[k]! > f[best]!) best = k;
  return { threshold: t.values[best]!, f05: f[best]!, precision: pr[best]!, recall: rc[best]! };
}

/** Confusion counts of `pred >= fround(threshold)` against `labels > 0` over the evaluated pixels. */
export function confusionAt(
  pred: Float32Array,
  labels: Uint8Array,
  use: Uint8Array | null,
  threshold: number,
): Confusion {
  const t = Math.fround(threshold);
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tn = 0;
  for (let i = 0; i < pred.length; i++) {
    if (use !== null && use[i] === 0) continue;
    const hit = pred[i]! >= t;
    if (labels[i]! > 0) {
      if (hit) tp++;
      else fn++;
    } else if (hit) fp++;
    else tn++;
  }
  return { tp, fp, fn, tn };
}

/** Exact ROC AUC of `pred` against `labels > 0` within `mask > 0` (null mask: every pixel); null when a class is absent. */
export function rocAuc(pred: Float32Array, labels: Uint8Array, mask: Uint8Array | null = null): number | null {
  checkSizes('rocAuc', pred, labels, mask, pred.length, 1);
  return aucFromTable(
    valueTable(pred, labels, evaluationMask(labels, mask, pred.length, 1).use, pred.length, 'rocAuc'),
  );
}

/** The threshold maximising F0.5 of `pred >= threshold` within `mask > 0`, with its F0.5, precision and recall. */
export function bestThreshold(
  pred: Float32Array,
  labels: Uint8Array,
  mask: Uint8Array | null = null,
): { threshold: number; f05: number; precision: number; recall: number } {
  checkSizes('bestThreshold', pred, labels, mask, pred.length, 1);
  return bestThresholdFromTable(
    valueTable(pred, labels, evaluationMask(labels, mask, pred.length, 1).use, pred.length, 'bestThreshold'),
  );
}

/** Every score plus the confusion counts behind them (see `scoreMaps`). */
export function scoreMapsDetailed(
  pred: Float32Array,
  labels: Uint8Array,
  mask: Uint8Array | null,
  width: number,
  height: number,
  opts: ScoreOptions = {},
): ScoreReport {
  checkSizes('scoreMaps', pred, labels, mask, width, height);
  if (opts.threshold !== undefined && opts.bestThreshold) {
    throw new Error('scoreMaps: both a fixed threshold and bestThreshold were given, expected one of them');
  }
  const fixed = opts.threshold ?? 0.5;
  if (!(fixed >= 0 && fixed <= 1))
    throw new Error(`scoreMaps: threshold ${fixed} is invalid, expected a value in [0, 1]`);
  const region = evaluationMask(labels, mask, width, height, opts.skipEmptyTiles);
  const table = valueTable(pred, labels, region.use, width, 'scoreMaps');
  const pixels = table.positives + table.negatives;
  if (pixels === 0) {
    const why =
      opts.skipEmptyTiles !== undefined
        ? `the mask and --skip-empty-tiles ${opts.skipEmptyTiles} (tiles with ink: ${region.tilesKept ?? 0})`
        : 'the mask';
    throw new Error(`scoreMaps: no pixels to evaluate: ${why} leaves none of the ${height}x${width} (HxW) pixels`);
  }
  const threshold = opts.bestThreshold ? bestThresholdFromTable(table).threshold : fixed;
  const c = confusionAt(pred, labels, region.use, threshold);
  const m = metricsFromConfusion(c);
  const counts: ScoreCounts = { ...c, pixels, positives: table.positives, method: table.method };
  if (region.tilesKept !== undefined) counts.tilesKept = region.tilesKept;
  if (region.tilesTotal !== undefined) counts.tilesTotal = region.tilesTotal;
  return {
    scores: {
      f05: m.f05,
      precision: m.precision,
      recall: m.recall,
      iou: m.iou,
      dice: m.dice,
      auc: aucFromTable(table),
      threshold,
    },
    counts,
  };
}

/**
 * Scores a probability map against ink labels within a mask: F0.5 (Kaggle), precision, recall, IoU, Dice at
 * `opts.threshold` (default 0.5) or at the F0.5-maximising threshold (`opts.bestThreshold`), and ROC AUC.
 * `pred`, `labels` and `mask` are row-major width x height maps; labels and mask count where > 0.
 */
export function scoreMaps(
  pred: Float32Array,
  labels: Uint8Array,
  mask: Uint8Array | null,
  width: number,
  height: number,
  opts: ScoreOptions = {},
): ScoreResult {
  return scoreMapsDetailed(pred, labels, mask, width, height, opts).scores;
}
