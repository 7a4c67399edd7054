/**
 * scoreMaps / rocAuc / bestThreshold against the numpy reference (eval_fixtures.py: Kaggle F0.5, precision,
 * recall, IoU, Dice, Mann-Whitney AUC with average ranks, F0.5-maximising threshold) on 8-bit and 16-bit PNG
 * predictions (exact 65536-bin histogram path) and off-grid float32 predictions with ties (sorting path),
 * with a mask, without one, and skipping 32x32 tiles without ink.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { hasTorchPython, NO_TORCH_REASON } from '../helpers/python.js';
import * as torch from '../../src/torch/index.js';
import {
  bestThreshold,
  readBinaryMap,
  readProbabilityMap,
  rocAuc,
  scoreMapsDetailed,
  type ScoreOptions,
} from '../../src/eval/index.js';
import { evalFixtures, type ScoreExpect } from './harness.js';

const skip = hasTorchPython() ? false : NO_TORCH_REASON;

async function maps(dir: string): Promise<Record<string, Float32Array> & { labels: Uint8Array; mask: Uint8Array }> {
  const p8 = await readProbabilityMap(join(dir, 'pred8.png'));
  const p16 = await readProbabilityMap(join(dir, 'pred16.png'));
  assert.equal(p8.bits, 8);
  assert.equal(p16.bits, 16);
  const pf = torch.tidy(() => torch.loadNpy(join(dir, 'predf.npy')).toTypedArray()) as Float32Array;
  const labels = (await readBinaryMap(join(dir, 'labels.png'))).data;
  const mask = (await readBinaryMap(join(dir, 'mask.png'))).data;
  return { p8: p8.data, p16: p16.data, pf, labels, mask } as never;
}

const REL = 1e-12;
let worst = 0;

function close(actual: number, expected: number, what: string): void {
  const d = Math.abs(actual - expected);
  worst = Math.max(worst, d);
  assert.ok(d <= REL * Math.max(1, Math.abs(expected)), `${what}: ${actual} != ${expected} (diff ${d})`);
}

function check(name: string, got: ReturnType<typeof scoreMapsDetailed>, exp: ScoreExpect): void {
  for (const k of ['f05', 'precision', 'recall', 'iou', 'dice'] as const) close(got.scores[k], exp[k], `${name}.${k}`);
  if (exp.auc === null) assert.equal(got.scores.auc, null, `${name}.auc`);
  else close(got.scores.auc!, exp.auc, `${name}.auc`);
  // numpy reports float32 thresholds widened to float64; the same float32 value selects the same pixels.
  assert.equal(
    Math.fround(got.scores.threshold),
    Math.fround(exp.threshold),
    `${name}.threshold ${got.scores.threshold} vs ${exp.threshold}`,
  );
  assert.ok(Math.abs(got.scores.threshold - exp.threshold) < 1e-7, `${name}.threshold`);
  const { tp, fp, fn, tn, pixels, positives } = got.counts;
  assert.deepEqual(
    { tp, fp, fn, tn, pixels, positives },
    {
      tp: exp.counts.tp,
      fp: exp.counts.fp,
      fn: exp.counts.fn,
      tn: exp.counts.tn,
      pixels: exp.counts.pixels,
      positives: exp.counts.positives,
    },
    `${name} counts`,
  );
  if (exp.counts.tilesKept !== undefined) {
    assert.equal(got.counts.tilesKept, exp.counts.tilesKept, `${name} tiles kept`);
    assert.equal(got.counts.tilesTotal, exp.counts.tilesTotal, `${name} tiles total`);
  }
}

test('scoreMaps equals the numpy reference for 8-bit, 16-bit and float predictions, masks, thresholds and tile skipping', {
  skip,
}, async () => {
  const { dir, expected } = evalFixtures();
  const { width, height, cases } = expected.scores;
  const m = await maps(dir);
  const variants: [string, boolean, ScoreOptions][] = [
    ['mask_t05', true, {}],
    ['mask_t03', true, { threshold: 0.3 }],
    ['mask_best', true, { bestThreshold: true }],
    ['nomask_best', false, { bestThreshold: true }],
    ['mask_tiles32', true, { skipEmptyTiles: 32 }],
    ['mask_tiles32_best', true, { bestThreshold: true, skipEmptyTiles: 32 }],
  ];
  let n = 0;
  for (const pred of ['p8', 'p16', 'pf'] as const) {
    for (const [suffix, useMask, opts] of variants) {
      const name = `${pred}_${suffix}`;
      const got = scoreMapsDetailed(m[pred]!, m.labels, useMask ? m.mask : null, width, height, opts);
      assert.equal(got.counts.method, pred === 'pf' ? 'sort' : 'histogram', `${name} method`);
      check(name, got, cases[name]!);
      n++;
    }
  }
  check(
    'p8_nolabels',
    scoreMapsDetailed(m['p8']!, new Uint8Array(width * height), m.mask, width, height),
    cases['p8_nolabels']!,
  );
  assert.equal(n, 18);
  console.log(`score: max |diff| vs numpy over ${n + 1} cases: ${worst.toExponential(2)}`);
});

test('rocAuc and bestThreshold (library forms) agree with the reference and with scoreMaps', { skip }, async () => {
  const { dir, expected } = evalFixtures();
  const m = await maps(dir);
  for (const pred of ['p8', 'p16', 'pf'] as const) {
    const exp = expected.scores.cases[`${pred}_mask_best`]!;
    close(rocAuc(m[pred]!, m.labels, m.mask)!, exp.auc!, `${pred} rocAuc`);
    const best = bestThreshold(m[pred]!, m.labels, m.mask);
    assert.equal(Math.fround(best.threshold), Math.fround(exp.threshold));
    close(best.f05, exp.f05, `${pred} best F0.5`);
    close(best.precision, exp.precision, `${pred} best precision`);
    close(best.recall, exp.recall, `${pred} best recall`);
  }
});
