/**
 * The Volume view: z-range, reversed order, bit-depth policy (>> 8 or kept), resolution matching by area
 * averaging (x0.5 for fragments, any factor in (0,1]), windowed reads equal to the loaded block, and the
 * positioned-read and decode paths agreeing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Volume } from '../../src/data/volume.js';
import { areaResample, scaledLength } from '../../src/data/io/resample.js';
import {
  pixel,
  plane,
  rectMask,
  tempDir,
  writeKaggleFragment,
  writeMask,
  writeSegment,
  writeStack,
} from './reader-fixtures.js';

function subBlock(
  data: ArrayLike<number>,
  shape: [number, number, number],
  z0: number,
  z1: number,
  y0: number,
  y1: number,
  x0: number,
  x1: number,
): number[] {
  const [, H, W] = shape;
  const out: number[] = [];
  for (let z = z0; z < z1; z++)
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) out.push(data[(z * H + y) * W + x]!);
  return out;
}

test('bit-depth policy: uint16 layers become uint8 by >> 8 by default, or stay 16-bit; raw skips the policy', async () => {
  const root = join(tempDir(), 's');
  await writeSegment(root, 's', { layers: 3, bits: 16 });
  const v8 = await Volume.open(root);
  assert.equal(v8.dtype, 'uint8');
  const a = await v8.readWindow(0, 3, 0, 24, 0, 20);
  assert.ok(a.data instanceof Uint8Array);
  for (let z = 0; z < 3; z++)
    for (let y = 0; y < 24; y++)
      for (let x = 0; x < 20; x++) {
        assert.equal(a.data[(z * 24 + y) * 20 + x], pixel(z, y, x, 16) >> 8);
      }
  const raw = await v8.readWindow(1, 2, 5, 7, 3, 6, { raw: true });
  assert.equal(raw.dtype, 'uint16');
  assert.deepEqual(
    [...raw.data],
    [5, 6].flatMap((y) => [3, 4, 5].map((x) => pixel(1, y, x, 16))),
  );
  const v16 = await Volume.open(root, { bitDepth: 'keep' });
  assert.equal(v16.dtype, 'uint16');
  const b = await v16.readWindow(2, 3, 10, 11, 0, 20);
  assert.deepEqual(
    [...b.data],
    Array.from({ length: 20 }, (_, x) => pixel(2, 10, x, 16)),
  );
  await v8.close();
  await v16.close();
});

test('z-range: view index 0 is the range start; load() holds only the range; layers outside it are never opened', async () => {
  const root = join(tempDir(), 's');
  await writeSegment(root, 's', { layers: 8, bits: 8 });
  // A broken layer outside the range must not matter: nothing outside the z-range is read.
  writeFileSync(join(root, 'layers', '07.tif'), 'this is not an image');
  const vol = await Volume.open(root, { z: [2, 5] });
  assert.deepEqual(vol.shape, [3, 24, 20]);
  const all = await vol.load();
  assert.equal(all.data.length, 3 * 24 * 20);
  for (let z = 0; z < 3; z++) assert.equal(all.data[z * 480 + 21 * 20 + 7], pixel(z + 2, 21, 7, 8));
  await assert.rejects(Volume.open(root), /07\.tif is not a TIFF/);
  await vol.close();
});

test('area averaging x0.5: 2x2 means rounded half up, odd last row/column dropped (cv2 INTER_AREA with w//2, h//2)', async () => {
  const root = join(tempDir(), '1');
  await writeKaggleFragment(root, { layers: 2, height: 25, width: 21, bits: 16 });
  const vol = await Volume.open(root);
  assert.equal(vol.scale, 0.5);
  assert.deepEqual(vol.shape, [2, 12, 10]);
  const all = await vol.load();
  for (let z = 0; z < 2; z++)
    for (let y = 0; y < 12; y++)
      for (let x = 0; x < 10; x++) {
        const s = [0, 1]
          .flatMap((dy) => [0, 1].map((dx) => pixel(z, 2 * y + dy, 2 * x + dx, 16) >> 8))
          .reduce((p, q) => p + q, 0);
        assert.equal(all.data[(z * 12 + y) * 10 + x], Math.floor((s + 2) / 4), `z${z} y${y} x${x}`);
      }
  // Windows at the view's resolution equal the same part of the loaded block.
  const w = await vol.readWindow(1, 2, 3, 9, 2, 7);
  assert.deepEqual([...w.data], subBlock(all.data, all.shape, 1, 2, 3, 9, 2, 7));
  // The mask is scaled the same way (majority of each 2x2 block).
  const mask = (await vol.readMask())!;
  assert.equal(mask.length, 12 * 10);
  assert.equal(mask[0], 0);
  assert.equal(mask[5 * 10 + 5], 1);
  await vol.close();
});

test('other factors (0.4, 1/3) match an independent replicate-then-box computation; windows match load()', async () => {
  const h = 31;
  const w = 26;
  const src = plane(0, h, w, 8) as Uint8Array;
  for (const [p, q] of [
    [2, 5],
    [1, 3],
  ] as const) {
    const f = p / q;
    const r = areaResample(src, h, w, f);
    assert.equal(r.height, scaledLength(h, f));
    assert.equal(r.width, scaledLength(w, f));
    // Reference: replicate each pixel p x p (resolution x p), then average q x q blocks (resolution / q).
    for (let y = 0; y < r.height; y++)
      for (let x = 0; x < r.width; x++) {
        let sum = 0;
        for (let yy = y * q; yy < (y + 1) * q; yy++)
          for (let xx = x * q; xx < (x + 1) * q; xx++) sum += src[Math.floor(yy / p) * w + Math.floor(xx / p)]!;
        const want = Math.floor((2 * sum + q * q) / (2 * q * q));
        assert.ok(
          Math.abs(r.data[y * r.width + x]! - want) <= ((2 * sum) % (2 * q * q) === q * q ? 1 : 0),
          `f=${f} y${y} x${x}: ${r.data[y * r.width + x]} vs ${want}`,
        );
      }
  }
  const root = join(tempDir(), 's');
  await writeSegment(root, 's', { layers: 2, height: h, width: w, bits: 8 });
  const vol = await Volume.open(root, { scale: 0.4 });
  const all = await vol.load();
  assert.deepEqual(all.shape, [2, 12, 10]);
  assert.deepEqual(
    [...(await vol.readWindow(0, 2, 3, 11, 1, 8)).data],
    subBlock(all.data, all.shape, 0, 2, 3, 11, 1, 8),
  );
  await assert.rejects(Volume.open(root, { scale: 1.5 }), /resolution factor must be in \(0, 1\], got 1\.5/);
});

test('positioned reads and whole-layer decodes (LZW TIFF, PNG) give the same volume', async () => {
  const base = tempDir();
  const results: number[][] = [];
  for (const [name, opts] of [
    ['plain', {}],
    ['lzw', { tiffCompression: 'lzw' as const }],
    ['deflate', { tiffCompression: 'deflate' as const }],
  ] as const) {
    const root = join(base, name);
    await writeStack(join(root, 'layers'), { layers: 3, height: 40, width: 33, bits: 16, ...opts });
    const vol = await Volume.open(root, { bitDepth: 'keep' });
    results.push([...(await vol.readWindow(0, 3, 5, 30, 4, 29)).data]);
    await vol.close();
  }
  assert.deepEqual(results[1], results[0]);
  assert.deepEqual(results[2], results[0]);
});

test('labels and masks scale with the view; load() with a progress bar enabled still returns the block', async () => {
  const root = join(tempDir(), 's');
  await writeSegment(root, 's', { layers: 2, height: 16, width: 16, bits: 8 });
  await writeMask(join(root, 's_inklabels.png'), rectMask(16, 16, 0, 8, 0, 8), 16, 16);
  const vol = await Volume.open(root, { scale: 0.5, progress: true });
  const labels = (await vol.readInkLabels())!;
  assert.deepEqual(
    [...labels],
    Array.from({ length: 64 }, (_, i) => (Math.floor(i / 8) < 4 && i % 8 < 4 ? 1 : 0)),
  );
  assert.equal((await vol.load()).data.length, 2 * 8 * 8);
});
