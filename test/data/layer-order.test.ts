/**
 * Layer-order detection (src/data/layer-order.ts): the surface-edge statistic on hand-made column profiles,
 * and on volumes of both synthetic families written in both orders and read back through Volume.open, which
 * flips what it detects as reversed; a flag or manifest overrides detection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { layerOrderFromColumns, layerOrderWindow } from '../../src/data/layer-order.js';
import { Volume } from '../../src/data/volume.js';
import { inspectDataset, type DatasetInfo } from '../../src/data/inspect.js';
import { writeTiff } from '../../src/data/io/tiff-write.js';
import { writeFileAtomic } from '../../src/util/atomic.js';
import { encodePng, layerName, synthesize } from '../../src/data/synth/write.js';
import { synthFragment } from '../../src/data/synth/fragment.js';
import { synthFragmentB, synthSegmentB } from '../../src/data/synth/family-b/generate.js';
import { createRng } from '../../src/data/rng.js';
import { tempDir } from './reader-fixtures.js';

const L = 65;
const N = 160;

/** Column profiles of a step at layer `edge` (+-2 jitter), rising with z or falling, with noise. */
function stepColumns(rising: boolean, count: number, noise: number, seed: number): Float64Array[] {
  const rng = createRng(seed);
  const [from, to] = layerOrderWindow(L);
  return Array.from({ length: count }, () => {
    const edge = 32 + rng.int(5) - 2;
    return Float64Array.from({ length: to - from }, (_, i) => {
      const papyrus = rising ? from + i >= edge : from + i < edge;
      return (papyrus ? 100 : 20) + noise * (rng.next() - 0.5);
    });
  });
}

test('the surface-edge statistic: rising edge canonical, falling reversed, noise and short stacks undetermined', () => {
  assert.equal(layerOrderFromColumns(stepColumns(true, 40, 10, 1), L).verdict, 'canonical');
  const rev = layerOrderFromColumns(stepColumns(false, 40, 10, 2), L);
  assert.equal(rev.verdict, 'reversed');
  assert.ok(rev.t < -3 && rev.meanEdge < -0.5, JSON.stringify(rev));
  const [from, to] = layerOrderWindow(L);
  const rng = createRng(3);
  const noise = Array.from({ length: 200 }, () => Float64Array.from({ length: to - from }, () => rng.next()));
  const n = layerOrderFromColumns(noise, L);
  assert.equal(n.verdict, 'undetermined');
  assert.ok(Math.abs(n.t) < 3);
  assert.match(layerOrderFromColumns([], 12).reason ?? '', /12 layers, need at least 16/);
  assert.match(layerOrderFromColumns(stepColumns(true, 5, 1, 4), L).reason ?? '', /5 usable columns/);
  assert.throws(() => layerOrderFromColumns([new Float64Array(3)], L), /expected 25 \(layers 20:45\)/);
});

/** Writes a [L, h, w] volume as a Kaggle fragment, in stored order or flipped. */
async function writeFragment(
  dir: string,
  volume: Uint8Array | Uint16Array,
  mask: Uint8Array,
  flip: boolean,
): Promise<void> {
  const plane = N * N;
  for (let z = 0; z < L; z++) {
    const src = flip ? L - 1 - z : z;
    await writeTiff(join(dir, 'surface_volume', `${layerName(z, L)}.tif`), {
      width: N,
      height: N,
      data: volume.subarray(src * plane, (src + 1) * plane),
    });
  }
  await writeFileAtomic(join(dir, 'mask.png'), await encodePng(mask, N, N, true));
}

async function orderOf(dir: string): Promise<{ reversed: boolean; source: string; t: number }> {
  const vol = await Volume.open(dir);
  try {
    return { reversed: vol.reversed, source: vol.dataset.orderSource, t: vol.dataset.orderEvidence?.t ?? NaN };
  } finally {
    await vol.close();
  }
}

test('fragments of both families are detected in both stored orders, and the reversed ones are flipped', async () => {
  const root = tempDir();
  const cases = [
    { name: 'a', made: synthFragment({ height: N, width: N, seed: 11 }), canonicalFirst: true },
    {
      name: 'b16',
      made: synthFragmentB({ height: N, width: N, seed: 12, papyrusSide: 'after', bits: 16 }),
      canonicalFirst: true,
    },
    {
      name: 'b8',
      made: synthFragmentB({ height: N, width: N, seed: 13, papyrusSide: 'before', bits: 8 }),
      canonicalFirst: false,
    },
  ];
  for (const c of cases) {
    for (const flip of [false, true]) {
      const dir = join(root, `${c.name}-${flip ? 'flipped' : 'stored'}`);
      await writeFragment(dir, c.made.volume, c.made.mask, flip);
      const got = await orderOf(dir);
      const reversed = c.canonicalFirst === flip;
      assert.deepEqual([got.reversed, got.source], [reversed, 'detected'], `${dir}: t ${got.t}`);
      assert.ok(Math.abs(got.t) > 6, `${dir}: a clear verdict, t ${got.t}`);
    }
  }
  // Flipped on reading: the canonical view of a reversed volume is the canonical volume.
  const a = await Volume.open(join(root, 'a-stored'), { scale: 1, bitDepth: 'keep' });
  const b = await Volume.open(join(root, 'a-flipped'), { scale: 1, bitDepth: 'keep' });
  assert.deepEqual(
    (await b.readWindow(30, 34, 40, 48, 50, 60)).data,
    (await a.readWindow(30, 34, 40, 48, 50, 60)).data,
  );
  // A flag overrides detection.
  const kept = await Volume.open(join(root, 'a-flipped'), { layerOrder: 'as-stored' });
  assert.deepEqual([kept.reversed, kept.dataset.orderSource], [false, 'flag']);
  await Promise.all([a.close(), b.close(), kept.close()]);
  rmSync(root, { recursive: true, force: true });
});

test('segments: family-B segments in both orders are never misread; the written reversed family-A segments are detected', async () => {
  const root = tempDir();
  let decided = 0;
  for (const seed of [21, 22, 23, 24]) {
    const seg = synthSegmentB({ height: N, width: N, seed });
    for (const flip of [false, true]) {
      const dir = join(root, `b${seed}-${flip}`);
      await writeFragment(dir, seg.volume, seg.mask, flip);
      const got = await orderOf(dir);
      if (got.source === 'detected') {
        decided++;
        assert.equal(got.reversed, seg.info.reversed !== flip, `${dir}: t ${got.t}`);
      } else assert.equal(got.reversed, false, 'undetermined stays as stored');
    }
  }
  assert.ok(decided >= 6, `${decided} of 8 family-B segment volumes decided`);

  // Family A as `inkwell synth` writes it: with its manifest the manifest decides; without it, detection agrees.
  const out = join(root, 'a');
  const m = await synthesize({ out, fragments: 0, segments: 2, height: N, width: N, seed: 5, progress: false });
  const infos = (await inspectDataset(join(out, 'segments'))) as DatasetInfo[];
  assert.deepEqual(
    infos.map((i) => [i.reversed, i.layerOrder.source]),
    m.segments.map((s) => [s.reversed, s.reversed ? 'manifest' : 'detected']),
  );
  rmSync(join(out, 'segments', 'inkwell-manifest.json'));
  for (const s of m.segments) {
    const got = await orderOf(join(out, 'segments', s.id));
    assert.deepEqual([got.reversed, got.source], [s.reversed, 'detected'], `${s.id}: t ${got.t}`);
  }
  rmSync(root, { recursive: true, force: true });
});
