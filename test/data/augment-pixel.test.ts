import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Augmenter } from '../../src/data/augment/compose.js';
import {
  gaussianKernel,
  linePixels,
  motionKernel,
  opencvGaussianKernel,
  opencvSigma,
  symmetricBlurInPlace,
} from '../../src/data/augment/blur.js';
import { holeSize } from '../../src/data/augment/pixel.js';
import type { Crop, OpConfig } from '../../src/data/augment/types.js';

function flat(depth: number, h: number, w: number, value: number): Crop {
  return { data: new Float32Array(depth * h * w).fill(value), depth, height: h, width: w };
}

function run(op: OpConfig, crop: Crop, seed = 1): Crop {
  return new Augmenter({ ops: [op] }).apply(crop, seed);
}

test('brightness changes clamp instead of wrapping around (the reference study added offsets to uint8)', () => {
  for (let seed = 0; seed < 20; seed++) {
    const out = run({ type: 'brightnessOffset', choices: [5, 10] }, flat(2, 4, 4, 250), seed);
    assert.ok(
      [...out.data].every((v) => v === 255),
      `seed ${seed}: ${out.data[0]}`,
    );
    const bc = run(
      { type: 'brightnessContrast', brightnessLimit: 0.5, contrastLimit: 0.5, p: 1 },
      flat(1, 4, 4, 250),
      seed,
    );
    assert.ok([...bc.data].every((v) => v >= 0 && v <= 255));
    const noisy = run({ type: 'gaussNoise', varLimit: [400, 400], p: 1 }, flat(1, 32, 32, 250), seed);
    assert.ok([...noisy.data].every((v) => v >= 0 && v <= 255));
    assert.ok(
      [...noisy.data].some((v) => v === 255),
      'noise near the top should hit the clamp',
    );
  }
});

test('gaussian noise has the drawn variance, independent per voxel or shared across slices', () => {
  const out = run({ type: 'gaussNoise', varLimit: [36, 36], p: 1 }, flat(4, 64, 64, 128));
  let s = 0;
  for (const v of out.data) s += (v - 128) ** 2;
  assert.ok(Math.abs(Math.sqrt(s / out.data.length) - 6) < 0.1);
  const plane = 64 * 64;
  assert.notDeepEqual(out.data.subarray(0, plane), out.data.subarray(plane, 2 * plane));
  const shared = run({ type: 'gaussNoise', varLimit: [36, 36], perVoxel: false, p: 1 }, flat(4, 64, 64, 128));
  assert.deepEqual(shared.data.subarray(0, plane), shared.data.subarray(plane, 2 * plane));
});

test('gamma and normalize map the 0..255 scale as albumentations does', () => {
  const crop: Crop = { data: Float32Array.from([0, 63.75, 127.5, 255]), depth: 1, height: 1, width: 4 };
  const g = run({ type: 'gamma', gammaLimit: [200, 200], p: 1 }, crop);
  assert.deepEqual(
    [...g.data].map((v) => Math.round(v * 1000) / 1000),
    [0, 15.938, 63.75, 255],
  );
  const n = run({ type: 'normalize' }, crop);
  assert.deepEqual([...n.data], [0, 0.25, 0.5, 1]);
});

test('blur kernels follow OpenCV: getGaussianKernel(3, 0) = [.25, .5, .25], sigma rule, constants preserved', () => {
  assert.deepEqual([...opencvGaussianKernel(3, 0)], [0.25, 0.5, 0.25]);
  assert.deepEqual([...opencvGaussianKernel(7, 0)], [0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125]);
  assert.ok(
    Math.abs((opencvGaussianKernel(9, 0)[4] as number) - (gaussianKernel(9, opencvSigma(9))[4] as number)) < 1e-7,
  );
  assert.ok(Math.abs(opencvSigma(7) - 1.4) < 1e-12);
  const c = flat(2, 9, 11, 77);
  symmetricBlurInPlace(c.data, 2, 9, 11, gaussianKernel(7, opencvSigma(7)));
  assert.ok([...c.data].every((v) => Math.abs(v - 77) < 1e-3));
  // An impulse spreads into the kernel's outer product.
  const imp = flat(1, 9, 9, 0);
  imp.data[4 * 9 + 4] = 1;
  const k = gaussianKernel(5, opencvSigma(5));
  symmetricBlurInPlace(imp.data, 1, 9, 9, k);
  for (let dy = -2; dy <= 2; dy++)
    for (let dx = -2; dx <= 2; dx++) {
      assert.ok(
        Math.abs((imp.data[(4 + dy) * 9 + 4 + dx] as number) - (k[dy + 2] as number) * (k[dx + 2] as number)) < 1e-6,
      );
    }
});

test('motion blur kernels are 8-connected lines that sum to one; blurred constants stay constant', () => {
  const pts = linePixels(0, 0, 6, 2);
  assert.equal(pts.length, 7);
  for (let i = 1; i < pts.length; i++) {
    const [ax, ay] = pts[i - 1] as [number, number];
    const [bx, by] = pts[i] as [number, number];
    assert.ok(Math.max(Math.abs(ax - bx), Math.abs(ay - by)) === 1);
  }
  const k = motionKernel(7, 0, 0, 6, 2);
  assert.ok(Math.abs(k.w.reduce((a, b) => a + b, 0) - 1) < 1e-6);
  for (let seed = 0; seed < 10; seed++) {
    const out = run({ type: 'motionBlur', p: 1 }, flat(2, 16, 16, 40), seed);
    assert.ok([...out.data].every((v) => Math.abs(v - 40) < 1e-3));
  }
});

test("coarse dropout: the reference study's 4 holes of int(128 * .06) = 7 px, label zeroed in the holes", () => {
  assert.equal(holeSize(0.06, 128), 7);
  assert.equal(holeSize(0.15, 128), 19);
  const label = new Uint8Array(128 * 128).fill(1);
  for (let seed = 0; seed < 10; seed++) {
    const out = run(
      { type: 'coarseDropout', maxHoles: 4, maxWidth: 0.06, maxHeight: 0.06, maskFillValue: 0, p: 1 },
      { ...flat(3, 128, 128, 100), label },
      seed,
    );
    const plane = 128 * 128;
    let zeros = 0;
    for (let i = 0; i < plane; i++) {
      const hole = out.data[i] === 0;
      if (hole) zeros++;
      assert.equal(out.data[plane + i] === 0, hole, 'every slice has the same holes');
      assert.equal((out.label as Uint8Array)[i] === 0, hole, 'the label follows the holes');
    }
    assert.ok(zeros >= 49 && zeros <= 4 * 49, `seed ${seed}: ${zeros} zero pixels`);
  }
  assert.equal(label[0], 1, 'the input label is not modified');
});

test('cutout: one hole of at most 19 x 19, clipped at the border, image only', () => {
  const label = new Uint8Array(128 * 128).fill(1);
  for (let seed = 0; seed < 20; seed++) {
    const out = run(
      { type: 'cutout', numHoles: 1, maxHSize: 0.15, maxWSize: 0.15, p: 1 },
      { ...flat(1, 128, 128, 50), label },
      seed,
    );
    const zeros = [...out.data].filter((v) => v === 0).length;
    assert.ok(zeros <= 19 * 19 && zeros > 0, `seed ${seed}: ${zeros}`);
    assert.ok([...(out.label as Uint8Array)].every((v) => v === 1));
  }
});

test('channel dropout zeroes whole slices, never all of them', () => {
  const src = flat(6, 8, 8, 9);
  for (let seed = 0; seed < 20; seed++) {
    const out = run({ type: 'channelDropout', dropRange: [1, 2], p: 1 }, src, seed);
    let dropped = 0;
    for (let z = 0; z < 6; z++) {
      const sl = out.data.subarray(z * 64, (z + 1) * 64);
      if (sl.every((v) => v === 0)) dropped++;
      else assert.ok(sl.every((v) => v === 9));
    }
    assert.ok(dropped >= 1 && dropped <= 2);
  }
  assert.throws(() => run({ type: 'channelDropout', dropRange: [1, 6], p: 1 }, src), /at least one must remain/);
});
