/**
 * The second synthetic family (src/data/synth/family-b/): what it draws (bit depth and grey level per volume,
 * papyrus on the chosen side of the surface, ink in the surface layers, cursive ink of a plausible share,
 * deterministic), that its ink is learnable but not trivial (calibration), and `inkwell synth --family b`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthFragmentB, synthSegmentB } from '../../src/data/synth/family-b/generate.js';
import { calibrate } from '../../src/data/synth/calibrate.js';
import { synthesize } from '../../src/data/synth/write.js';
import { detectDataset } from '../../src/data/layout.js';

/** Mean value of layer z inside the mask (optionally only where `where` is set). */
function layerMean(
  v: Uint8Array | Uint16Array,
  z: number,
  plane: number,
  mask: Uint8Array,
  where?: Uint8Array,
): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < plane; i++)
    if (mask[i] && (!where || where[i])) {
      s += v[z * plane + i] as number;
      n++;
    }
  return s / n;
}

test('family-B fragments: chosen bit depth and side, papyrus on that side, ink adds density at the surface', () => {
  const H = 128;
  const W = 128;
  const plane = H * W;
  const after = synthFragmentB({ height: H, width: W, seed: 3, papyrusSide: 'after', bits: 16 });
  const before = synthFragmentB({ height: H, width: W, seed: 3, papyrusSide: 'before', bits: 8 });
  assert.ok(after.volume instanceof Uint16Array && before.volume instanceof Uint8Array);
  assert.deepEqual([after.info.reversed, before.info.reversed], [false, true]);
  // Papyrus after the surface: layer 40 dense, layer 24 air; mirrored for 'before'.
  assert.ok(layerMean(after.volume, 40, plane, after.mask) > 3 * layerMean(after.volume, 24, plane, after.mask));
  assert.ok(layerMean(before.volume, 24, plane, before.mask) > 3 * layerMean(before.volume, 40, plane, before.mask));
  assert.ok(after.info.papyrusLevel >= 14000 && after.info.papyrusLevel <= 42000);
  assert.ok(before.info.papyrusLevel >= 80 && before.info.papyrusLevel <= 180);
  // Outside the mask every value is zero.
  for (let i = 0; i < plane; i++) if (!after.mask[i]) assert.equal(after.volume[33 * plane + i], 0);
  assert.ok(after.info.inkFraction > 0.08 && after.info.inkFraction < 0.35, `ink ${after.info.inkFraction}`);
  // Same seed, same volume.
  assert.deepEqual(
    synthFragmentB({ height: H, width: W, seed: 3, papyrusSide: 'after', bits: 16 }).volume,
    after.volume,
  );
  // Learnable but not trivial: a surface-following statistic beats the best fixed layer.
  const c = calibrate(after.volume, after.layers, H, W, after.labels, after.mask);
  assert.ok(c.surfaceAuc > 0.65 && c.surfaceAuc > c.bestLayerAuc + 0.05, JSON.stringify(c));
  assert.throws(() => synthFragmentB({ height: 8, width: 64, seed: 1 }), /size must be integers >= 16/);
  assert.throws(() => synthFragmentB({ height: 32, width: 32, seed: 1, inkDelta: 2 }), /inkDelta must be in \[0, 1\]/);
});

test('family-B segments stack several sheets with the ink on the target one', () => {
  const s = synthSegmentB({ height: 96, width: 96, seed: 4, papyrusSide: 'after' });
  assert.ok((s.info.sheets ?? 0) >= 2 && (s.info.sheets ?? 0) <= 5);
  assert.ok((s.info.targetSheet ?? -1) >= 0 && (s.info.targetSheet ?? 99) < (s.info.sheets ?? 0));
  assert.equal(s.ir, null);
  assert.ok(Math.abs(s.info.inkDelta - 0.12) < 1e-9);
});

test('inkwell synth --family b writes both layouts with meta.json pixel sizes and no layer-order manifest', async () => {
  const out = await mkdtemp(join(tmpdir(), 'inkwell-synth-b-'));
  try {
    const m = await synthesize({
      out,
      family: 'b',
      fragments: 2,
      segments: 1,
      height: 40,
      width: 48,
      layers: 20,
      seed: 2,
      progress: false,
    });
    assert.equal(m.family, 'b');
    for (const e of [...m.fragments, ...m.segments]) {
      assert.ok(e.dtype === 'uint8' || e.dtype === 'uint16');
      assert.equal(e.reversed, e.papyrusSide === 'before');
      const meta = JSON.parse(await readFile(join(out, e.path, 'meta.json'), 'utf8')) as {
        voxelsize: number;
        family: string;
      };
      assert.deepEqual([meta.voxelsize, meta.family], [3.955, 'b']);
      const ds = await detectDataset(join(out, e.path));
      assert.deepEqual([ds.pixelSize, ds.pixelSizeSource, ds.defaultScale], [3.955, 'meta.json', 0.5]);
    }
    await assert.rejects(readFile(join(out, 'segments', 'inkwell-manifest.json')), /ENOENT/);
    await assert.rejects(
      synthesize({ out, family: 'c' as never, fragments: 1, segments: 0, height: 32, width: 32, seed: 1 }),
      /family must be one of a, b/,
    );
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
