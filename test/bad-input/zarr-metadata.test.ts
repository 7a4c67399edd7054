/**
 * Zarr metadata is validated field by field before any chunk is read: each loose `.zarray` or OME-Zarr
 * `.zattrs` is an error naming the file and the field (it once read as an all-zero crop or "-96x80" layers
 * with exit status 0), and `--level` on a TIFF layer stack is refused instead of ignored.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ZarrVolume } from '../../src/data/io/zarr.js';
import { Volume } from '../../src/data/volume.js';
import { tempDir, writeJson, writeSegment } from '../data/reader-fixtures.js';
import { inkwell, listing } from './cli.js';

const GOOD = {
  zarr_format: 2,
  shape: [2, 4, 4],
  chunks: [2, 4, 4],
  dtype: '|u1',
  compressor: null,
  fill_value: 0,
  order: 'C',
  filters: null,
};

/** A 2x4x4 uint8 array (values 0..31) with `.zarray` fields overridden (undefined removes a field). */
function zarrArray(dir: string, name: string, over: Record<string, unknown> = {}): string {
  const root = join(dir, name);
  mkdirSync(root, { recursive: true });
  const meta: Record<string, unknown> = { ...GOOD, ...over };
  for (const k of Object.keys(over)) if (over[k] === undefined) delete meta[k];
  writeJson(join(root, '.zarray'), meta);
  writeFileSync(
    join(root, '0.0.0'),
    Uint8Array.from({ length: 32 }, (_, i) => i),
  );
  return root;
}

test('a well-formed array reads back exactly (the baseline the bad cases differ from)', async () => {
  const v = await ZarrVolume.open(zarrArray(tempDir(), 'good.zarr'));
  assert.deepEqual(
    [...(await v.readWindow(0, 2, 0, 4, 0, 4))],
    Array.from({ length: 32 }, (_, i) => i),
  );
});

const BAD_ZARRAY: [string, Record<string, unknown>, RegExp][] = [
  [
    'zero chunk',
    { chunks: [0, 32, 32] },
    /z0\.zarr\/\.zarray has chunks \[0,32,32\], expected a list of integers >= 1/,
  ],
  [
    'negative shape',
    { shape: [8, -96, 80] },
    /z1\.zarr\/\.zarray has shape \[8,-96,80\], expected a list of integers >= 0/,
  ],
  [
    'fractional shape',
    { shape: [2, 4.5, 4] },
    /z2\.zarr\/\.zarray has shape \[2,4\.5,4\], expected a list of integers >= 0/,
  ],
  [
    'empty shape',
    { shape: [0, 4, 4] },
    /z3\.zarr\/\.zarray has shape \[0,4,4\], expected a non-empty \[z,y,x\] volume \(this one holds no voxels\)/,
  ],
  [
    'chunks of another rank',
    { chunks: [2, 4] },
    /z4\.zarr\/\.zarray has chunks \[2,4\], expected one chunk size per dimension of shape \[2,4,4\]/,
  ],
  ['float dtype', { dtype: '<f4' }, /z5\.zarr\/\.zarray has dtype "<f4", expected uint8/],
  [
    'unknown compressor',
    { compressor: { id: 'snappy' } },
    /z6\.zarr\/\.zarray has compressor id "snappy", expected one of blosc, lz4, zstd, gzip, zlib or null/,
  ],
  [
    'compressor without id',
    { compressor: { level: 5 } },
    /z7\.zarr\/\.zarray has compressor \{"level":5\}, expected null or an object with a string "id"/,
  ],
  [
    'no compressor field',
    { compressor: undefined },
    /z8\.zarr\/\.zarray has compressor missing, expected null or a codec object \(the field is required\)/,
  ],
  [
    'fill value out of range',
    { fill_value: 300 },
    /z9\.zarr\/\.zarray has fill_value 300, expected null or an integer in \[0, 255\] for \|u1/,
  ],
  ['bad order', { order: 'Z' }, /z10\.zarr\/\.zarray has order "Z", expected "C" or "F"/],
  [
    'bad separator',
    { dimension_separator: '-' },
    /z11\.zarr\/\.zarray has dimension_separator "-", expected "\." or "\/"/,
  ],
  [
    'filters not a list',
    { filters: 'shuffle' },
    /z12\.zarr\/\.zarray has filters "shuffle", expected null or a list of codec objects/,
  ],
  ['zarr v3', { zarr_format: 3 }, /z13\.zarr\/\.zarray has zarr_format 3, expected 2/],
];

test('each loose .zarray field is an error naming the file and the field', async () => {
  const dir = tempDir();
  for (const [i, [what, over, re]] of BAD_ZARRAY.entries()) {
    await assert.rejects(ZarrVolume.open(zarrArray(dir, `z${i}.zarr`, over)), re, what);
  }
});

/** An OME-Zarr group over one good level "0", with `multiscales[0]` overridden. */
function omeGroup(dir: string, name: string, ms: Record<string, unknown>): string {
  const root = join(dir, name);
  zarrArray(root, '0');
  writeJson(join(root, '.zattrs'), {
    multiscales: [
      {
        version: '0.4',
        datasets: [{ path: '0', coordinateTransformations: [{ type: 'scale', scale: [1, 1, 1] }] }],
        ...ms,
      },
    ],
  });
  return root;
}

const AXES = [
  { name: 'z', type: 'space' },
  { name: 'y', type: 'space' },
  { name: 'x', type: 'space' },
];
const BAD_OME: [string, Record<string, unknown>, RegExp][] = [
  [
    'two axes',
    { axes: AXES.slice(1) },
    /o0\.zarr\/\.zattrs has multiscales\[0\]\.axes .*, expected 3 uniquely named axes/,
  ],
  [
    'a channel axis',
    { axes: [{ name: 'c', type: 'channel' }, ...AXES.slice(1)] },
    /o1\.zarr\/\.zattrs has multiscales\[0\]\.axes\[0\] of type "channel", expected "space"/,
  ],
  [
    'repeated axis names',
    { axes: [AXES[0], AXES[0], AXES[2]] },
    /o2\.zarr\/\.zattrs has multiscales\[0\]\.axes .*uniquely named/,
  ],
  [
    'no datasets',
    { datasets: [] },
    /o3\.zarr\/\.zattrs has multiscales\[0\]\.datasets \[\], expected a non-empty list of levels/,
  ],
  [
    'a path outside the group',
    { datasets: [{ path: '../x' }] },
    /o4\.zarr\/\.zattrs has multiscales\[0\]\.datasets\[0\]\.path "\.\.\/x", expected a relative folder name/,
  ],
  [
    'zero scale',
    { datasets: [{ path: '0', coordinateTransformations: [{ type: 'scale', scale: [1, 0, 1] }] }] },
    /o5\.zarr\/\.zattrs has multiscales\[0\]\.datasets\[0\]\.\w+\[0\]\.scale \[1,0,1\], expected 3 positive/,
  ],
  [
    'translation first',
    { datasets: [{ path: '0', coordinateTransformations: [{ type: 'translation', translation: [0, 0, 0] }] }] },
    /o6\.zarr\/\.zattrs has multiscales\[0\]\.datasets\[0\]\.\w+\[0\] of type "translation", expected "scale"/,
  ],
  [
    'a 2-D translation',
    {
      datasets: [
        {
          path: '0',
          coordinateTransformations: [
            { type: 'scale', scale: [1, 1, 1] },
            { type: 'translation', translation: [0, 0] },
          ],
        },
      ],
    },
    /o7\.zarr\/\.zattrs has multiscales\[0\]\.datasets\[0\]\.\w+\[1\]\.translation \[0,0\], expected 3 finite/,
  ],
  [
    'a bad group transform',
    { coordinateTransformations: [{ type: 'rotate' }] },
    /o8\.zarr\/\.zattrs has multiscales\[0\]\.coordinateTransformations\[0\] .*expected \{"type": "scale"/,
  ],
  [
    'a level listed twice',
    { datasets: [{ path: '0' }, { path: '0' }] },
    /o9\.zarr\/\.zattrs has multiscales\[0\]\.datasets paths \["0","0"\], expected each level listed once/,
  ],
];

test('OME-Zarr multiscales: axes, datasets and coordinate transforms are checked; a good group opens', async () => {
  const dir = tempDir();
  const good = await ZarrVolume.open(omeGroup(dir, 'good.zarr', { axes: AXES }));
  assert.deepEqual(good.shape, [2, 4, 4]);
  for (const [i, [what, ms, re]] of BAD_OME.entries())
    await assert.rejects(ZarrVolume.open(omeGroup(dir, `o${i}.zarr`, ms)), re, what);
});

test('crop of a Zarr with chunks [0,32,32] or a negative shape exits 1 naming file and field, writing nothing', () => {
  const dir = tempDir();
  const out = join(dir, 'out');
  for (const [name, over, re] of [
    ['zero.zarr', { shape: [2, 64, 64], chunks: [0, 32, 32] }, /zero\.zarr\/\.zarray has chunks \[0,32,32\]/],
    ['neg.zarr', { shape: [8, -96, 80], chunks: [8, 32, 32] }, /neg\.zarr\/\.zarray has shape \[8,-96,80\]/],
  ] as const) {
    const r = inkwell([
      'crop',
      zarrArray(dir, name, over),
      '--z',
      '0:1',
      '--y',
      '0:4',
      '--x',
      '0:4',
      '--output',
      join(out, 'c.npy'),
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, re);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(existsSync(out), false);
  }
  const inspect = inkwell(['inspect', join(dir, 'neg.zarr')]);
  assert.equal(inspect.code, 1);
  assert.match(inspect.stderr, /neg\.zarr\/\.zarray has shape \[8,-96,80\], expected a list of integers >= 0/);
});

test('--level on a TIFF layer stack is refused (OME-Zarr pyramids only), and nothing is written', async () => {
  const dir = tempDir();
  const seg = join(dir, 'seg');
  await writeSegment(seg, 'seg', { layers: 3 });
  await assert.rejects(
    Volume.open(seg, { level: 1 }),
    /level 1 applies to OME-Zarr pyramids only; .*seg is a scroll-segment dataset of single-resolution layer images/,
  );
  const r = inkwell([
    'crop',
    seg,
    '--z',
    '0:2',
    '--y',
    '0:4',
    '--x',
    '0:4',
    '--level',
    '0',
    '--output',
    join(dir, 'c.npy'),
  ]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /level 0 applies to OME-Zarr pyramids only/);
  assert.deepEqual(
    listing(dir).filter((f) => f.endsWith('.npy') || f.endsWith('.tmp')),
    [],
  );
});
