/**
 * The study's statistics on constructed inputs with hand-computed answers: quantiles, the two-level percentile
 * bootstrap, the all-ink F0.5, binned AUC and F0.5 of tiles, interval verdicts and table verdicts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRng } from '../../src/data/rng.js';
import { comparisonVerdict, entryOf, chanceEntry, type StudyEntry } from '../../src/study/comparison.js';
import {
  armScores,
  armVerdict,
  aucOfHistograms,
  f05OfCounts,
  foldMean,
  tileScores,
  type ArmRun,
} from '../../src/study/scoring.js';
import { allInkF05, bootstrapInterval, quantile, quantileSorted } from '../../src/util/stats.js';

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

describe('study statistics', () => {
  it('quantiles interpolate linearly as numpy does', () => {
    close(quantileSorted([1, 2, 3, 4], 0.25), 1.75);
    close(quantileSorted([1, 2, 3, 4], 1), 4);
    close(quantileSorted([5], 0.5), 5);
    close(quantile([4, 1, 3, 2], 0.25), 1.75);
    assert.ok(Number.isNaN(quantileSorted([], 0.5)));
    assert.throws(() => quantileSorted([1], 1.5), /q must be in \[0, 1\]/);
  });

  it('all-ink F0.5 is 1.25p / (1 + 0.25p)', () => {
    close(allInkF05(0.187), 0.23375 / 1.04675);
    close(allInkF05(0.187), 0.2233, 1e-4); // the 0.223 at p = 0.187
    close(allInkF05(1), 1);
    close(allInkF05(0), 0);
    assert.throws(() => allInkF05(1.2), /ink share/);
  });

  it('bootstraps the mean of {0, 1} to [0, 1] and a constant to a point', () => {
    const rng = createRng(1);
    const mean = (d: number[][]) => d.flat().reduce((a, b) => a + b, 0) / d.flat().length;
    // Resampled means of two items: 0 (1/4), 0.5 (1/2), 1 (1/4): the 2.5% and 97.5% percentiles are 0 and 1.
    assert.deepEqual(bootstrapInterval([[0, 1]], mean, { rng, resamples: 2000 }), { mean: 0.5, low: 0, high: 1 });
    assert.deepEqual(bootstrapInterval([[0.3, 0.3, 0.3]], mean, { rng }), { mean: 0.3, low: 0.3, high: 0.3 });
  });

  it('resamples groups (seeds) before items (tiles)', () => {
    // Groups [1] and [3]: drawn pairs give 1, 2 or 3 for the mean of group means.
    const stat = (d: number[][]) => d.map((g) => g[0]!).reduce((a, b) => a + b, 0) / d.length;
    const iv = bootstrapInterval([[1], [3]], stat, { rng: createRng(2), resamples: 2000 });
    assert.deepEqual(iv, { mean: 2, low: 1, high: 3 });
    assert.throws(() => bootstrapInterval([[1], []], stat, { rng: createRng(2) }), /every group needs items/);
  });

  it('binned AUC and F0.5 from counts match hand computation', () => {
    // Positives in bins 1, 2; negatives in bins 0, 1: pairs won 1 + 0.5 + 1 + 1 of 4.
    close(aucOfHistograms([0, 1, 1], [1, 1, 0])!, 0.875);
    assert.equal(aucOfHistograms([0, 0], [1, 1]), null);
    // P = 3/4, R = 1/2: 1.25 * 0.375 / (0.1875 + 0.5).
    close(f05OfCounts(3, 1, 3), 0.46875 / 0.6875);
    assert.equal(f05OfCounts(0, 0, 5), 0);
  });

  it('tile scores give the exact AUC of separable scores and F0.5 at the fixed threshold', () => {
    const run: ArmRun = {
      seed: 0,
      fold: 0,
      threshold: 0.5,
      scores: Float32Array.of(0.1, 0.2, 0.9, 0.8, 0.3, 0.7),
      labels: Uint8Array.of(0, 0, 1, 1, 0, 0),
      tileOf: Int32Array.of(0, 0, 0, 1, 1, 1),
    };
    const tiles = tileScores(run);
    assert.equal(tiles.length, 2);
    close(foldMean(tiles, 'auc'), 1);
    // Called ink: 0.9, 0.8, 0.7 -> tp 2, fp 1, fn 0: P 2/3, R 1.
    close(foldMean(tiles, 'f05'), (1.25 * (2 / 3)) / (0.25 * (2 / 3) + 1));
    close(foldMean(tiles, 'inkShare'), 2 / 6);
  });

  it('intervals of a perfect arm sit at 1; an arm of noise is "at chance"', () => {
    const rng = createRng(3);
    const runs = (score: (ink: boolean) => number): ArmRun[] =>
      [0, 1, 2].flatMap((seed) =>
        [0, 1].map((fold) => {
          const n = 400;
          const labels = Uint8Array.from({ length: n }, () => (rng.uniform(0, 1) < 0.2 ? 1 : 0));
          return {
            seed,
            fold,
            threshold: 0.5,
            labels,
            scores: Float32Array.from(labels, (l) => score(l > 0)),
            tileOf: Int32Array.from({ length: n }, (_, i) => i >> 4),
          };
        }),
      );
    const perfect = armScores(
      runs((ink) => (ink ? 0.6 + 0.3 * rng.uniform(0, 1) : 0.4 * rng.uniform(0, 1))),
      { resamples: 300 },
    );
    assert.deepEqual(perfect.auc, { mean: 1, low: 1, high: 1 });
    assert.deepEqual(perfect.seeds, [0, 1, 2]);
    assert.equal(perfect.folds, 2);
    const noise = armScores(
      runs(() => rng.uniform(0, 1)),
      { resamples: 300 },
    );
    assert.ok(noise.auc.low < 0.5 && noise.auc.high > 0.5, JSON.stringify(noise.auc));
    assert.equal(armVerdict(noise.auc), 'at chance');
    assert.equal(armVerdict(perfect.auc), 'above chance by 0.500 AUC');
    const chance = chanceEntry(noise);
    assert.deepEqual(chance.auc, { mean: 0.5, low: 0.5, high: 0.5 });
    close(chance.f05.mean, allInkF05(noise.inkShare.mean));
  });

  it('table verdicts rank only arms above chance and say when intervals overlap', () => {
    const e = (label: string, mean: number, low: number, high: number): StudyEntry =>
      entryOf(label, {
        auc: { mean, low, high },
        f05: { mean: 0, low: 0, high: 0 },
        inkShare: { mean: 0.2, low: 0.2, high: 0.2 },
        seeds: [0],
        folds: 1,
      });
    const upper = e('fine-tuned-frozen', 0.9, 0.88, 0.92);
    assert.match(
      comparisonVerdict([e('random', 0.49, 0.47, 0.51), e('vicreg', 0.5, 0.48, 0.53)], [upper]),
      /every arm is at chance or below it: no ranking; at chance: random, vicreg/,
    );
    assert.match(
      comparisonVerdict([e('random', 0.7, 0.65, 0.75), e('vicreg', 0.72, 0.68, 0.76)], [upper]),
      /vicreg and random are not separable/,
    );
    assert.match(
      comparisonVerdict(
        [e('random', 0.6, 0.55, 0.65), e('vicreg', 0.8, 0.76, 0.84)],
        [upper, e('surface-statistic', 0.82, 0.8, 0.84)],
      ),
      /vicreg leads random .*; vicreg is not separable from the hand-made surface statistic/,
    );
    assert.match(
      comparisonVerdict([e('random', 0.6, 0.55, 0.65)], [e('fine-tuned-frozen', 0.5, 0.45, 0.55)]),
      /upper bound \(fine-tuned-frozen\) is at chance/,
    );
    // The best arm against the upper bound: below it when the intervals are apart, else not separable.
    assert.match(
      comparisonVerdict([e('family-A ink model', 0.75, 0.72, 0.78)], [e('in-family', 0.86, 0.84, 0.88)]),
      /family-A ink model is below the upper bound in-family \(0\.860 \[0\.840, 0\.880\]\)/,
    );
    assert.match(
      comparisonVerdict([e('vicreg', 0.8, 0.76, 0.84)], [upper]),
      /vicreg is below the upper bound fine-tuned-frozen/,
    );
    assert.match(
      comparisonVerdict([e('vicreg', 0.89, 0.86, 0.91)], [upper]),
      /vicreg is not separable from the upper bound fine-tuned-frozen/,
    );
  });
});
