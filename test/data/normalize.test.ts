/**
 * Normalisation choices: none, /255, clip window (villa's [0,200]), z-score, percentile, histogram matching;
 * statistics sampled from the volume inside its mask.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  fitNormalizer,
  histogramOf,
  histogramPercentile,
  histogramStats,
  parseNormalizeSpec,
  type ValueHistogram,
} from '../../src/data/normalize.js';
import { Volume } from '../../src/data/volume.js';
import { createRng } from '../../src/data/rng.js';
import { rectMask, tempDir, writeImage, writeMask } from './reader-fixtures.js';

const close = (a: number, b: number, eps = 1e-5): boolean => Math.abs(a - b) <= eps;

test('fixed choices: none, scale /255 (seed), clip [0,200] stretched or /255 (villa)', () => {
  const v = Uint8Array.from([0, 1, 100, 200, 201, 255]);
  assert.deepEqual([...fitNormalizer({ kind: 'none' }, 8).apply(v)], [0, 1, 100, 200, 201, 255]);
  assert.deepEqual(
    [...fitNormalizer({ kind: 'scale' }, 8).apply(v)].map((x) => Math.round(x * 255)),
    [0, 1, 100, 200, 201, 255],
  );
  const clip = fitNormalizer({ kind: 'clip', low: 0, high: 200 }, 8).apply(v);
  assert.ok(
    [0, 0.005, 0.5, 1, 1, 1].every((want, i) => close(clip[i]!, want)),
    `${[...clip]}`,
  );
  const villa = fitNormalizer({ kind: 'clip', low: 0, high: 200, divisor: 255 }, 8).apply(v);
  assert.ok([0, 1, 100, 200, 200, 200].every((c, i) => close(villa[i]!, c / 255)));
  const v16 = Uint16Array.from([0, 32768, 65535]);
  assert.deepEqual(
    [...fitNormalizer({ kind: 'scale', divisor: 65535 }, 16).apply(v16)].map((x) => Math.round(x * 2)),
    [0, 1, 2],
  );
  assert.throws(() => fitNormalizer({ kind: 'scale' }, 8).apply(v16), /16-bit values given to an 8-bit normalizer/);
  assert.throws(() => fitNormalizer({ kind: 'clip', low: 5, high: 5 }, 8), /clip window \[5, 5\] is empty/);
});

test('histogram statistics and percentiles match direct computation (numpy linear interpolation)', () => {
  const rng = createRng(11);
  const vals = Uint8Array.from({ length: 1001 }, () => Math.floor(rng.next() ** 2 * 256));
  const h = histogramOf(vals, 8);
  const s = histogramStats(h);
  const mean = vals.reduce((a, b) => a + b, 0) / vals.length;
  const std = Math.sqrt(vals.reduce((a, b) => a + (b - mean) ** 2, 0) / vals.length);
  assert.ok(close(s.mean, mean, 1e-9) && close(s.std, std, 1e-9));
  const sorted = [...vals].sort((a, b) => a - b);
  for (const p of [0, 1, 25, 50, 73.3, 99, 100]) {
    const rank = (p / 100) * (sorted.length - 1);
    const lo = Math.floor(rank);
    const want = sorted[lo]! + (rank - lo) * (sorted[Math.min(lo + 1, sorted.length - 1)]! - sorted[lo]!);
    assert.ok(close(histogramPercentile(h, p), want, 1e-9), `p${p}`);
  }
  // A mask restricts the counted pixels.
  const masked = histogramOf(Uint8Array.from([1, 2, 3, 4]), 8, Uint8Array.from([1, 0, 1, 0]));
  assert.equal(masked.total, 2);
  assert.equal(histogramStats(masked).mean, 2);
});

test('z-score and percentile normalisers fitted on a sample', () => {
  const vals = Uint8Array.from({ length: 200 }, (_, i) => 50 + (i % 101));
  const h = histogramOf(vals, 8);
  const z = fitNormalizer({ kind: 'zscore' }, 8, h).apply(vals);
  const m = z.reduce((a, b) => a + b, 0) / z.length;
  const sd = Math.sqrt(z.reduce((a, b) => a + (b - m) ** 2, 0) / z.length);
  assert.ok(close(m, 0, 1e-4) && close(sd, 1, 1e-4), `mean ${m} std ${sd}`);
  const p = fitNormalizer({ kind: 'percentile', low: 1, high: 99 }, 8, h);
  const lo = histogramPercentile(h, 1);
  const hi = histogramPercentile(h, 99);
  assert.ok(close(p.lut[Math.ceil(hi)]!, 1) && close(p.lut[Math.floor(lo)]!, 0));
  assert.ok(close(p.lut[100]!, (100 - lo) / (hi - lo)));
  assert.equal(p.lut[0], 0);
  assert.equal(p.lut[255], 1);
  assert.throws(() => fitNormalizer({ kind: 'zscore' }, 8), /needs a sample of the volume/);
});

test("histogram matching maps a volume's quantiles onto a reference's, in [0,1]", () => {
  const rng = createRng(5);
  const src = Uint8Array.from({ length: 5000 }, () => 40 + rng.int(60)); // uniform on 40..99
  const ref = Uint8Array.from({ length: 5000 }, () => 100 + 2 * rng.int(70)); // uniform on 100..238 (even)
  const hs = histogramOf(src, 8);
  const hr: ValueHistogram = histogramOf(ref, 8);
  const n = fitNormalizer({ kind: 'histogram', reference: hr }, 8, hs);
  const out = n.apply(src);
  const matched = Uint8Array.from(out, (x) => Math.round(x * 255));
  const hm = histogramOf(matched, 8);
  for (const p of [10, 50, 90]) {
    assert.ok(
      Math.abs(histogramPercentile(hm, p) - histogramPercentile(hr, p)) <= 3,
      `p${p}: ${histogramPercentile(hm, p)} vs ${histogramPercentile(hr, p)}`,
    );
  }
  // Monotone, and the identity when matched against itself (up to quantisation).
  for (let v = 1; v < 256; v++) assert.ok(n.lut[v]! >= n.lut[v - 1]!);
  const self = fitNormalizer({ kind: 'histogram', reference: hs }, 8, hs);
  for (let v = 40; v < 100; v++) assert.ok(Math.abs(self.lut[v]! * 255 - v) <= 1, `${v} -> ${self.lut[v]! * 255}`);
});

test('parseNormalizeSpec spellings and errors', () => {
  assert.deepEqual(parseNormalizeSpec('none'), { kind: 'none' });
  assert.deepEqual(parseNormalizeSpec('scale'), { kind: 'scale' });
  assert.deepEqual(parseNormalizeSpec('scale:65535'), { kind: 'scale', divisor: 65535 });
  assert.deepEqual(parseNormalizeSpec('clip:0:200'), { kind: 'clip', low: 0, high: 200 });
  assert.deepEqual(parseNormalizeSpec('clip:0:200:255'), { kind: 'clip', low: 0, high: 200, divisor: 255 });
  assert.deepEqual(parseNormalizeSpec('percentile:1:99'), { kind: 'percentile', low: 1, high: 99 });
  assert.deepEqual(parseNormalizeSpec('zscore'), { kind: 'zscore' });
  assert.throws(() => parseNormalizeSpec('clip:0'), /'clip' takes 2-3 numbers/);
  assert.throws(() => parseNormalizeSpec('percentile:a:9'), /non-numeric argument 'a'/);
  assert.throws(() => parseNormalizeSpec('minmax'), /unknown normalisation 'minmax'/);
});

test("a volume's statistics come from a sample inside its mask only", async () => {
  const root = join(tempDir(), 'seg');
  const h = 64;
  const w = 64;
  // Inside the mask (rows 16..48, cols 16..48): values 100..139; outside: 0 (air). A z-score fitted on
  // the whole image would see mostly zeros.
  const layer = new Uint8Array(h * w);
  for (let y = 16; y < 48; y++) for (let x = 16; x < 48; x++) layer[y * w + x] = 100 + ((x + y) % 40);
  for (let z = 0; z < 3; z++) await writeImage(join(root, 'layers', `0${z}.tif`), layer, h, w);
  await writeMask(join(root, 'seg_mask.png'), rectMask(h, w, 16, 48, 16, 48), h, w);
  const vol = await Volume.open(root, { normalize: { kind: 'zscore' } });
  const norm = await vol.normalizer({ windows: 16, size: 16, seed: 1 });
  assert.ok(norm.stats!.min >= 100 && norm.stats!.max <= 139, `sampled ${norm.stats!.min}..${norm.stats!.max}`);
  assert.ok(close(norm.stats!.mean, 119.5, 2));
  const win = await vol.readWindowNormalized(0, 1, 20, 24, 20, 24);
  assert.equal(win.data.length, 16);
  const raw = await vol.readWindow(0, 1, 20, 24, 20, 24);
  assert.ok(win.data.every((x, i) => close(x, (raw.data[i]! - norm.stats!.mean) / norm.stats!.std)));
  // Same seed, same fit.
  const again = await (await Volume.open(root, { normalize: { kind: 'zscore' } })).normalizer({
    windows: 16,
    size: 16,
    seed: 1,
  });
  assert.equal(again.stats!.mean, norm.stats!.mean);
});
