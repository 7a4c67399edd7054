/**
 * Metric properties that need no reference: the histogram path equals the sorting path, AUC against a
 * brute-force pair count with ties, F0.5 edge values, the best threshold beats every other, and the errors
 * (sizes, non-probabilities, empty evaluation region, conflicting options).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  aucFromTable,
  bestThreshold,
  confusionAt,
  f05,
  metricsFromConfusion,
  rocAuc,
  scoreMaps,
  valueTable,
} from '../../src/eval/index.js';

/** A seeded LCG, so the tests are reproducible without the engine. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

function randomMaps(n: number, levels: number, seed: number): { pred: Float32Array; labels: Uint8Array } {
  const r = lcg(seed);
  const labels = Uint8Array.from({ length: n }, () => (r() < 0.2 ? 1 : 0));
  const pred = Float32Array.from(
    labels,
    (l) => Math.min(levels, Math.max(0, Math.round((r() * 0.8 + 0.3 * l) * levels))) / levels,
  );
  return { pred, labels };
}

function bruteAuc(pred: Float32Array, labels: Uint8Array): number {
  let u = 0;
  let pairs = 0;
  for (let i = 0; i < pred.length; i++) {
    if (!labels[i]) continue;
    for (let j = 0; j < pred.length; j++) {
      if (labels[j]) continue;
      pairs++;
      u += pred[i]! > pred[j]! ? 1 : pred[i] === pred[j] ? 0.5 : 0;
    }
  }
  return u / pairs;
}

test('rocAuc equals a brute-force pair count with ties (8-bit grid, 16-bit grid, off-grid floats)', () => {
  for (const [levels, seed] of [
    [255, 1],
    [65535, 2],
    [10, 3],
    [1000, 4],
  ] as const) {
    const { pred, labels } = randomMaps(700, levels, seed);
    const t = valueTable(pred, labels, null);
    assert.equal(t.method, levels === 255 || levels === 65535 ? 'histogram' : 'sort');
    const got = rocAuc(pred, labels)!;
    const exp = bruteAuc(pred, labels);
    assert.ok(Math.abs(got - exp) < 1e-12, `levels ${levels}: ${got} vs ${exp}`);
  }
});

test('the histogram and sorting paths give the same table, AUC and best threshold', () => {
  const { pred, labels } = randomMaps(5000, 255, 9);
  const hist = valueTable(pred, labels, null);
  // The same values nudged off the 1/65535 grid by one float32 ulp keep their order and ties: the sort path.
  const nudged = Float32Array.from(pred, (p) => (p === 0 ? p : p - p * 2 ** -23));
  const sorted = valueTable(nudged, labels, null);
  assert.equal(hist.method, 'histogram');
  assert.equal(sorted.method, 'sort');
  assert.deepEqual([...hist.pos], [...sorted.pos]);
  assert.deepEqual([...hist.neg], [...sorted.neg]);
  assert.equal(aucFromTable(hist), aucFromTable(sorted));
  const a = bestThreshold(pred, labels);
  const b = bestThreshold(nudged, labels);
  assert.equal(a.f05, b.f05);
});

test('the best threshold maximises F0.5 over every candidate and is the lowest among ties', () => {
  const { pred, labels } = randomMaps(3000, 40, 5);
  const best = bestThreshold(pred, labels);
  const candidates = [...new Set(pred)].sort((x, y) => x - y);
  let top = -1;
  let lowest = Infinity;
  for (const t of candidates) {
    const m = metricsFromConfusion(confusionAt(pred, labels, null, t));
    if (m.f05 > top) {
      top = m.f05;
      lowest = t;
    }
  }
  assert.equal(best.f05, top);
  assert.equal(Math.fround(best.threshold), Math.fround(lowest));
  const again = scoreMaps(pred, labels, null, pred.length, 1, { threshold: best.threshold });
  assert.equal(again.f05, best.f05, 'passing the reported threshold back selects the same pixels');
});

test("f05 follows Kaggle's 1.25 P R / (0.25 P + R), with 0 for P = R = 0; perfect maps score 1", () => {
  assert.equal(f05(0, 0), 0);
  assert.equal(f05(1, 1), 1);
  assert.ok(Math.abs(f05(0.5, 0.25) - (1.25 * 0.5 * 0.25) / (0.25 * 0.5 + 0.25)) < 1e-15);
  const labels = Uint8Array.from([0, 1, 1, 0, 1, 0]);
  const pred = Float32Array.from(labels, (l) => l * 0.9);
  const s = scoreMaps(pred, labels, null, 3, 2);
  assert.deepEqual(s, { f05: 1, precision: 1, recall: 1, iou: 1, dice: 1, auc: 1, threshold: 0.5 });
  // threshold is inclusive: pred >= fround(t)
  const at = scoreMaps(Float32Array.from([0.5, 0.25]), Uint8Array.from([1, 0]), null, 2, 1);
  assert.equal(at.recall, 1);
});

test('scoreMaps errors name the problem: sizes, non-probabilities, empty region, conflicting options', () => {
  const pred = new Float32Array(6).fill(0.5);
  const labels = new Uint8Array(6);
  assert.throws(
    () => scoreMaps(pred, labels, null, 4, 2),
    /scoreMaps: the prediction has 6 pixels, expected 8 \(2x4, HxW\)/,
  );
  assert.throws(() => scoreMaps(pred, new Uint8Array(5), null, 3, 2), /the labels has 5 pixels, expected 6/);
  assert.throws(
    () => scoreMaps(Float32Array.from([0, 1.5, 0, 0, 0, 0]), labels, null, 3, 2),
    /prediction 1.5 at pixel \(x 1, y 0\) is not a probability/,
  );
  assert.throws(
    () => scoreMaps(Float32Array.from([0, 0, 0, 0, NaN, 0]), labels, null, 3, 2),
    /prediction NaN at pixel \(x 1, y 1\)/,
  );
  assert.throws(
    () => scoreMaps(pred, labels, new Uint8Array(6), 3, 2),
    /no pixels to evaluate: the mask leaves none of the 2x3 \(HxW\) pixels/,
  );
  assert.throws(
    () => scoreMaps(pred, labels, null, 3, 2, { skipEmptyTiles: 2 }),
    /no pixels to evaluate.*skip-empty-tiles 2 \(tiles with ink: 0\)/,
  );
  assert.throws(
    () => scoreMaps(pred, labels, null, 3, 2, { threshold: 0.4, bestThreshold: true }),
    /both a fixed threshold and bestThreshold/,
  );
  assert.throws(
    () => scoreMaps(pred, labels, null, 3, 2, { threshold: 2 }),
    /threshold 2 is invalid, expected a value in \[0, 1\]/,
  );
  assert.throws(() => scoreMaps(pred, labels, null, 3, 2, { skipEmptyTiles: 0 }), /skip-empty-tiles size 0 is invalid/);
  assert.equal(scoreMaps(pred, labels, null, 3, 2).auc, null, 'a single class leaves the AUC undefined');
});

test('skipEmptyTiles keeps whole tiles (partial edge tiles included) that hold any ink label', () => {
  // 5x3 image, tiles of 2: grid 3x2 tiles; ink only at (x 4, y 2), the bottom-right partial 1x1 tile.
  const w = 5;
  const h = 3;
  const labels = new Uint8Array(w * h);
  labels[2 * w + 4] = 1;
  const pred = new Float32Array(w * h).fill(0.9);
  const s = scoreMaps(pred, labels, null, w, h, { skipEmptyTiles: 2 });
  assert.equal(s.precision, 1, 'only the inked tile (one pixel) is evaluated');
});
