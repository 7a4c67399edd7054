/**
 * Bad input through the CLI as a user meets it: one dataset validation for `inspect` and `crop`, `score` on
 * labels without ink, a safetensors header longer than its file, an output path that is a folder, and open
 * crop ranges. Each case: a clear message, the exit status, and a listing of the output folder afterwards.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeProbabilityPng } from '../../src/infer/index.js';
import { readNpy } from '../../src/torch/serialization/npy.js';
import { rectMask, writeKaggleFragment, writeMask } from '../data/reader-fixtures.js';
import { inkwell, listing, scratch } from './cli.js';

const { dir, cleanup } = scratch('inkwell-messages-');
after(cleanup);

test('a mask.png of the wrong size is rejected alike by inspect and crop; crop writes nothing', async () => {
  const frag = join(dir, 'frag');
  await writeKaggleFragment(frag, { layers: 3 });
  await writeMask(join(frag, 'mask.png'), rectMask(20, 24, 0, 20, 0, 24), 20, 24);
  const want = /readMask: .*frag\/mask\.png is 20x24 \(HxW\), expected 24x20 like the layers \(00\.tif\)/;
  const inspect = inkwell(['inspect', frag]);
  assert.equal(inspect.code, 1, inspect.stderr);
  assert.match(inspect.stderr, want);
  const out = join(dir, 'crops');
  const crop = inkwell(['crop', frag, '--z', '0:2', '--y', '0:4', '--x', '0:4', '--output', join(out, 'c.npy')]);
  assert.equal(crop.code, 1, crop.stderr);
  assert.match(crop.stderr, want);
  assert.equal(existsSync(out), false);
});

test('open crop ranges (2:, :4, :) are documented in the help and read to the axis ends', async () => {
  const frag = join(dir, 'open');
  await writeKaggleFragment(frag, { layers: 5 });
  const help = inkwell(['crop', '--help']);
  assert.match(
    help.stdout.replace(/\s+/g, ' '),
    /--z <A:B> layer range \[A,B\) \(layer numbers\); an open end means the first\/last layer: 2:, :4, :/,
  );
  const out = join(dir, 'open.npy');
  const r = inkwell(['crop', frag, '--z', '2:', '--y', ':4', '--x', ':', '--output', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).shape, [3, 4, 20]);
  assert.deepEqual(readNpy(readFileSync(out)).shape, [3, 4, 20]);
});

test('score: labels without ink are said to hold none; --best-threshold exits 1, printing no threshold', async () => {
  const [h, w] = [16, 12];
  const pred = join(dir, 'pred.png');
  const labels = join(dir, 'nolabels.png');
  writeFileSync(
    pred,
    await encodeProbabilityPng(
      Float32Array.from({ length: h * w }, (_, i) => (i % 7) / 7),
      w,
      h,
    ),
  );
  await writeMask(labels, new Uint8Array(h * w), h, w);
  const plain = inkwell(['score', '--pred', pred, '--labels', labels]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(
    plain.stderr,
    /score: warning: the labels .*nolabels\.png hold no ink \(no pixel > 0\) among the 192 evaluated pixels/,
  );
  const best = inkwell(['score', '--pred', pred, '--labels', labels, '--best-threshold', '--json']);
  assert.equal(best.code, 1, best.stderr);
  assert.match(
    best.stderr,
    /nolabels\.png hold no ink .*; there is no best threshold to choose, expected labels with ink/,
  );
  assert.equal(best.stdout, '');
});

test('a safetensors header longer than the file names both sizes', () => {
  const path = join(dir, 'cut.safetensors');
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(5000n);
  writeFileSync(path, Buffer.concat([head, Buffer.from('{"w":{"dtype":"F32"')]));
  const r = inkwell(['inspect', path]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    /cut\.safetensors\): a safetensors header of 5000 bytes is announced, but the file has 27 bytes \(19 after/,
  );
});

test('an output path that is a folder is a clear error, not EISDIR, and the folder is left as it was', async () => {
  const target = join(dir, 'target.npy');
  mkdirSync(target);
  writeFileSync(join(target, 'keep.txt'), 'keep');
  const frag = join(dir, 'open');
  if (!existsSync(frag)) await writeKaggleFragment(frag, { layers: 5 });
  const r = inkwell(['crop', frag, '--z', '0:1', '--y', '0:2', '--x', '0:2', '--output', target]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /cannot write .*target\.npy: it is a directory, expected a file path/);
  assert.doesNotMatch(r.stderr, /EISDIR/);
  assert.deepEqual(listing(target), ['keep.txt']);
  assert.deepEqual(
    listing(dir).filter((f) => f.endsWith('.tmp')),
    [],
  );
});
