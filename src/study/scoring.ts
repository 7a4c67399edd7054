/**
 * Scores of a study arm with intervals and a verdict (docs/study-design.md). An arm's runs are (seed, fold)
 * pairs: a fold scores one held-out fragment (leave-one-fragment-out) at a threshold chosen on another
 * fragment. The point estimate is the mean over seeds of the mean over folds; the 95% interval is a two-level
 * percentile bootstrap, seeds with replacement and then tiles with replacement inside each drawn seed.
 * Resampling tiles means re-ranking pixels thousands of times, so each tile keeps its positives and negatives
 * as bins of the run's score quantiles (AUC from binned ranks, ties counted half) and its
 * confusion counts at the run's threshold.
 */
import { createRng } from '../data/rng.js';
import { allInkF05, bootstrapInterval, type Interval } from '../util/stats.js';

/** One fitted model's scores on its held-out fragment. */
export interface ArmRun {
  seed: number;
  fold: number;
  /** Ink probability (or any score, larger = more ink) of each scored pixel. */
  scores: Float32Array;
  labels: Uint8Array;
  /** Tile of each scored pixel: the resampling unit inside a fragment. */
  tileOf: Int32Array;
  /** Chosen on pixels that are not scored (the fold's validation fragment). */
  threshold: number;
}

/** A tile's share of a run: the score bins of its positives and negatives, and its counts at the threshold. */
export interface TileScore {
  fold: number;
  /** Number of score bins of the run. */
  bins: number;
  posBins: Int32Array;
  negBins: Int32Array;
  tp: number;
  fp: number;
  fn: number;
}

/** Splits a run into tiles over `bins` quantile bins of its scores (fewer when scores repeat). */
export function tileScores(run: ArmRun, bins = 512): TileScore[] {
  const sorted = Float32Array.from(run.scores).sort();
  const edges: number[] = [];
  for (let k = 1; k < bins; k++) {
    const v = sorted[Math.floor((k * sorted.length) / bins)];
    if (v !== undefined && (edges.length === 0 || v > edges.at(-1)!)) edges.push(v);
  }
  const binOf = (v: number) => {
    let lo = 0;
    let hi = edges.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (v >= edges[mid]!) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const tiles = new Map<number, { pos: number[]; neg: number[]; tp: number; fp: number; fn: number }>();
  for (let i = 0; i < run.scores.length; i++) {
    const t = run.tileOf[i]!;
    let ts = tiles.get(t);
    if (!ts) tiles.set(t, (ts = { pos: [], neg: [], tp: 0, fp: 0, fn: 0 }));
    const s = run.scores[i]!;
    const called = s >= run.threshold;
    if (run.labels[i]! > 0) {
      ts.pos.push(binOf(s));
      if (called) ts.tp++;
      else ts.fn++;
    } else {
      ts.neg.push(binOf(s));
      if (called) ts.fp++;
    }
  }
  return [...tiles.values()].map((t) => ({
    fold: run.fold,
    bins: edges.length + 1,
    posBins: Int32Array.from(t.pos),
    negBins: Int32Array.from(t.neg),
    tp: t.tp,
    fp: t.fp,
    fn: t.fn,
  }));
}

/** AUC of summed histograms (Mann-Whitney U with ties counted half); null when a class is absent. */
export function aucOfHistograms(pos: ArrayLike<number>, neg: ArrayLike<number>): number | null {
  let below = 0;
  let u = 0;
  let np = 0;
  let nn = 0;
  for (let k = 0; k < pos.length; k++) {
    u += pos[k]! * (below + 0.5 * neg[k]!);
    below += neg[k]!;
    np += pos[k]!;
    nn += neg[k]!;
  }
  return np > 0 && nn > 0 ? u / (np * nn) : null;
}

/** F0.5 from confusion counts (0 when nothing is called ink or there is no ink). */
export function f05OfCounts(tp: number, fp: number, fn: number): number {
  const p = tp + fp > 0 ? tp / (tp + fp) : 0;
  const r = tp + fn > 0 ? tp / (tp + fn) : 0;
  return p + r > 0 ? (1.25 * p * r) / (0.25 * p + r) : 0;
}

type Metric = 'auc' | 'f05' | 'inkShare';

/** The metric over a set of tiles: per fold on the summed tiles, then the mean over folds. */
export function foldMean(tiles: readonly TileScore[], metric: Metric): number {
  const folds = new Map<number, TileScore[]>();
  for (const t of tiles) (folds.get(t.fold) ?? folds.set(t.fold, []).get(t.fold)!).push(t);
  const values: number[] = [];
  for (const list of folds.values()) {
    if (metric === 'auc') {
      const pos = new Float64Array(list[0]!.bins);
      const neg = new Float64Array(list[0]!.bins);
      for (const t of list) {
        for (const b of t.posBins) pos[b] = pos[b]! + 1;
        for (const b of t.negBins) neg[b] = neg[b]! + 1;
      }
      const a = aucOfHistograms(pos, neg);
      if (a !== null) values.push(a);
    } else {
      let tp = 0,
        fp = 0,
        fn = 0,
        all = 0;
      for (const t of list) {
        tp += t.tp;
        fp += t.fp;
        fn += t.fn;
        all += t.posBins.length + t.negBins.length;
      }
      values.push(metric === 'f05' ? f05OfCounts(tp, fp, fn) : (tp + fn) / Math.max(1, all));
    }
  }
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : Number.NaN;
}

export interface ArmScores {
  auc: Interval;
  f05: Interval;
  /** Ink share of the scored pixels: the all-ink F0.5 (chance) follows from it. */
  inkShare: Interval;
  seeds: number[];
  folds: number;
}

export interface IntervalOptions {
  resamples?: number;
  seed?: number;
  bins?: number;
}

/** Mean and 95% bootstrap intervals (seeds, then tiles) of AUC and F0.5 over an arm's runs. */
export function armScores(runs: readonly ArmRun[], o: IntervalOptions = {}): ArmScores {
  if (runs.length === 0) throw new Error('armScores: no runs');
  const bySeed = new Map<number, TileScore[]>();
  for (const r of runs) (bySeed.get(r.seed) ?? bySeed.set(r.seed, []).get(r.seed)!).push(...tileScores(r, o.bins));
  const groups = [...bySeed.values()];
  const interval = (metric: Metric) =>
    bootstrapInterval(
      groups,
      (drawn) => {
        const v = drawn.map((g) => foldMean(g, metric)).filter(Number.isFinite);
        return v.length ? v.reduce((a, b) => a + b, 0) / v.length : Number.NaN;
      },
      { resamples: o.resamples ?? 1000, rng: createRng(o.seed ?? 0) },
    );
  return {
    auc: interval('auc'),
    f05: interval('f05'),
    inkShare: interval('inkShare'),
    seeds: [...bySeed.keys()],
    folds: new Set(runs.map((r) => r.fold)).size,
  };
}

/** The chance control of the same scored pixels: AUC 0.5 and the F0.5 of calling every pixel ink. */
export function chanceScores(reference: ArmScores): ArmScores {
  const f = (v: number) => allInkF05(Math.min(1, Math.max(0, v)));
  const share = reference.inkShare;
  return {
    auc: { mean: 0.5, low: 0.5, high: 0.5 },
    f05: { mean: f(share.mean), low: f(share.low), high: f(share.high) },
    inkShare: share,
    seeds: reference.seeds,
    folds: reference.folds,
  };
}

/** "at chance" when the AUC interval covers 0.5; otherwise above or below chance by the mean's distance. */
export function armVerdict(auc: Interval): string {
  if (!(Number.isFinite(auc.low) && Number.isFinite(auc.high))) return 'no interval (too few scored pixels)';
  if (auc.low <= 0.5 && auc.high >= 0.5) return 'at chance';
  const d = auc.mean - 0.5;
  return `${d > 0 ? 'above' : 'below'} chance by ${Math.abs(d).toFixed(3)} AUC`;
}

/** Two intervals are separable when they do not overlap. */
export function separable(a: Interval, b: Interval): boolean {
  return a.low > b.high || b.low > a.high;
}
