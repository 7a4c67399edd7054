import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  affineStage,
  fuseStages,
  gridTables,
  hflipStage,
  reflect101,
  resampleNearest,
  resampleVolume,
  rot90Stage,
  vflipStage,
} from '../../src/data/augment/geometry.js';
import { Augmenter } from '../../src/data/augment/compose.js';
import type { Crop } from '../../src/data/augment/types.js';

/** A crop whose voxel values encode their own (z, y, x). */
function codedCrop(depth: number, h: number, w: number): Crop {
  const data = new Float32Array(depth * h * w);
  for (let z = 0; z < depth; z++)
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[(z * h + y) * w + x] = z * 10000 + y * 100 + x;
  const label = new Uint8Array(h * w);
  for (let i = 0; i < label.length; i++) label[i] = i % 251;
  return { data, depth, height: h, width: w, label, mask: label.slice() };
}

function at(c: Crop, z: number, y: number, x: number): number {
  return c.data[(z * c.height + y) * c.width + x] as number;
}

test('hflip, vflip and rot90 are exact permutations with numpy semantics', () => {
  const h = 3;
  const w = 5;
  const src = codedCrop(2, h, w);
  const cases: [string, ReturnType<typeof hflipStage>, (y: number, x: number) => [number, number]][] = [
    ['hflip', hflipStage(h, w), (y, x) => [y, w - 1 - x]],
    ['vflip', vflipStage(h, w), (y, x) => [h - 1 - y, x]],
    // np.rot90(a, 1)[i][j] = a[j][W-1-i]; k=2: a[H-1-i][W-1-j]; k=3: a[H-1-j][i]
    ['rot90 k=1', rot90Stage(h, w, 1), (i, j) => [j, w - 1 - i]],
    ['rot90 k=2', rot90Stage(h, w, 2), (i, j) => [h - 1 - i, w - 1 - j]],
    ['rot90 k=3', rot90Stage(h, w, 3), (i, j) => [h - 1 - j, i]],
  ];
  for (const [name, stage, inv] of cases) {
    const plan = fuseStages([stage]);
    assert.equal(plan.exact, true, name);
    const out = resampleVolume(plan, src.data, src.depth);
    const lab = resampleNearest(plan, src.label as Uint8Array);
    for (let z = 0; z < 2; z++) {
      for (let y = 0; y < stage.outH; y++) {
        for (let x = 0; x < stage.outW; x++) {
          const [sy, sx] = inv(y, x);
          assert.equal(out[(z * stage.outH + y) * stage.outW + x], at(src, z, sy, sx), `${name} at ${z},${y},${x}`);
          if (z === 0) assert.equal(lab[y * stage.outW + x], (src.label as Uint8Array)[sy * w + sx]);
        }
      }
    }
  }
  // np.rot90([[1, 2], [3, 4]]) == [[2, 4], [1, 3]]
  const tiny: Crop = { data: Float32Array.from([1, 2, 3, 4]), depth: 1, height: 2, width: 2 };
  assert.deepEqual([...resampleVolume(fuseStages([rot90Stage(2, 2, 1)]), tiny.data, 1)], [2, 4, 1, 3]);
});

test('rot90 of a non-square crop swaps height and width through the runner', () => {
  const aug = new Augmenter({ ops: [{ type: 'rot90', p: 1 }] });
  const src = codedCrop(3, 4, 6);
  let swapped = 0;
  for (let s = 0; s < 12; s++) {
    const out = aug.apply(src, s);
    assert.equal(out.data.length, 3 * 4 * 6);
    assert.equal((out.label as Uint8Array).length, 24);
    if (out.height === 6 && out.width === 4) swapped++;
    else assert.deepEqual([out.height, out.width], [4, 6]);
  }
  assert.ok(swapped > 0 && swapped < 12);
});

test('shiftScaleRotate by +90 degrees equals np.rot90 (cv2 angles are counter-clockwise)', () => {
  const n = 8;
  const src = codedCrop(1, n, n);
  const viaAffine = resampleVolume(fuseStages([affineStage(n, n, 90, 1, 0, 0, 'reflect101', 0, 0)]), src.data, 1);
  const viaRot = resampleVolume(fuseStages([rot90Stage(n, n, 1)]), src.data, 1);
  for (let i = 0; i < viaRot.length; i++)
    assert.ok(Math.abs((viaAffine[i] as number) - (viaRot[i] as number)) < 1e-3, `pixel ${i}`);
});

test('identity shiftScaleRotate returns the input unchanged', () => {
  const src = codedCrop(2, 7, 9);
  const out = resampleVolume(fuseStages([affineStage(7, 9, 0, 1, 0, 0, 'reflect101', 0, 0)]), src.data, 2);
  assert.deepEqual(out, src.data);
});

test('a whole-pixel shift reflects at the border (BORDER_REFLECT_101) or fills a constant', () => {
  const w = 6;
  const row: Crop = { data: Float32Array.from([10, 11, 12, 13, 14, 15]), depth: 1, height: 1, width: w };
  // dx = 2/6 moves content 2 px right: out[x] = in[x - 2], reflect-101: in[-1] = in[1], in[-2] = in[2]
  const refl = resampleVolume(fuseStages([affineStage(1, w, 0, 1, 2 / w, 0, 'reflect101', 0, 0)]), row.data, 1);
  assert.deepEqual(
    [...refl].map((v) => Math.round(v * 1000) / 1000),
    [12, 11, 10, 11, 12, 13],
  );
  const cons = resampleVolume(fuseStages([affineStage(1, w, 0, 1, 2 / w, 0, 'constant', 7, 0)]), row.data, 1);
  assert.deepEqual(
    [...cons].map((v) => Math.round(v * 1000) / 1000),
    [7, 7, 10, 11, 12, 13],
  );
  assert.equal(reflect101(-1, 6), 1);
  assert.equal(reflect101(6, 6), 4);
  assert.equal(reflect101(12, 6), 2);
});

test('grid distortion tables follow albumentations (np.linspace per cell, endpoint included)', () => {
  const t = gridTables(8, 2, [1, 1, 1]);
  const expect = [0, 4 / 3, 8 / 3, 4, 4, 4 + 4 / 3, 4 + 8 / 3, 8];
  t.forEach((v, i) => assert.ok(Math.abs(v - (expect[i] as number)) < 1e-12, `entry ${i}: ${v}`));
  const d = gridTables(128, 2, [1.3, 0.7, 1]);
  assert.ok(Math.abs((d[63] as number) - 64 * 1.3) < 1e-9);
  assert.ok(Math.abs((d[127] as number) - 64 * 2) < 1e-9);
  for (let i = 1; i < d.length; i++) assert.ok((d[i] as number) >= (d[i - 1] as number));
});

test('geometric transforms keep a marker voxel and its label pixel together', () => {
  const h = 64;
  const w = 64;
  const depth = 4;
  const aug = new Augmenter({
    ops: [
      { type: 'hflip', p: 0.5 },
      { type: 'rot90', p: 0.5 },
      { type: 'shiftScaleRotate', shiftLimit: 0.1, scaleLimit: 0.1, rotateLimit: 45, p: 1, border: 'constant' },
      { type: 'gridDistortion', numSteps: 2, distortLimit: 0.3, p: 1, border: 'constant' },
    ],
  });
  let checked = 0;
  for (let seed = 0; seed < 40; seed++) {
    const data = new Float32Array(depth * h * w);
    const label = new Uint8Array(h * w);
    const mask = new Uint8Array(h * w);
    // A 3x3 marker near (but not at) the centre so rotations move it.
    for (let dy = -1; dy <= 1; dy++)
      for (let dx = -1; dx <= 1; dx++) {
        const i = (24 + dy) * w + (36 + dx);
        label[i] = 1;
        mask[i] = 1;
        for (let z = 0; z < depth; z++) data[z * h * w + i] = 200;
      }
    const out = aug.apply({ data, depth, height: h, width: w, label, mask }, seed);
    const plane = out.height * out.width;
    for (let z = 0; z < depth; z++) {
      let best = -1;
      let arg = -1;
      for (let i = 0; i < plane; i++)
        if ((out.data[z * plane + i] as number) > best) {
          best = out.data[z * plane + i] as number;
          arg = i;
        }
      if (best < 100) continue; // marker moved out of the frame
      const ly = Math.floor(arg / out.width);
      const lx = arg % out.width;
      // The label and mask pixels nearest to the brightest voxel are set, in every slice.
      let near = false;
      for (let dy = -1; dy <= 1 && !near; dy++)
        for (let dx = -1; dx <= 1 && !near; dx++) {
          const y = ly + dy;
          const x = lx + dx;
          if (
            y >= 0 &&
            x >= 0 &&
            y < out.height &&
            x < out.width &&
            (out.label as Uint8Array)[y * out.width + x] === 1 &&
            (out.mask as Uint8Array)[y * out.width + x] === 1
          )
            near = true;
        }
      assert.ok(near, `seed ${seed} slice ${z}: marker at ${ly},${lx} has no label nearby`);
      checked++;
    }
  }
  assert.ok(checked > 100, `only ${checked} marker checks ran`);
});

test('soft labels are resampled bilinearly, hard labels by nearest neighbour', () => {
  const h = 16;
  const w = 16;
  const soft = new Float32Array(h * w);
  for (let i = 0; i < soft.length; i++) soft[i] = (i % w) / (w - 1);
  const hard = new Uint8Array(h * w).map((_, i) => (i % w >= 8 ? 1 : 0));
  const aug = new Augmenter({
    ops: [{ type: 'shiftScaleRotate', shiftLimit: 0.05, scaleLimit: 0, rotateLimit: 10, p: 1 }],
  });
  const base = { data: new Float32Array(h * w), depth: 1, height: h, width: w };
  const s = aug.apply({ ...base, label: soft }, 3).label as Float32Array;
  const hd = aug.apply({ ...base, label: hard }, 3).label as Uint8Array;
  assert.ok(s instanceof Float32Array && hd instanceof Uint8Array);
  assert.ok([...hd].every((v) => v === 0 || v === 1));
  assert.ok(
    [...s].some((v) => v > 0.01 && v < 0.99 && Math.abs(v * 15 - Math.round(v * 15)) > 1e-3),
    'soft label was not interpolated',
  );
});
