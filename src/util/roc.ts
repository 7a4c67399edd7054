/**
 * Exact, tie-aware ROC AUC, shared by the evaluation metrics (src/eval/metrics.ts: probability maps against ink
 * labels) and the synthetic-data calibration (src/data/synth/calibrate.ts: any statistic against synthetic
 * ink), so both report the same number for the same scores.
 *
 * The AUC is the Mann-Whitney U statistic P(score of a positive > score of a negative) + P(equal) / 2 (Hanley
 * & McNeil 1982; the trapezoidal area under the ROC curve, sklearn's roc_auc_score). It is computed from a
 * table of the distinct scores in ascending order with the number of positives and negatives holding each,
 * so ties are counted exactly; callers build that table themselves (the metrics' 65536-bin histogram) or
 * with `scoreTable`, which sorts, and take the AUC with `aucFromTable`.
 */

/** Distinct scores in ascending order with the number of positives (`pos`) and negatives (`neg`) holding each. */
export interface RocTable {
  values: Float64Array;
  pos: Float64Array;
  neg: Float64Array;
  positives: number;
  negatives: number;
}

/**
 * ROC AUC from a score table: the Mann-Whitney U statistic over (positive, negative) pairs, ties counted as
 * 1/2. Null when a class is absent (the AUC is undefined). Sums of integers and halves, exact below 2^53 pairs.
 */
export function aucFromTable(t: RocTable): number | null {
  if (t.positives === 0 || t.negatives === 0) return null;
  let below = 0;
  let u = 0;
  for (let k = 0; k < t.values.length; k++) {
    u += t.pos[k]! * (below + 0.5 * t.neg[k]!);
    below += t.neg[k]!;
  }
  return u / (t.positives * t.negatives);
}

/**
 * The score table of `scores` against `labels` (> 0 is positive) over the items where `where` is > 0 (all
 * items when it is absent or null): each class's scores sorted separately, then runs of equal values merged.
 * Throws for a NaN score, which has no place in the order.
 */
export function scoreTable(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  where?: ArrayLike<number> | null,
  op = 'rocAuc',
): RocTable {
  const n = scores.length;
  if (labels.length !== n) throw new Error(`${op}: ${n} scores but ${labels.length} labels`);
  if (where != null && where.length !== n) throw new Error(`${op}: ${n} scores but ${where.length} mask values`);
  let positives = 0;
  let negatives = 0;
  for (let i = 0; i < n; i++) {
    if (where != null && !(where[i]! > 0)) continue;
    if (Number.isNaN(scores[i])) throw new Error(`${op}: score ${i} is NaN`);
    if (labels[i]! > 0) positives++;
    else negatives++;
  }
  // float32 scores stay float32 while sorting: exact, and half the memory on whole-fragment maps.
  const Store = scores instanceof Float32Array ? Float32Array : Float64Array;
  const ps = new Store(positives);
  const ns = new Store(negatives);
  let a = 0;
  let c = 0;
  for (let i = 0; i < n; i++) {
    if (where != null && !(where[i]! > 0)) continue;
    if (labels[i]! > 0) ps[a++] = scores[i]!;
    else ns[c++] = scores[i]!;
  }
  ps.sort();
  ns.sort();
  const values: number[] = [];
  const pos: number[] = [];
  const neg: number[] = [];
  let i = 0;
  let j = 0;
  while (i < ps.length || j < ns.length) {
    const v = Math.min(i < ps.length ? ps[i]! : Infinity, j < ns.length ? ns[j]! : Infinity);
    let cp = 0;
    let cn = 0;
    while (i < ps.length && ps[i] === v) {
      cp++;
      i++;
    }
    while (j < ns.length && ns[j] === v) {
      cn++;
      j++;
    }
    values.push(v);
    pos.push(cp);
    neg.push(cn);
  }
  return {
    values: Float64Array.from(values),
    pos: Float64Array.from(pos),
    neg: Float64Array.from(neg),
    positives,
    negatives,
  };
}
