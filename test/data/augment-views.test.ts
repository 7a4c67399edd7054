import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Augmenter, twoViews } from '../../src/data/augment/compose.js';
import { referenceAugmentations } from '../../src/data/augment/presets.js';
import { Random } from '../../src/data/augment/random.js';
import type { Crop } from '../../src/data/augment/types.js';

function randomTile(depth: number, size: number, seed: number): Crop {
  const r = new Random(seed);
  const data = new Float32Array(depth * size * size);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(r.next() * 256);
  return { data, depth, height: size, width: size };
}

test('the reference-study pipeline gives two 20x128x128 views in [0, 1] that differ', () => {
  const tile = randomTile(22, 128, 1);
  const [a, b] = twoViews(tile, referenceAugmentations(), 123);
  for (const v of [a, b]) {
    assert.deepEqual([v.depth, v.height, v.width], [20, 128, 128]);
    assert.ok(
      v.data.every((x) => x >= 0 && x <= 1),
      'normalised to [0, 1]',
    );
  }
  assert.notDeepEqual(a.data, b.data);
});

test('augmentation is deterministic under a seed and leaves the input alone', () => {
  const tile = randomTile(22, 64, 2);
  const before = tile.data.slice();
  const aug = new Augmenter(referenceAugmentations());
  for (let seed = 0; seed < 8; seed++) {
    const [a1, b1] = aug.twoViews(tile, seed);
    const [a2, b2] = aug.twoViews(tile, seed);
    assert.deepEqual(a1.data, a2.data);
    assert.deepEqual(b1.data, b2.data);
    assert.deepEqual(aug.apply(tile, seed).data, a1.data, 'apply(seed) is the first view');
  }
  assert.deepEqual(tile.data, before);
  assert.notDeepEqual(aug.apply(tile, 1).data, aug.apply(tile, 2).data);
});

test('two views come from the same tile: shared z-shift, each view a flip/rotation of it', () => {
  const size = 16;
  const tile = randomTile(22, size, 3);
  const aug = new Augmenter({
    pre: [{ type: 'zShift', choices: [0, 1, 2], depth: 20 }],
    ops: [{ type: 'hflip' }, { type: 'vflip' }, { type: 'rot90' }],
  });
  const plane = size * size;
  let differing = 0;
  for (let seed = 0; seed < 30; seed++) {
    const [a, b] = aug.twoViews(tile, seed);
    if (!a.data.every((v, i) => v === b.data[i])) differing++;
    // Find the shared offset: every slice of each view is a permutation of the same source slice.
    const sorted = (arr: Float32Array) => [...arr].sort((x, y) => x - y).join(',');
    const offsets = [0, 1, 2].filter(
      (off) => sorted(a.data.subarray(0, plane)) === sorted(tile.data.subarray(off * plane, (off + 1) * plane)),
    );
    assert.equal(offsets.length, 1);
    const off = offsets[0] as number;
    for (let z = 0; z < 20; z++) {
      const src = sorted(tile.data.subarray((z + off) * plane, (z + off + 1) * plane));
      assert.equal(sorted(a.data.subarray(z * plane, (z + 1) * plane)), src);
      assert.equal(
        sorted(b.data.subarray(z * plane, (z + 1) * plane)),
        src,
        `seed ${seed}: view b slice ${z} is from another offset`,
      );
    }
  }
  assert.ok(differing > 15, `only ${differing} of 30 view pairs differ`);
});
