import { test } from 'node:test';
import assert from 'node:assert/strict';
import { synthFragment, FRAGMENT_SCALE } from '../../src/data/synth/fragment.js';
import { synthSegment } from '../../src/data/synth/segment.js';
import { dilate3, fractionWithin, shiftMask, validRegion } from '../../src/data/synth/masks.js';
import { rocAuc } from '../../src/data/synth/calibrate.js';
import { Random } from '../../src/data/augment/random.js';

test('synthFragment is deterministic under a seed and differs across seeds', () => {
  const a = synthFragment({ height: 64, width: 80, layers: 24, seed: 5 });
  const b = synthFragment({ height: 64, width: 80, layers: 24, seed: 5 });
  const c = synthFragment({ height: 64, width: 80, layers: 24, seed: 6 });
  assert.deepEqual(a.volume, b.volume);
  assert.deepEqual(a.labels, b.labels);
  assert.deepEqual(a.info, b.info);
  assert.notDeepEqual(a.volume, c.volume);
  assert.ok(a.volume instanceof Uint16Array);
  assert.equal(a.volume.length, 24 * 64 * 80);
});

test('fragment: uint16 papyrus around 30000, zero outside the valid region, labels inside it', () => {
  const f = synthFragment({ height: 128, width: 128, seed: 1 });
  const plane = 128 * 128;
  let n = 0;
  let sum = 0;
  for (let i = 0; i < plane; i++) {
    if (!f.mask[i]) {
      for (let z = 0; z < f.layers; z++) assert.equal(f.volume[z * plane + i], 0);
      assert.equal(f.labels[i], 0);
      continue;
    }
    // Deep inside the sheet: 8 layers below the surface.
    const z = Math.round((f.surface[i] as number) + 8);
    sum += f.volume[z * plane + i] as number;
    n++;
  }
  const mean = sum / n;
  assert.ok(Math.abs(mean - FRAGMENT_SCALE) < 3000, `papyrus mean ${mean}`);
  assert.ok(Math.abs(f.info.maskFraction - 0.57) < 0.01);
  assert.ok(f.info.inkFraction > 0.08 && f.info.inkFraction < 0.3, `ink ${f.info.inkFraction}`);
  assert.ok(Math.abs(f.info.labelShift[0]) <= 2 && Math.abs(f.info.labelShift[1]) <= 2);
});

test('fragment labels are the ink shifted by the reported offset (and dilated when reported)', () => {
  const f = synthFragment({ height: 96, width: 96, seed: 3, labelShift: [2, -1], dilateLabels: false });
  const expect = shiftMask(f.ink, 96, 96, 2, -1).map((v, i) => (f.mask[i] ? v : 0));
  assert.deepEqual(f.labels, expect);
  const g = synthFragment({ height: 96, width: 96, seed: 3, labelShift: [0, 0], dilateLabels: true });
  assert.deepEqual(
    g.labels,
    dilate3(g.ink, 96, 96).map((v, i) => (g.mask[i] ? v : 0)),
  );
  assert.ok(fractionWithin(g.labels, g.mask) > fractionWithin(g.ink, g.mask));
});

test('a reversed segment is the same volume with its layer order flipped', () => {
  const opts = { height: 48, width: 48, layers: 40, seed: 11 };
  const fwd = synthSegment(opts);
  const rev = synthSegment({ ...opts, reversed: true });
  const plane = 48 * 48;
  for (let z = 0; z < 40; z++) {
    assert.deepEqual(
      rev.volume.subarray(z * plane, (z + 1) * plane),
      fwd.volume.subarray((39 - z) * plane, (40 - z) * plane),
    );
  }
  assert.equal(rev.info.reversed, true);
  assert.equal(rev.info.surfaceLayer, 39 - fwd.info.surfaceLayer);
  assert.ok(fwd.volume instanceof Uint8Array);
  assert.ok(fwd.info.sheets >= 3 && fwd.info.sheets <= 6);
  assert.equal(fwd.info.inkDelta, 0.09, 'scroll ink is half the fragment step');
});

test('segment intensities: papyrus in the ~147 +- 32 range, air dark', () => {
  const s = synthSegment({ height: 96, width: 96, seed: 2, sheets: 4 });
  const plane = 96 * 96;
  let hi = 0;
  let nHi = 0;
  let lo = 0;
  let nLo = 0;
  for (let z = 0; z < s.layers; z++)
    for (let i = 0; i < plane; i++) {
      if (!s.mask[i]) continue;
      const v = s.volume[z * plane + i] as number;
      if (v > 80) {
        hi += v;
        nHi++;
      } else {
        lo += v;
        nLo++;
      }
    }
  assert.ok(hi / nHi > 105 && hi / nHi < 185, `papyrus mean ${hi / nHi}`);
  assert.ok(lo / nLo < 40, `dark mean ${lo / nLo}`);
});

test('valid region covers the requested share; rocAuc matches hand-computed values with ties', () => {
  const m = validRegion(100, 120, 0.57, new Random(4));
  assert.ok(Math.abs(m.reduce((a, b) => a + b, 0) / 12000 - 0.57) < 0.005);
  assert.equal(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75);
  assert.equal(rocAuc([1, 1, 1, 1], [0, 1, 0, 1]), 0.5);
  assert.equal(rocAuc([3, 1, 2, 9], [1, 0, 0, 1], [1, 1, 1, 0]), 1);
  assert.throws(() => rocAuc([1, 2], [1, 1]), /need both classes/);
});

/** Standard deviation of a fragment's surface inside the frame, and its median slope (layers per px). */
function surfaceShape(s: Float32Array, h: number, w: number): { sd: number; slope: number } {
  let sum = 0;
  for (const v of s) sum += v;
  const mean = sum / s.length;
  let q = 0;
  for (const v of s) q += (v - mean) ** 2;
  const slopes: number[] = [];
  for (let y = 0; y < h - 1; y++)
    for (let x = 0; x < w - 1; x++) {
      const i = y * w + x;
      slopes.push(Math.hypot((s[i + 1] as number) - (s[i] as number), (s[i + w] as number) - (s[i] as number)));
    }
  slopes.sort((a, b) => a - b);
  return { sd: Math.sqrt(q / s.length), slope: slopes[slopes.length >> 1] as number };
}

test('fragment surface wander: the amplitude scales the wander, a shorter length makes it steeper', () => {
  const base = { height: 192, width: 192, layers: 40, seed: 8 };
  const flat = surfaceShape(synthFragment({ ...base, wander: { amplitude: 0, length: 60 } }).surface, 192, 192);
  const dflt = surfaceShape(synthFragment(base).surface, 192, 192);
  const same = surfaceShape(synthFragment({ ...base, wander: { amplitude: 4, length: 60 } }).surface, 192, 192);
  const steep = surfaceShape(synthFragment({ ...base, wander: { amplitude: 4, length: 20 } }).surface, 192, 192);
  assert.deepEqual(same, dflt, 'the defaults are amplitude 4, length 60');
  // Without wander only the 0.004 layers/px tilt is left: at most 0.004 * 192 * sqrt(2) / sqrt(12) ~ 0.3 layers.
  assert.ok(flat.sd < 0.35, `tilt only: sd ${flat.sd}`);
  assert.ok(dflt.sd > 5 * flat.sd, `wander sd ${dflt.sd} vs tilt ${flat.sd}`);
  assert.ok(steep.slope > 2 * dflt.slope, `slope at length 20: ${steep.slope}, at 60: ${dflt.slope}`);
  assert.throws(() => synthFragment({ ...base, wander: { amplitude: 4, length: 0 } }), /wander needs.*length > 0/);
});

test('segment undulation follows its wander option (default amplitude 3, length 60)', () => {
  const base = { height: 160, width: 160, layers: 48, seed: 4, sheets: 1 };
  const volumeOf = (o: Parameters<typeof synthSegment>[0]) => synthSegment(o).volume;
  assert.deepEqual(volumeOf({ ...base, wander: { amplitude: 3, length: 60 } }), volumeOf(base));
  // One sheet without undulation: every column of the sheet's bright layers starts at the same depth, so the
  // per-layer mean over the mask jumps more steeply than with 6 layers of undulation.
  const steepness = (v: Uint8Array) => {
    const plane = 160 * 160;
    const means = Array.from({ length: 48 }, (_, z) => {
      let s = 0;
      for (let i = 0; i < plane; i++) s += v[z * plane + i] as number;
      return s / plane;
    });
    return Math.max(...means.slice(1).map((m, z) => m - (means[z] as number)));
  };
  assert.ok(steepness(volumeOf({ ...base, wander: { amplitude: 0, length: 60 } })) > 1.5 * steepness(volumeOf(base)));
  assert.throws(() => synthSegment({ ...base, wander: { amplitude: -1, length: 60 } }), /wander needs amplitude >= 0/);
});

test('fragment glyphs: thinner strokes ink less of the mask', () => {
  const base = { height: 256, width: 256, layers: 24, seed: 2 };
  const broad = synthFragment(base).info.inkFraction;
  const thin = synthFragment({ ...base, glyphs: { halfWidth: [1.5, 2] } }).info.inkFraction;
  assert.ok(thin < 0.7 * broad, `half-width 1.5..2: ink ${thin}, default 3..5: ${broad}`);
});
