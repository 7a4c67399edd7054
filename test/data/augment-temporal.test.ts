import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Augmenter } from '../../src/data/augment/compose.js';
import type { Crop } from '../../src/data/augment/types.js';

/** Slice z holds the value z + 1 everywhere, so slices can be recognised after the op. */
function layered(depth: number, h = 4, w = 5): Crop {
  const data = new Float32Array(depth * h * w);
  for (let z = 0; z < depth; z++) data.fill(z + 1, z * h * w, (z + 1) * h * w);
  return { data, depth, height: h, width: w };
}

function sliceValues(c: Crop): number[] {
  const plane = c.height * c.width;
  return Array.from({ length: c.depth }, (_, z) => {
    const s = c.data.subarray(z * plane, (z + 1) * plane);
    assert.ok(
      s.every((v) => v === s[0]),
      'a slice stays a whole slice',
    );
    return s[0] as number;
  });
}

test('temporal augmentation (4th place): a contiguous block pasted into zeros, at most 2 slices cut out', () => {
  const aug = new Augmenter({ ops: [{ type: 'temporal', minSlices: 12, maxSlices: 22, maxCutout: 2, cutoutP: 1 }] });
  const lengths = new Set<number>();
  for (let seed = 0; seed < 60; seed++) {
    const out = aug.apply(layered(22), seed);
    assert.equal(out.depth, 22);
    assert.equal(out.data.length, 22 * 20);
    const v = sliceValues(out);
    const nonzero = v.map((x, z) => [x, z] as const).filter(([x]) => x > 0);
    const first = nonzero[0];
    const last = nonzero[nonzero.length - 1];
    assert.ok(first !== undefined && last !== undefined);
    // Inside the pasted block consecutive source slices follow each other (value - depth is constant).
    const offset = first[0] - first[1];
    for (const [x, z] of nonzero) assert.equal(x - z, offset, `seed ${seed}: slice ${z} is not from the same block`);
    const span = last[1] - first[1] + 1;
    const holes = span - nonzero.length;
    assert.ok(holes >= 0 && holes <= 2, `seed ${seed}: ${holes} cut slices inside the block`);
    lengths.add(span);
    assert.ok(span <= 22 && nonzero.length >= 10);
  }
  assert.ok(lengths.size > 3, 'the crop length varies');
});

test('temporal clamps its slice counts to a shallower crop', () => {
  const out = new Augmenter({ ops: [{ type: 'temporal', minSlices: 12, maxSlices: 22, cutoutP: 0 }] }).apply(
    layered(8),
    3,
  );
  assert.equal(out.depth, 8);
  assert.deepEqual(sliceValues(out), [1, 2, 3, 4, 5, 6, 7, 8]);
});

test('z-shift keeps 20 of 22 slices at an offset from {0, 1, 1, 2}', () => {
  const aug = new Augmenter({ pre: [{ type: 'zShift', choices: [0, 1, 1, 2], depth: 20 }], ops: [] });
  const offsets = new Map<number, number>();
  for (let seed = 0; seed < 400; seed++) {
    const out = aug.apply(layered(22), seed);
    assert.equal(out.depth, 20);
    const v = sliceValues(out);
    const off = (v[0] as number) - 1;
    assert.deepEqual(
      v,
      Array.from({ length: 20 }, (_, z) => z + 1 + off),
    );
    offsets.set(off, (offsets.get(off) ?? 0) + 1);
  }
  assert.deepEqual([...offsets.keys()].sort(), [0, 1, 2]);
  assert.ok((offsets.get(1) as number) > 150, 'offset 1 is drawn about half the time');
  assert.throws(() => aug.apply(layered(20), 5), /zShift: offset/);
});

test('z-flip reverses the slice order about half the time (p 0.5 by default), labels and masks untouched', () => {
  const aug = new Augmenter({ ops: [{ type: 'zflip' }] });
  let flipped = 0;
  for (let seed = 0; seed < 200; seed++) {
    const crop = layered(6);
    crop.label = Uint8Array.from({ length: 20 }, (_, i) => i % 2);
    const out = aug.apply(crop, seed);
    const v = sliceValues(out);
    if (v[0] === 6) {
      flipped++;
      assert.deepEqual(v, [6, 5, 4, 3, 2, 1]);
    } else assert.deepEqual(v, [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(
      [...(out.label as Uint8Array)],
      Array.from({ length: 20 }, (_, i) => i % 2),
    );
  }
  assert.ok(flipped > 70 && flipped < 130, `${flipped} of 200 flipped`);
  assert.deepEqual(sliceValues(new Augmenter({ ops: [{ type: 'zflip', p: 1 }] }).apply(layered(3), 1)), [3, 2, 1]);
  assert.throws(() => new Augmenter({ ops: [{ type: 'zflip', p: 1, depth: 3 } as never] }), /depth/);
});
