/**
 * The read benchmark runs end to end on a short Kaggle-width stack: both paths return identical pixels, and
 * positioned reads of the needed rows beat decoding whole layers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { benchRead } from '../../src/bench/data-read.js';
import { tempDir } from '../data/reader-fixtures.js';

test('benchRead: 20x256x256 crops of a 20-layer 6330-wide uint16 stack, positioned vs whole-layer decode', async () => {
  const tmp = tempDir();
  const r = await benchRead({ layers: 20, height: 320, runs: 5, decodeRuns: 2, tmpDir: tmp });
  assert.deepEqual(r.stack, {
    layers: 20,
    height: 320,
    width: 6330,
    dtype: 'uint16',
    compression: 'none',
    bytes: 20 * 320 * 6330 * 2,
  });
  assert.deepEqual(r.crop, [20, 256, 256]);
  assert.equal(r.positioned.runsMs.length, 5);
  assert.equal(r.wholeLayerDecode.runsMs.length, 2);
  assert.equal(r.identical, true);
  assert.ok(r.ratio > 1, `positioned ${r.positioned.medianMs} ms vs decode ${r.wholeLayerDecode.medianMs} ms`);
  assert.equal(r.meetsTarget, r.positioned.medianMs <= 25);
  JSON.parse(JSON.stringify(r));
  assert.ok(existsSync(tmp) && readdirSync(tmp).length === 0, 'the temporary stack is removed');
  await assert.rejects(benchRead({ layers: 10, tmpDir: tmp }), /crop 20x256x256 does not fit a 10x2048x6330 stack/);
});
