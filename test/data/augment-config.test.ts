import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Augmenter } from '../../src/data/augment/compose.js';
import {
  flipAugmentations,
  intensityAugmentations,
  kaggleAugmentations,
  referenceAugmentations,
  scaleAugmentations,
} from '../../src/data/augment/presets.js';
import { Random } from '../../src/data/augment/random.js';
import { benchAugment } from '../../src/bench/data-augment.js';
import type { AugmentConfig, Crop } from '../../src/data/augment/types.js';

function tile(depth: number, size: number): Crop {
  const r = new Random(11);
  const data = new Float32Array(depth * size * size).map(() => Math.floor(r.next() * 256));
  const label = new Uint8Array(size * size).map(() => (r.next() < 0.2 ? 1 : 0));
  return { data, depth, height: size, width: size, label };
}

test('presets are plain JSON: a round trip gives identical augmentations', () => {
  for (const cfg of [referenceAugmentations(), kaggleAugmentations()]) {
    const copy = JSON.parse(JSON.stringify(cfg)) as AugmentConfig;
    assert.deepEqual(copy, cfg);
    const t = tile(22, 32);
    assert.deepEqual(new Augmenter(copy).apply(t, 5).data, new Augmenter(cfg).apply(t, 5).data);
  }
});

test('the Kaggle preset keeps depth and labels aligned in shape', () => {
  const aug = new Augmenter(kaggleAugmentations());
  for (let seed = 0; seed < 10; seed++) {
    const out = aug.apply(tile(22, 32), seed);
    assert.equal(out.depth, 22);
    assert.equal((out.label as Uint8Array).length, out.height * out.width);
    assert.ok(out.data.every((v) => v >= 0 && v <= 1));
  }
});

test('flips only move voxels; the intensity preset also changes their values, keeping shapes and labels', () => {
  const sorted = (a: Float32Array) => Float64Array.from(a).sort();
  const t = tile(16, 32);
  const unit = t.data.map((v) => v / 255);
  let changed = 0;
  for (let seed = 0; seed < 10; seed++) {
    const flipped = new Augmenter(flipAugmentations()).apply(t, seed);
    assert.deepEqual(sorted(flipped.data), sorted(unit));
    const out = new Augmenter(intensityAugmentations()).apply(t, seed);
    assert.equal(out.depth, 16);
    assert.equal((out.label as Uint8Array).length, 32 * 32);
    assert.deepEqual(
      sorted(Float32Array.from(out.label as Uint8Array)),
      sorted(Float32Array.from(t.label as Uint8Array)),
    );
    if (sorted(out.data).some((v, i) => Math.abs(v - sorted(unit)[i]!) > 1e-3)) changed++;
  }
  // brightness/contrast at p .75 alone leaves about 2.5 of 10 draws untouched by it
  assert.ok(changed >= 6, `intensity changed values in ${changed} of 10 draws`);
});

test('the scale preset zooms strokes by 0.5..1.5 and keeps image and label aligned', () => {
  // A vertical stroke 8 px wide through a 64 x 64 tile, in every slice and in the label.
  const [D, S] = [4, 64];
  const data = new Float32Array(D * S * S).fill(40);
  const label = new Uint8Array(S * S);
  for (let y = 0; y < S; y++) {
    for (let x = 28; x < 36; x++) {
      label[y * S + x] = 1;
      for (let z = 0; z < D; z++) data[z * S * S + y * S + x] = 200;
    }
  }
  const aug = new Augmenter(scaleAugmentations());
  const areas: number[] = [];
  for (let seed = 0; seed < 40; seed++) {
    const out = aug.apply({ data, depth: D, height: S, width: S, label }, seed);
    const lab = out.label as Uint8Array;
    areas.push(lab.reduce((a, v) => a + v, 0));
    // Where the label says ink, the image is bright (the same warp moved both).
    let inside = 0;
    let n = 0;
    lab.forEach((v, i) => {
      if (v) {
        inside += out.data[i]!;
        n++;
      }
    });
    if (n > 0) assert.ok(inside / n > 120 / 255, `seed ${seed}: mean image under the label ${(inside / n).toFixed(3)}`);
  }
  const original = 8 * S;
  assert.ok(Math.min(...areas) < 0.75 * original, `smallest stroke area ${Math.min(...areas)} of ${original}`);
  assert.ok(Math.max(...areas) > 1.25 * original, `largest stroke area ${Math.max(...areas)} of ${original}`);
});

test('config errors name the op, the field and what was expected', () => {
  assert.throws(() => new Augmenter({ ops: [{ type: 'flipp' } as never] }), /ops\[0\] has unknown type "flipp"/);
  assert.throws(() => new Augmenter({ ops: [{ type: 'hflip', p: 2 }] }), /ops\[0\] \(hflip\)\.p must be <= 1, got 2/);
  assert.throws(
    () => new Augmenter({ ops: [{ type: 'shiftScaleRotate', rotat: 4 } as never] }),
    /unknown field 'rotat'/,
  );
  assert.throws(
    () => new Augmenter({ ops: [{ type: 'gaussianBlur', blurLimit: [3, 6] }] }),
    /blurLimit must hold odd sizes/,
  );
  assert.throws(
    () => new Augmenter({ ops: [{ type: 'oneOf', ops: [{ type: 'gaussNoise', varLimit: [5, 1] }] }] }),
    /ops\[0\] \(oneOf\)\.ops\[0\] \(gaussNoise\)\.varLimit must have low <= high/,
  );
  assert.throws(() => new Augmenter({ ops: [], extra: 1 } as never), /unknown field 'extra'/);
  assert.throws(
    () =>
      new Augmenter(referenceAugmentations()).apply({ data: new Float32Array(5), depth: 1, height: 2, width: 2 }, 0),
    /crop data must be a Float32Array of 1x2x2/,
  );
});

test('benchAugment reports crops per second for two-view reference-study crops', () => {
  const r = benchAugment({ runs: 1, cropsPerRun: 3, size: 32 });
  assert.equal(r.pipeline, 'reference');
  assert.ok(r.crops_per_s > 0 && r.ms_per_two_view_crop > 0);
  assert.deepEqual(r.view, [20, 32, 32]);
  assert.deepEqual(r.tile, [22, 32, 32]);
});
