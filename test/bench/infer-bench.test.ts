/**
 * `benchInfer` on a tiny synthetic fragment (narrow r3d18, few layers): the report's throughput, overhead and
 * memory fields are consistent with each other and with the sizes asked for, and printInfer prints them;
 * bad sizes are refused before anything is written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { benchInfer, printInfer } from '../../src/bench/infer.js';

test('benchInfer reports throughput, overhead against model time and memory for the sizes it measured', async () => {
  const r = await benchInfer({ size: 96, layers: 16, depth: 10, tile: 32, widenFactor: 0.125, batch: 2, threads: 1 });
  assert.deepEqual(
    [r.size, r.view, r.scale, r.tile, r.stride, r.depth, r.layers, r.batch, r.threads],
    [[96, 96], [48, 48], 0.5, 32, 16, 10, 16, 2, 1],
  );
  assert.equal(r.arch, 'resnet3d-18');
  assert.equal(r.windows, 4);
  assert.ok(r.seconds > 0 && r.model_ms > 0 && r.read_ms >= 0);
  assert.ok(Math.abs(r.pixels_per_s - (96 * 96) / r.seconds) < 1e-6 * r.pixels_per_s);
  assert.ok(
    Math.abs(r.view_pixels_per_s * 4 - r.pixels_per_s) < 1e-6 * r.pixels_per_s,
    'scale 0.5: a quarter of the pixels at the model resolution',
  );
  const t = r.timings;
  assert.ok(
    Math.abs(
      r.overhead_ms - ((t['tile_ms'] ?? 0) + (t['post_ms'] ?? 0) + (t['stitch_ms'] ?? 0) + (t['finish_ms'] ?? 0)),
    ) < 1e-9,
  );
  assert.ok(Math.abs(r.overhead_fraction - r.overhead_ms / r.model_ms) < 1e-12);
  assert.ok(r.peak_rss_mb >= r.baseline_rss_mb && r.baseline_rss_mb > 0);
  // Input held: one band of 10 layers x 32 rows x at most 48 columns (uint8), and the float32 batch of 2 windows.
  assert.ok(r.band_mb * 1024 * 1024 <= 10 * 32 * 48);
  assert.equal(r.batch_mb * 1024 * 1024, 2 * 10 * 32 * 32 * 4);
  assert.equal(r.all_layers_mb * 1024 * 1024, 16 * 96 * 96 * 2);
  assert.equal(r.zrange_mb * 1024 * 1024, 10 * 48 * 48);
  assert.equal(r.dir, undefined, 'the temporary folder is removed');
  const lines: string[] = [];
  printInfer(r, (l) => lines.push(l));
  const text = lines.join('\n');
  for (const word of [
    '96x96 synthetic fragment',
    'px/s on disk',
    'of model time (target <= 5%)',
    'peak RSS',
    'band',
    'tile 32',
  ]) {
    assert.ok(text.includes(word), `report mentions '${word}':\n${text}`);
  }
});

test('benchInfer refuses sizes it cannot measure', async () => {
  await assert.rejects(
    benchInfer({ size: 64, tile: 128 }),
    /benchInfer: tile 128 is larger than the fragment at scale 0.5 \(32 px of 64\)/,
  );
  await assert.rejects(
    benchInfer({ size: 256, depth: 30, layers: 20 }),
    /depth 30 needs at least that many layers, got 20/,
  );
  await assert.rejects(benchInfer({ size: 0 }), /size must be an integer >= 1, got 0/);
});
