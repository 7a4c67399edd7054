/**
 * Exact pixel values of TIFF, PNG and JPEG files written by other tools (PIL and libtiff's tiffcp, through
 * test/fixtures/data_fixtures.py), in every supported encoding: 8/16-bit; none/LZW/deflate/packbits;
 * single strip, several strips, big-endian, BigTIFF; tiles.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readTiffInfo, positionedReadBlocker } from '../../src/data/io/tiff.js';
import { TiffStripReader } from '../../src/data/io/tiff-strips.js';
import { openLayer, cropPixels } from '../../src/data/io/layer.js';
import { decodeBinary, DecodeCache } from '../../src/data/io/image.js';
import { createRng } from '../../src/data/rng.js';
import { pythonFixtures, type FixtureEntry, type Fixtures } from './reader-fixtures.js';

const fx = pythonFixtures('tiff', 'images');
const skip = typeof fx === 'string' ? fx : false;
const F = (): Fixtures => fx as Fixtures;
const tiffs = (): FixtureEntry[] => F().files.filter((e) => e.group === 'tiff');

const COMPRESSION: Record<string, number> = { none: 1, lzw: 5, deflate: 8, packbits: 32773 };

test('TIFF directories written by PIL and tiffcp parse to the right size, depth, compression and layout', {
  skip,
}, async () => {
  assert.ok(tiffs().length >= 20);
  for (const e of tiffs()) {
    const info = await readTiffInfo(F().path(e.file));
    assert.equal(info.height, e.shape[0], e.file);
    assert.equal(info.width, e.shape[1], e.file);
    assert.equal(info.bitsPerSample, e.dtype === 'uint16' ? 16 : 8, e.file);
    assert.equal(info.samplesPerPixel, 1, e.file);
    // Adobe deflate (8) and the old deflate code (32946) are the same codec.
    const comp = info.compression === 32946 ? 8 : info.compression;
    assert.equal(comp, COMPRESSION[e.compression!], e.file);
    assert.equal(info.layout.kind, e.layout, e.file);
    assert.equal(positionedReadBlocker(info) === null, e.positioned, e.file);
    if (e.file.includes('_be')) assert.equal(info.littleEndian, false);
    if (e.file.includes('bigtiff')) assert.equal(info.bigTiff, true);
  }
});

test('every TIFF encoding reads back the exact pixel values, whole and in windows', { skip }, async () => {
  const cache = new DecodeCache();
  const rng = createRng(7);
  for (const e of tiffs()) {
    const want = F().expected(e);
    const [h, w] = e.shape as [number, number];
    const layer = await openLayer(F().path(e.file), cache);
    assert.equal(layer.method, e.positioned ? 'positioned' : 'decode', e.file);
    assert.equal(layer.dtype, e.dtype, e.file);
    const all = await layer.readAll();
    assert.equal(all.constructor, want.constructor, e.file);
    assert.deepEqual(all, want, `${e.file}: whole image`);
    for (let k = 0; k < 12; k++) {
      const y0 = rng.int(h);
      const y1 = y0 + 1 + rng.int(h - y0);
      const x0 = rng.int(w);
      const x1 = x0 + 1 + rng.int(w - x0);
      const got = await layer.readWindow(y0, y1, x0, x1);
      assert.deepEqual(got, cropPixels(want, w, y0, y1, x0, x1), `${e.file}: window ${y0}:${y1},${x0}:${x1}`);
    }
    layer.close();
  }
});

test('positioned reads: narrow windows (row by row) and wide windows (block reads) across strip boundaries', {
  skip,
}, async () => {
  for (const name of ['u16_none_strips.tif', 'u16_none_strips_be.tif', 'u8_none_strips.tif', 'u16_none_bigtiff.tif']) {
    const e = F().files.find((f) => f.file === name)!;
    const want = F().expected(e);
    const [h, w] = e.shape as [number, number];
    const r = await TiffStripReader.open(F().path(name));
    // Full width (block path) spanning several strips; then a 2-column window (row-by-row path).
    assert.deepEqual(r.readWindow(3, h - 2, 0, w), cropPixels(want, w, 3, h - 2, 0, w), name);
    assert.deepEqual(r.readWindow(0, h, 10, 12), cropPixels(want, w, 0, h, 10, 12), name);
    assert.deepEqual(r.readWindow(h - 1, h, w - 1, w), cropPixels(want, w, h - 1, h, w - 1, w), name);
    // A caller-supplied output buffer is filled in place.
    const out = e.dtype === 'uint16' ? new Uint16Array(4 * 5) : new Uint8Array(4 * 5);
    assert.equal(r.readWindow(4, 8, 5, 10, out), out);
    assert.deepEqual(out, cropPixels(want, w, 4, 8, 5, 10));
    assert.throws(() => r.readWindow(0, h + 1, 0, 1), /not a non-empty window inside .*37x53/);
    r.close();
    assert.throws(() => r.readWindow(0, 1, 0, 1), /is closed/);
  }
});

test('TiffStripReader refuses compressed and tiled files, naming the reason', { skip }, async () => {
  await assert.rejects(
    TiffStripReader.open(F().path('u16_lzw_pil.tif')),
    /has compression lzw, expected an uncompressed 8\/16-bit grey strip TIFF/,
  );
  await assert.rejects(TiffStripReader.open(F().path('u8_none_tiles.tif')), /has tiled layout/);
});

test("PNG (8 and 16 bit) reads exactly; JPEG matches PIL's decode within 1 grey level", { skip }, async () => {
  const cache = new DecodeCache();
  for (const e of F().files.filter((f) => f.group === 'images' && !f.binary)) {
    const layer = await openLayer(F().path(e.file), cache);
    assert.equal(layer.dtype, e.dtype, e.file);
    const got = await layer.readAll();
    const want = F().expected(e);
    if (e.lossy) {
      let maxDiff = 0;
      for (let i = 0; i < want.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i]! - want[i]!));
      assert.ok(maxDiff <= 1, `${e.file}: max difference ${maxDiff} from PIL`);
    } else {
      assert.deepEqual(got, want, e.file);
    }
  }
});

test('masks read as {0,1} from 8-bit, 1-bit and RGBA PNGs', { skip }, async () => {
  for (const e of F().files.filter((f) => f.binary)) {
    const m = await decodeBinary(F().path(e.file));
    assert.equal(m.height, e.shape[0]);
    assert.equal(m.width, e.shape[1]);
    assert.deepEqual(m.data, F().expected(e), e.file);
  }
});

test('DecodeCache keeps decoded layers within its byte budget, most recently used last to go', { skip }, async () => {
  const names = ['u16_lzw_pil.tif', 'u16_deflate_pil.tif', 'u16_lzw_tiles.tif'];
  const one = 37 * 53 * 2;
  const cache = new DecodeCache(2 * one);
  const a = await cache.get(F().path(names[0]!));
  await cache.get(F().path(names[1]!));
  assert.equal(cache.usedBytes, 2 * one);
  assert.equal(await cache.get(F().path(names[0]!)), a, 'a hit returns the same decoded image');
  await cache.get(F().path(names[2]!));
  assert.equal(cache.usedBytes, 2 * one, 'the least recently used layer was evicted');
  assert.equal(await cache.get(F().path(names[0]!)), a, 'the recently used layer survived');
  const [p, q] = [cache.get(F().path(names[1]!)), cache.get(F().path(names[1]!))];
  assert.equal(await p, await q, 'concurrent requests share one decode');
});
