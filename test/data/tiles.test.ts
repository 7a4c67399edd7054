/**
 * Tile grid, mask erosion (checked against a brute-force cv2.erode reference), tile filters (inside the
 * eroded mask, not all-zero, with ink, inside a region), row splits and seedable shuffling.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  contentMap,
  erodeMask,
  RectCounter,
  selectTiles,
  shuffleTiles,
  splitRows,
  tileGrid,
} from '../../src/data/tiles.js';
import { createRng } from '../../src/data/rng.js';
import { rectMask } from './reader-fixtures.js';

/** cv2.erode with a kh x kw rectangle, anchor (kw>>1, kh>>1), pixels outside the image ignored. */
function erodeReference(m: Uint8Array, h: number, w: number, kh: number, kw: number): Uint8Array {
  const out = new Uint8Array(h * w);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let ok = 1;
      for (let dy = -(kh >> 1); dy < kh - (kh >> 1) && ok; dy++) {
        for (let dx = -(kw >> 1); dx < kw - (kw >> 1); dx++) {
          const yy = y + dy;
          const xx = x + dx;
          if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
          if (m[yy * w + xx] === 0) {
            ok = 0;
            break;
          }
        }
      }
      out[y * w + x] = ok;
    }
  return out;
}

test('tileGrid: positions at multiples of the stride that fit; rectangular tiles and strides', () => {
  const g = tileGrid({ height: 300, width: 200, tile: 128, stride: 32 });
  assert.equal(g.length, (Math.floor((300 - 128) / 32) + 1) * (Math.floor((200 - 128) / 32) + 1));
  assert.deepEqual(g[0], { y: 0, x: 0, height: 128, width: 128 });
  assert.ok(g.every((t) => t.y + 128 <= 300 && t.x + 128 <= 200 && t.y % 32 === 0 && t.x % 32 === 0));
  assert.equal(tileGrid({ height: 10, width: 10, tile: [4, 2], stride: [3, 5] }).length, 3 * 2);
  assert.equal(tileGrid({ height: 10, width: 10, tile: 16, stride: 4 }).length, 0);
  assert.throws(() => tileGrid({ height: 10, width: 10, tile: 0, stride: 4 }), /tile size must be positive integers/);
});

test('erodeMask equals a brute-force cv2.erode on random masks for square, even, odd and rectangular kernels', () => {
  const rng = createRng(42);
  for (let trial = 0; trial < 12; trial++) {
    const h = 5 + rng.int(30);
    const w = 5 + rng.int(30);
    const m = new Uint8Array(h * w);
    // Blobs rather than salt noise, so erosion leaves something to compare.
    for (let i = 0; i < m.length; i++) m[i] = rng.next() < 0.9 ? 1 : 0;
    for (const [kh, kw] of [
      [1, 1],
      [2, 2],
      [3, 3],
      [16, 16],
      [4, 7],
      [5, 2],
    ] as const) {
      assert.deepEqual(
        erodeMask(m, h, w, [kh, kw]),
        erodeReference(m, h, w, kh, kw),
        `trial ${trial} ${h}x${w} kernel ${kh}x${kw}`,
      );
    }
  }
});

test('erosion is fast enough for a Kaggle-size mask at half resolution (4090x3165, 16x16)', () => {
  const h = 4090;
  const w = 3165;
  const m = rectMask(h, w, 100, h - 100, 200, w - 200);
  const t0 = performance.now();
  const e = erodeMask(m, h, w, 16);
  const ms = performance.now() - t0;
  assert.equal(e[100 * w + 200], 0);
  assert.equal(e[108 * w + 208], 1);
  assert.ok(ms < 2000, `took ${ms.toFixed(0)} ms`);
});

test('selectTiles keeps tiles fully inside the eroded mask, skips all-zero tiles and, if asked, tiles without ink', () => {
  const h = 64;
  const w = 64;
  const mask = rectMask(h, w, 0, 64, 0, 48); // papyrus on the left 48 columns
  const all = selectTiles({ height: h, width: w, tile: 16, stride: 8, mask, erode: 0 });
  assert.ok(all.every((t) => t.x + 16 <= 48));
  assert.equal(all.length, 7 * 5);
  // A 16x16 erosion removes 8 columns on the papyrus' right edge (anchor at the centre: x-8..x+7).
  const eroded = selectTiles({ height: h, width: w, tile: 16, stride: 8, mask, erode: 16 });
  assert.ok(eroded.every((t) => t.x + 16 <= 40));
  assert.equal(eroded.length, 7 * 4);
  // All-zero content in the top rows.
  const vol = {
    dtype: 'uint8' as const,
    shape: [2, h, w] as [number, number, number],
    data: new Uint8Array(2 * h * w),
  };
  for (let y = 20; y < h; y++) for (let x = 0; x < w; x++) vol.data[h * w + y * w + x] = 9;
  const content = contentMap(vol);
  assert.equal(content[0], 0);
  assert.equal(content[30 * w], 1);
  const nonzero = selectTiles({ height: h, width: w, tile: 16, stride: 8, mask, erode: 0, content });
  assert.ok(nonzero.every((t) => t.y + 16 > 20));
  assert.equal(nonzero.length, all.length - 5); // only the y=0 row of tiles lies entirely in the zero rows
  const inkLabels = rectMask(h, w, 40, 44, 10, 12);
  const withInk = selectTiles({
    height: h,
    width: w,
    tile: 16,
    stride: 8,
    mask,
    erode: 0,
    inkLabels,
    requireInk: true,
  });
  assert.ok(withInk.length > 0);
  assert.ok(withInk.every((t) => t.y < 44 && t.y + 16 > 40 && t.x < 12 && t.x + 16 > 10));
  assert.throws(
    () => selectTiles({ height: h, width: w, tile: 16, stride: 8, mask: new Uint8Array(h * w) }),
    /the mask is empty/,
  );
  assert.throws(
    () => selectTiles({ height: h, width: w, tile: 16, stride: 8, mask: new Uint8Array(5) }),
    /mask has 5 pixels, expected 64x64/,
  );
});

test('selectTiles with minMaskFraction also keeps tiles straddling the mask border by that share', () => {
  const h = 64;
  const w = 64;
  const mask = rectMask(h, w, 0, 64, 0, 48); // papyrus on the left 48 columns
  const at = (f: number) =>
    selectTiles({ height: h, width: w, tile: 16, stride: 8, mask, erode: 0, minMaskFraction: f }).map((t) => t.x);
  // Columns of tile x: x..x+15; inside share (48 - x) / 16: x=40 -> 0.5, x=48 -> 0.
  assert.deepEqual([...new Set(at(1))], [0, 8, 16, 24, 32]);
  assert.deepEqual([...new Set(at(0.5))], [0, 8, 16, 24, 32, 40]);
  assert.deepEqual([...new Set(at(0.51))], [0, 8, 16, 24, 32]);
  assert.equal(at(0.01).length, 7 * 6);
  for (const bad of [0, -0.5, 1.5, Number.NaN]) {
    assert.throws(
      () => selectTiles({ height: h, width: w, tile: 16, stride: 8, mask, minMaskFraction: bad }),
      /minMaskFraction must be in \(0, 1\]/,
    );
  }
});

test('row splits: validate on the lower 30%; no tile in both sets and none straddling the boundary', () => {
  const h = 200;
  const w = 100;
  const { train, val, splitRow } = splitRows(h, 0.7);
  assert.equal(splitRow, 140);
  const tr = selectTiles({ height: h, width: w, tile: 32, stride: 16, region: train });
  const va = selectTiles({ height: h, width: w, tile: 32, stride: 16, region: val });
  assert.ok(tr.every((t) => t.y + 32 <= 140));
  assert.ok(va.every((t) => t.y >= 140));
  assert.ok(tr.length > 0 && va.length > 0);
  assert.throws(() => splitRows(h, 1), /train fraction must be in \(0, 1\)/);
});

test('shuffleTiles and the PRNG are deterministic per seed and roughly uniform', () => {
  const tiles = tileGrid({ height: 100, width: 100, tile: 10, stride: 10 });
  const a = shuffleTiles(tiles, 123);
  assert.deepEqual(shuffleTiles(tiles, 123), a);
  assert.notDeepEqual(shuffleTiles(tiles, 124), a);
  assert.deepEqual(
    [...a].sort((p, q) => p.y - q.y || p.x - q.x),
    tiles,
  );
  const r1 = createRng(9);
  const r2 = createRng(9);
  const draws = Array.from({ length: 5 }, () => r1.uint32());
  assert.deepEqual(
    Array.from({ length: 5 }, () => r2.uint32()),
    draws,
  );
  const r = createRng(1);
  const counts = new Array<number>(10).fill(0);
  for (let i = 0; i < 20000; i++) counts[r.int(10)]!++;
  assert.ok(
    counts.every((c) => c > 1800 && c < 2200),
    `${counts}`,
  );
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < 20000; i++) {
    const n = r.normal();
    s += n;
    s2 += n * n;
  }
  assert.ok(Math.abs(s / 20000) < 0.05 && Math.abs(s2 / 20000 - 1) < 0.05);
  const child = createRng(9).fork();
  assert.notEqual(child.uint32(), createRng(9).uint32());
  assert.throws(() => createRng(Number.NaN), /seed must be a finite number/);
});

test('RectCounter counts set pixels in rectangles', () => {
  const m = rectMask(10, 12, 2, 5, 3, 9);
  const c = new RectCounter(m, 10, 12);
  assert.equal(c.count(0, 10, 0, 12), 3 * 6);
  assert.equal(c.count(3, 4, 0, 12), 6);
  assert.equal(c.count(0, 2, 0, 12), 0);
});
