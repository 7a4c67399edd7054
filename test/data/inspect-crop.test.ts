/**
 * `inspectDataset` (JSON shape exactly {layout, id, layers, height, width, dtype, maskCoverage, inkFraction,
 * reversed, files}) and `inkwell crop` (.npy written atomically, uint8 by default, as stored with --raw; the
 * uint16 file is checked with numpy when Debian's python3-numpy is there).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { inspectDataset, type DatasetInfo } from '../../src/data/inspect.js';
import { registerCrop, runCrop, parseRange } from '../../src/cli/commands/crop.js';
import { readNpy } from '../../src/torch/serialization/npy.js';
import {
  DATA_PYTHON,
  pixel,
  rectMask,
  tempDir,
  writeJson,
  writeKaggleFragment,
  writeSegment,
} from './reader-fixtures.js';

const KEYS = [
  'layout',
  'id',
  'layers',
  'height',
  'width',
  'dtype',
  'maskCoverage',
  'inkFraction',
  'reversed',
  'layerOrder',
  'pixelSize',
  'pixelSizeSource',
  'scale',
  'files',
];

test('inspectDataset on a Kaggle fragment: exact keys, sizes, mask coverage and ink fraction inside the mask', async () => {
  const root = join(tempDir(), '1');
  // Mask: rows 0..20 of 40 (half); labels: a 10x10 block inside the mask plus a 5x4 block outside it.
  const labels = rectMask(40, 30, 2, 12, 2, 12);
  for (let y = 30; y < 35; y++) for (let x = 0; x < 4; x++) labels[y * 30 + x] = 1;
  await writeKaggleFragment(root, {
    layers: 6,
    height: 40,
    width: 30,
    bits: 16,
    mask: rectMask(40, 30, 0, 20, 0, 30),
    labels,
  });
  const info = (await inspectDataset(root)) as DatasetInfo;
  assert.deepEqual(Object.keys(info), KEYS);
  assert.equal(info.layout, 'kaggle-fragment');
  assert.equal(info.id, '1');
  assert.equal(info.layers, 6);
  assert.equal(info.height, 40);
  assert.equal(info.width, 30);
  assert.equal(info.dtype, 'uint16');
  assert.equal(info.maskCoverage, 0.5);
  assert.equal(info.inkFraction, 100 / 600);
  assert.equal(info.reversed, false);
  assert.deepEqual(info.files, {
    layers: ['00', '01', '02', '03', '04', '05'].map((n) => `surface_volume/${n}.tif`),
    mask: 'mask.png',
    inklabels: 'inklabels.png',
    ir: 'ir.png',
    meta: null,
  });
  JSON.parse(JSON.stringify(info));
});

test('inspectDataset on a folder of segments gives one entry per segment; unlabelled -> inkFraction null', async () => {
  const dir = join(tempDir(), 'paths');
  await writeSegment(join(dir, 'a'), 'a', { layers: 3, bits: 8, ext: 'png' });
  await writeSegment(join(dir, 'b'), 'b', { layers: 3, labels: false });
  writeJson(join(dir, 'inkwell-manifest.json'), { reversed: ['b'] });
  const infos = (await inspectDataset(dir)) as DatasetInfo[];
  assert.ok(Array.isArray(infos));
  assert.deepEqual(
    infos.map((i) => [i.id, i.layout, i.dtype, i.reversed, i.inkFraction === null]),
    [
      ['a', 'scroll-segment', 'uint8', false, false],
      ['b', 'scroll-segment', 'uint16', true, true],
    ],
  );
  assert.ok(infos.every((i) => Object.keys(i).join() === KEYS.join()));
  assert.equal(infos[0]!.files.meta, 'a/meta.json');
  assert.equal(infos[0]!.maskCoverage, (22 * 18) / (24 * 20));
});

test('crop writes [z,y,x] uint8 (>>8) by default and the stored uint16 with --raw', async () => {
  const dir = tempDir();
  const root = join(dir, 'seg');
  await writeSegment(root, 'seg', { layers: 6, bits: 16 });
  const out8 = join(dir, 'crop8.npy');
  const r = await runCrop(root, { z: '1:4', y: '2:7', x: '3:9', output: out8 });
  assert.deepEqual(r, { path: out8, dtype: 'uint8', shape: [3, 5, 6] });
  const t = readNpy(readFileSync(out8));
  assert.equal(t.dtype, 'uint8');
  assert.deepEqual(t.shape, [3, 5, 6]);
  for (let z = 0; z < 3; z++)
    for (let y = 0; y < 5; y++)
      for (let x = 0; x < 6; x++) {
        assert.equal(t.data[(z * 5 + y) * 6 + x], pixel(z + 1, y + 2, x + 3, 16) >> 8);
      }
  const out16 = join(dir, 'crop16.npy');
  await runCrop(root, { z: '4:', y: ':3', x: '18:20', output: out16, raw: true });
  const bytes = readFileSync(out16);
  assert.match(
    bytes.subarray(10, 80).toString('latin1'),
    /'descr': '<u2', 'fortran_order': False, 'shape': \(2, 3, 2\)/,
  );
  const hdr = bytes.readUInt16LE(8);
  const vals = new Uint16Array(bytes.buffer.slice(bytes.byteOffset + 10 + hdr, bytes.byteOffset + bytes.length));
  const want = [4, 5].flatMap((z) => [0, 1, 2].flatMap((y) => [18, 19].map((x) => pixel(z, y, x, 16))));
  assert.deepEqual([...vals], want);
  const py = spawnSync(
    DATA_PYTHON,
    ['-c', `import numpy as np; a = np.load(${JSON.stringify(out16)}); print(a.dtype, a.shape, int(a[1, 2, 1]))`],
    { encoding: 'utf8' },
  );
  if (py.status === 0) assert.equal(py.stdout.trim(), `uint16 (2, 3, 2) ${pixel(5, 2, 19, 16)}`);
});

test('crop through the CLI command; bad ranges fail without writing anything', async () => {
  const dir = tempDir();
  const root = join(dir, 'seg');
  await writeSegment(root, 'seg', { layers: 4, bits: 8 });
  const program = new Command('inkwell').exitOverride();
  registerCrop(program);
  const out = join(dir, 'cli.npy');
  const write = process.stdout.write.bind(process.stdout);
  let printed = '';
  process.stdout.write = ((s: string) => {
    printed += s;
    return true;
  }) as typeof process.stdout.write;
  try {
    await program.parseAsync(['crop', root, '--z', '0:2', '--y', '0:4', '--x', '0:4', '--output', out], {
      from: 'user',
    });
  } finally {
    process.stdout.write = write;
  }
  assert.deepEqual(JSON.parse(printed), { path: out, dtype: 'uint8', shape: [2, 4, 4] });
  assert.deepEqual(readNpy(readFileSync(out)).shape, [2, 4, 4]);
  const bad = join(dir, 'bad.npy');
  await assert.rejects(
    runCrop(root, { z: '2:9', y: '0:4', x: '0:4', output: bad }),
    /z-range 2:9 is outside .*seg, which has layers 0:4/,
  );
  await assert.rejects(
    runCrop(root, { z: '0:2', y: '0:40', x: '0:4', output: bad }),
    /window \[0:2, 0:40, 0:4\] is outside/,
  );
  await assert.rejects(
    runCrop(root, { z: '0-2', y: '0:4', x: '0:4', output: bad }),
    /--z '0-2' is not a range, expected A:B/,
  );
  assert.equal(existsSync(bad), false);
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.endsWith('.tmp')),
    [],
  );
  assert.deepEqual(parseRange(':', 'y', 10), [0, 10]);
  assert.throws(() => parseRange('5:5', 'x', 10), /--x 5:5 is empty/);
});
