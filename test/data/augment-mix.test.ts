import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cutmix, cutmixBox, mixBatch, mixup } from '../../src/data/augment/mix.js';
import { Random } from '../../src/data/augment/random.js';
import type { Crop } from '../../src/data/augment/types.js';

function constant(value: number, label: number, depth = 3, h = 10, w = 12): Crop {
  return {
    data: new Float32Array(depth * h * w).fill(value),
    depth,
    height: h,
    width: w,
    label: new Uint8Array(h * w).fill(label),
  };
}

test('cutmix pastes the box from b into every slice and the label; lam is the share of a', () => {
  const a = constant(1, 0);
  const b = constant(2, 1);
  const box = { x1: 2, y1: 3, x2: 7, y2: 9 };
  const { crop, lam } = cutmix(a, b, box);
  assert.equal(lam, 1 - (5 * 6) / 120);
  const plane = 120;
  for (let z = 0; z < 3; z++)
    for (let y = 0; y < 10; y++)
      for (let x = 0; x < 12; x++) {
        const inside = x >= 2 && x < 7 && y >= 3 && y < 9;
        assert.equal(crop.data[z * plane + y * 12 + x], inside ? 2 : 1);
        if (z === 0) assert.equal((crop.label as Uint8Array)[y * 12 + x], inside ? 1 : 0);
      }
  assert.ok(crop.label instanceof Uint8Array, 'hard labels stay hard under cutmix');
  assert.equal(a.data[0], 1, 'inputs untouched');
});

test('cutmix boxes have side sqrt(1 - lam) and stay inside the plane', () => {
  const r = new Random(4);
  for (let i = 0; i < 200; i++) {
    const lam = r.next();
    const b = cutmixBox(32, 40, lam, r);
    assert.ok(b.x1 >= 0 && b.x2 <= 40 && b.y1 >= 0 && b.y2 <= 32 && b.x1 <= b.x2 && b.y1 <= b.y2);
    assert.ok(b.x2 - b.x1 <= Math.floor(40 * Math.sqrt(1 - lam)));
  }
});

test('mixup mixes voxels and labels with the same lambda into soft labels', () => {
  const out = mixup(constant(10, 1), constant(20, 0), 0.3);
  assert.ok(out.data.every((v) => Math.abs(v - (0.3 * 10 + 0.7 * 20)) < 1e-5));
  assert.ok(out.label instanceof Float32Array);
  assert.ok((out.label as Float32Array).every((v) => Math.abs(v - 0.3) < 1e-6));
  assert.throws(() => mixup(constant(1, 0), constant(1, 0, 2), 0.5), /same shape/);
});

test('mixBatch is deterministic and reports what it mixed', () => {
  const crops = [0, 1, 2, 3, 4, 5].map((i) => constant(i, i % 2));
  const a = mixBatch(crops, { cutmixP: 0.5, mixupP: 0.5 }, new Random(8));
  const b = mixBatch(crops, { cutmixP: 0.5, mixupP: 0.5 }, new Random(8));
  assert.deepEqual(a.mixed, b.mixed);
  a.crops.forEach((c, i) => assert.deepEqual(c.data, (b.crops[i] as Crop).data));
  assert.ok(a.mixed.some((m) => m !== null));
  const none = mixBatch(crops, {}, new Random(8));
  assert.ok(none.mixed.every((m) => m === null));
});
