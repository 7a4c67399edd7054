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
