/**
 * Zarr v2 stores written by Debian's python3-zarr (blosc zstd/lz4): dotted and nested chunk keys, the
 * nested-without-dimension_separator pitfall (docs/data-formats.md), uint16, an OME-Zarr pyramid, and a
 * chunk that fails to decode.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ZarrVolume, detectChunkSeparator } from '../../src/data/io/zarr.js';
import { Volume } from '../../src/data/volume.js';
import { createRng } from '../../src/data/rng.js';
import { pythonFixtures, tempDir, type FixtureEntry, type Fixtures } from './reader-fixtures.js';

const fx = pythonFixtures('zarr');
const skip = typeof fx === 'string' ? fx : false;
const F = (): Fixtures => fx as Fixtures;

function sub(
  want: Uint8Array | Uint16Array,
  shape: number[],
  z0: number,
  z1: number,
  y0: number,
  y1: number,
  x0: number,
  x1: number,
): Uint8Array | Uint16Array {
  const [, H, W] = shape as [number, number, number];
  const out =
    want instanceof Uint16Array
      ? new Uint16Array((z1 - z0) * (y1 - y0) * (x1 - x0))
      : new Uint8Array((z1 - z0) * (y1 - y0) * (x1 - x0));
  let i = 0;
  for (let z = z0; z < z1; z++)
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) out[i++] = want[(z * H + y) * W + x]!;
  return out;
}

test('Zarr arrays by python3-zarr read back exactly: dotted, nested, nested without dimension_separator, uint16, OME-Zarr levels', {
  skip,
}, async () => {
  const rng = createRng(3);
  for (const e of F().files.filter((f: FixtureEntry) => f.group === 'zarr')) {
    const v = await ZarrVolume.open(F().path(e.file), e.level === undefined ? {} : { level: e.level });
    assert.deepEqual(v.shape, e.shape, e.file);
    assert.equal(v.dtype, e.dtype, e.file);
    assert.equal(v.info.separator, e.separator, e.file);
    const want = F().expected(e);
    const [D, H, W] = e.shape as [number, number, number];
    assert.deepEqual(await v.readWindow(0, D, 0, H, 0, W), want, `${e.file}: whole volume`);
    for (let k = 0; k < 8; k++) {
      const z0 = rng.int(D);
      const z1 = z0 + 1 + rng.int(D - z0);
      const y0 = rng.int(H);
      const y1 = y0 + 1 + rng.int(H - y0);
      const x0 = rng.int(W);
      const x1 = x0 + 1 + rng.int(W - x0);
      assert.deepEqual(
        await v.readWindow(z0, z1, y0, y1, x0, x1),
        sub(want, e.shape, z0, z1, y0, y1, x0, x1),
        `${e.file} [${z0}:${z1},${y0}:${y1},${x0}:${x1}]`,
      );
    }
  }
});

test('the nested-chunks pitfall is detected from the files, not left to silently return fill values', {
  skip,
}, async () => {
  const v = await ZarrVolume.open(F().path('nested_nosep.zarr'));
  assert.equal(v.info.separator, '/');
  assert.equal(v.info.separatorInferred, true);
  const data = await v.readWindow(0, 4, 0, 16, 0, 16);
  assert.ok(
    data.some((x) => x !== 0),
    'real data, not the fill value 0',
  );
  assert.equal(await detectChunkSeparator(F().path('flat.zarr'), 3), '.');
  assert.equal(await detectChunkSeparator(F().path('nested.zarr'), 3), '/');
  const flat = await ZarrVolume.open(F().path('flat.zarr'));
  assert.equal(flat.info.separatorInferred, false);
});

test('a Volume over an OME-Zarr group: default scale 1, uint8, windows equal to the array', { skip }, async () => {
  const e = F().files.find((f) => f.file === 'ome.zarr' && f.level === 0)!;
  const vol = await Volume.open(F().path('ome.zarr'));
  assert.equal(vol.dataset.layout, 'zarr');
  assert.deepEqual(vol.shape, [10, 40, 36]);
  const w = await vol.readWindow(2, 7, 5, 30, 3, 33);
  assert.deepEqual(w.data, sub(F().expected(e), e.shape, 2, 7, 5, 30, 3, 33));
  const loaded = await vol.load();
  assert.deepEqual(loaded.data, F().expected(e));
  const z = await Volume.open(F().path('ome.zarr'), { z: [3, 6], level: 1 });
  assert.deepEqual(z.shape, [3, 20, 18]);
  await assert.rejects(Volume.open(F().path('ome.zarr'), { level: 2 }), /has pyramid levels 0\.\.1, level 2 requested/);
});

test('a Zarr chunk that fails to decode is an error naming the chunk file', { skip }, async () => {
  const dir = tempDir();
  const copy = join(dir, 'broken.zarr');
  cpSync(F().path('nested.zarr'), copy, { recursive: true });
  writeFileSync(join(copy, '1', '0', '1'), Buffer.from('this is not a blosc frame'));
  const v = await ZarrVolume.open(copy);
  // Chunks away from the broken one still read.
  assert.equal((await v.readWindow(0, 4, 0, 16, 0, 16)).length, 4 * 16 * 16);
  await assert.rejects(v.readWindow(0, 10, 0, 40, 0, 36), (err: Error) => {
    assert.match(err.message, /chunk 1,0,1 of .*broken\.zarr failed to decode/);
    assert.match(err.message, /broken\.zarr\/1\/0\/1/);
    return true;
  });
  assert.ok(readdirSync(copy).includes('.zarray'));
});
