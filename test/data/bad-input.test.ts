/**
 * Bad input: each case is a clear Error naming the file and what was expected, and nothing is written half.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cpSync,
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { detectLayout } from '../../src/data/layout.js';
import { Volume } from '../../src/data/volume.js';
import { inspectDataset } from '../../src/data/inspect.js';
import { openLayer } from '../../src/data/io/layer.js';
import { DecodeCache } from '../../src/data/io/image.js';
import { readTiffInfo } from '../../src/data/io/tiff.js';
import { ZarrVolume } from '../../src/data/io/zarr.js';
import { runCrop } from '../../src/cli/commands/crop.js';
import {
  plane,
  pythonFixtures,
  rectMask,
  tempDir,
  writeImage,
  writeJson,
  writeMask,
  writeSegment,
  type Fixtures,
} from './reader-fixtures.js';

async function segment(layers = 4, bits: 8 | 16 = 8): Promise<string> {
  const root = join(tempDir(), 'seg');
  await writeSegment(root, 'seg', { layers, bits });
  return root;
}

test('missing, duplicated and mixed-format layer numbers', async () => {
  const root = await segment(5);
  rmSync(join(root, 'layers', '02.tif'));
  await assert.rejects(detectLayout(root), /seg\/layers is missing layer\(s\) 2: expected contiguous layers 0\.\.4/);
  await writeImage(join(root, 'layers', '02.tif'), plane(2, 24, 20, 8), 24, 20);
  await writeImage(join(root, 'layers', '003.tif'), plane(3, 24, 20, 8), 24, 20);
  await assert.rejects(
    detectLayout(root),
    /has two files for layer 3 \((03\.tif and 003\.tif|003\.tif and 03\.tif)\), expected one/,
  );
  rmSync(join(root, 'layers', '003.tif'));
  renameSync(join(root, 'layers', '04.tif'), join(root, 'layers', '04.png'));
  await assert.rejects(detectLayout(root), /mixes layer formats \(\.tif, \.png\), expected one/);
  const empty = join(tempDir(), 'e');
  writeFileSync(join(tempDir(), 'x'), '');
  await writeImage(join(empty, 'layers', 'slice_a.tif'), plane(0, 4, 4, 8), 4, 4);
  await assert.rejects(
    detectLayout(empty),
    /has no layer files, expected NN\.tif \/ NNN\.tif \(or \.png\/\.jpg\); found slice_a\.tif/,
  );
});

test('layers of different sizes or bit depths', async () => {
  const root = await segment(4);
  await writeImage(join(root, 'layers', '03.tif'), plane(3, 20, 24, 8), 20, 24);
  await assert.rejects(
    Volume.open(root),
    /readLayer: .*seg\/layers\/03\.tif is 20x24 \(HxW\), expected 24x20 like 00\.tif/,
  );
  // The z-range decides which layers must agree.
  assert.equal((await Volume.open(root, { z: [0, 3] })).depth, 3);
  await writeImage(join(root, 'layers', '03.tif'), plane(3, 24, 20, 16), 24, 20);
  await assert.rejects(Volume.open(root), /03\.tif is uint16, expected uint8 like 00\.tif/);
});

test('a mask or label of another size, and an empty mask', async () => {
  const root = await segment(2);
  await writeMask(join(root, 'seg_mask.png'), rectMask(20, 20, 0, 20, 0, 20), 20, 20);
  await assert.rejects(
    inspectDataset(root),
    /readMask: .*seg_mask\.png is 20x20 \(HxW\), expected 24x20 like the layers \(00\.tif\)/,
  );
  await writeMask(join(root, 'seg_mask.png'), new Uint8Array(24 * 20), 24, 20);
  await assert.rejects(
    inspectDataset(root),
    /readMask: .*seg_mask\.png is all zero, expected a mask with some pixels > 0/,
  );
  await writeMask(join(root, 'seg_mask.png'), rectMask(24, 20, 0, 24, 0, 20), 24, 20);
  await writeMask(join(root, 'seg_inklabels.png'), rectMask(12, 10, 0, 4, 0, 4), 12, 10);
  await assert.rejects(inspectDataset(root), /readInkLabels: .*seg_inklabels\.png is 12x10 \(HxW\), expected 24x20/);
});

test('truncated and unreadable TIFF / PNG files', async () => {
  const dir = tempDir();
  const cache = new DecodeCache();
  // Uncompressed TIFF cut short: the strip table points past the end.
  const t16 = join(dir, 'a.tif');
  await writeImage(t16, plane(0, 64, 50, 16), 64, 50);
  truncateSync(t16, 3000);
  await assert.rejects(
    openLayer(t16, cache),
    /readTiffInfo: .*a\.tif is truncated or corrupt: its first directory is at byte \d+, the file has 3000 bytes/,
  );
  // LZW TIFF cut short.
  const lzw = join(dir, 'b.tif');
  await writeImage(lzw, plane(0, 64, 50, 16), 64, 50, { tiffCompression: 'lzw' });
  truncateSync(lzw, Math.floor(readFileSync(lzw).length / 3));
  await assert.rejects(openLayer(lzw, cache), /b\.tif (is truncated|.*cannot decode)/);
  // PNG cut short: the header is fine, the pixels are not.
  const png = join(dir, 'c.png');
  await writeImage(png, plane(0, 64, 50, 8), 64, 50);
  truncateSync(png, Math.floor(readFileSync(png).length / 2));
  const layer = await openLayer(png, cache);
  await assert.rejects(layer.readAll(), /readLayer: cannot decode .*c\.png \(.*\); expected a readable 8-bit grey PNG/);
  // Not a TIFF at all, and a file that is not there.
  const fake = join(dir, 'd.tif');
  writeFileSync(fake, readFileSync(png));
  await assert.rejects(
    readTiffInfo(fake),
    /d\.tif is not a TIFF \(starts with bytes 89 50 4e 47, expected "II" or "MM"/,
  );
  await assert.rejects(openLayer(join(dir, 'none.tif'), cache), /readTiffInfo: cannot open .*none\.tif/);
  await assert.rejects(openLayer(join(dir, 'e.bmp'), cache), /has extension '\.bmp', expected one of \.tif/);
});

test('unsupported pixel types: float, signed, RGB (files by PIL)', async (t) => {
  const fx = pythonFixtures('tiff');
  if (typeof fx === 'string') return t.skip(fx);
  const F = fx as Fixtures;
  const cache = new DecodeCache();
  await assert.rejects(
    openLayer(F.path('bad_float32.tif'), cache),
    /bad_float32\.tif has sample format float, expected unsigned integer/,
  );
  await assert.rejects(
    openLayer(F.path('bad_int32.tif'), cache),
    /bad_int32\.tif has sample format signed integer, expected unsigned integer/,
  );
  await assert.rejects(
    openLayer(F.path('bad_rgb.tif'), cache),
    /bad_rgb\.tif has 3 samples per pixel, expected single-channel grey/,
  );
});

test('z-ranges and windows outside the volume', async () => {
  const root = await segment(4);
  await assert.rejects(Volume.open(root, { z: [2, 6] }), /z-range 2:6 is outside .*seg, which has layers 0:4/);
  await assert.rejects(Volume.open(root, { z: [3, 3] }), /z-range 3:3 is outside/);
  const vol = await Volume.open(root);
  await assert.rejects(
    vol.readWindow(0, 5, 0, 1, 0, 1),
    /readWindow: window \[0:5, 0:1, 0:1\] is outside .*seg \(view shape 4x24x20/,
  );
  await assert.rejects(vol.readWindow(0, 1, -1, 1, 0, 1), /is outside/);
});

test('Zarr: a truncated chunk and an unsupported dtype', async (t) => {
  const dir = tempDir();
  const f32 = join(dir, 'f.zarr');
  writeJson(join(f32, '.zarray'), {
    zarr_format: 2,
    shape: [2, 4, 4],
    chunks: [2, 4, 4],
    dtype: '<f4',
    compressor: null,
    fill_value: 0,
    order: 'C',
    filters: null,
  });
  await assert.rejects(ZarrVolume.open(f32), /f\.zarr\/\.zarray has dtype "<f4", expected uint8 \('\|u1'\) or uint16/);
  writeJson(join(dir, 'g.zarr', '.zarray'), {
    zarr_format: 2,
    shape: [4, 4],
    chunks: [4, 4],
    dtype: '|u1',
    compressor: null,
    fill_value: 0,
    order: 'C',
    filters: null,
  });
  await assert.rejects(
    ZarrVolume.open(join(dir, 'g.zarr')),
    /g\.zarr\/\.zarray has shape \(2-D\) \[4,4\], expected 3-D \[z,y,x\]/,
  );
  const fx = pythonFixtures('zarr');
  if (typeof fx === 'string') return t.skip(fx);
  const copy = join(dir, 'cut.zarr');
  cpSync(fx.path('u16_lz4.zarr'), copy, { recursive: true });
  const chunk = join(copy, '0', '1', '1');
  truncateSync(chunk, Math.floor(readFileSync(chunk).length / 2));
  const v = await ZarrVolume.open(copy);
  await assert.rejects(
    v.readWindow(0, 4, 16, 32, 16, 32),
    /chunk 0,1,1 of .*cut\.zarr failed to decode .*cut\.zarr\/0\/1\/1/,
  );
});

test('a crop that fails while reading writes nothing', async () => {
  const root = await segment(4);
  const lzwLayer = join(root, 'layers', '02.tif');
  await writeImage(lzwLayer, plane(2, 24, 20, 8), 24, 20, { tiffCompression: 'deflate' });
  // Corrupt the compressed pixels but keep the directory readable: opening succeeds, decoding fails.
  const bytes = readFileSync(lzwLayer);
  for (let i = 8; i < 200; i++) bytes[i] = 0xff ^ bytes[i]!;
  writeFileSync(lzwLayer, bytes);
  const out = join(root, '..', 'crop.npy');
  await assert.rejects(runCrop(root, { z: '0:4', y: '0:24', x: '0:20', output: out }), /02\.tif/);
  assert.equal(existsSync(out), false);
  assert.deepEqual(
    readdirSync(join(root, '..')).filter((f) => f.includes('crop')),
    [],
  );
});
