import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { synthesize, type Manifest } from '../../src/data/synth/write.js';
import { synthFragment } from '../../src/data/synth/fragment.js';
import { synthSegment } from '../../src/data/synth/segment.js';

async function readTiffPixels(
  path: string,
): Promise<{ width: number; height: number; bits: number; data: Uint8Array }> {
  const bytes = new Uint8Array(await readFile(path));
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ifd = dv.getUint32(4, true);
  const tags = new Map<number, number>();
  for (let i = 0; i < dv.getUint16(ifd, true); i++) {
    const o = ifd + 2 + 12 * i;
    tags.set(
      dv.getUint16(o, true),
      dv.getUint16(o + 2, true) === 3 ? dv.getUint16(o + 8, true) : dv.getUint32(o + 8, true),
    );
  }
  const width = tags.get(256) as number;
  const height = tags.get(257) as number;
  const bits = tags.get(258) as number;
  assert.equal(tags.get(259), 1, `${path} is uncompressed`);
  assert.equal(tags.get(278), height, `${path} is a single strip`);
  const off = tags.get(273) as number;
  return { width, height, bits, data: bytes.subarray(off, off + width * height * (bits / 8)) };
}

test('synthesize writes the Kaggle and segment layouts with the right dtypes, sizes and manifest', async () => {
  const out = await mkdtemp(join(tmpdir(), 'inkwell-synth-'));
  try {
    const H = 40;
    const W = 56;
    const L = 16;
    const m = await synthesize({
      out,
      fragments: 1,
      segments: 2,
      height: H,
      width: W,
      layers: L,
      seed: 9,
      inkDelta: 0.2,
      progress: false,
    });
    const frag = join(out, 'fragments', '1');
    assert.deepEqual(
      (await readdir(join(frag, 'surface_volume'))).sort(),
      Array.from({ length: L }, (_, z) => `${String(z).padStart(2, '0')}.tif`),
    );
    const expected = synthFragment({ height: H, width: W, layers: L, seed: m.fragments[0]!.seed, inkDelta: 0.2 });
    for (const z of [0, 7, L - 1]) {
      const t = await readTiffPixels(join(frag, 'surface_volume', `${String(z).padStart(2, '0')}.tif`));
      assert.deepEqual([t.width, t.height, t.bits], [W, H, 16]);
      assert.deepEqual(new Uint16Array(t.data.slice().buffer), expected.volume.subarray(z * H * W, (z + 1) * H * W));
    }
    for (const [name, src] of [
      ['mask.png', expected.mask],
      ['inklabels.png', expected.labels],
    ] as const) {
      const { data, info } = await sharp(join(frag, name))
        .toColourspace('b-w')
        .raw()
        .toBuffer({ resolveWithObject: true });
      assert.deepEqual([info.width, info.height, info.channels], [W, H, 1], name);
      assert.deepEqual(
        [...data].map((v) => (v > 0 ? 1 : 0)),
        [...src],
        `${name} holds the 0/255 mask`,
      );
    }
    assert.equal((await sharp(join(frag, 'ir.png')).metadata()).channels, 1);

    const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as Manifest;
    assert.deepEqual(manifest, m);
    assert.equal(manifest.segments.length, 2);
    assert.deepEqual(
      manifest.fragments.map((f) => [f.id, f.domain, f.dtype, f.reversed]),
      [['1', 'fragment', 'uint16', false]],
    );
    const rev = manifest.segments.filter((s) => s.reversed);
    assert.equal(rev.length, 1, 'one of two segments is stored reversed');
    assert.deepEqual(
      manifest.reversed,
      rev.map((s) => s.id),
    );
    assert.deepEqual(JSON.parse(await readFile(join(out, 'segments', 'inkwell-manifest.json'), 'utf8')), {
      reversed: manifest.reversed,
    });

    for (const s of manifest.segments) {
      const dir = join(out, 'segments', s.id);
      const files = (await readdir(dir)).sort();
      assert.deepEqual(files, ['layers', 'meta.json', `${s.id}_inklabels.png`, `${s.id}_mask.png`].sort());
      const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as { reversed: boolean; type: string };
      assert.equal(meta.reversed, s.reversed);
      assert.equal(meta.type, 'seg');
      const seg = synthSegment({ height: H, width: W, layers: L, seed: s.seed, inkDelta: 0.2, reversed: s.reversed });
      const t = await readTiffPixels(join(dir, 'layers', '05.tif'));
      assert.deepEqual([t.width, t.height, t.bits], [W, H, 8]);
      assert.deepEqual(t.data, seg.volume.subarray(5 * H * W, 6 * H * W));
      assert.equal(s.inkDelta, 0.1);
    }
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test('synthesize is deterministic: the same seed writes the same bytes', async () => {
  const a = await mkdtemp(join(tmpdir(), 'inkwell-synth-a-'));
  const b = await mkdtemp(join(tmpdir(), 'inkwell-synth-b-'));
  try {
    const opts = { fragments: 1, segments: 1, height: 32, width: 32, layers: 10, seed: 3, progress: false };
    await synthesize({ out: a, ...opts });
    await synthesize({ out: b, ...opts });
    for (const rel of [
      'manifest.json',
      'fragments/1/surface_volume/04.tif',
      'fragments/1/inklabels.png',
      'segments/seg001/layers/09.tif',
      'segments/seg001/meta.json',
    ]) {
      assert.deepEqual(await readFile(join(a, rel)), await readFile(join(b, rel)), rel);
    }
  } finally {
    await rm(a, { recursive: true, force: true });
    await rm(b, { recursive: true, force: true });
  }
});

test('synthesize rejects empty or invalid requests naming the option', async () => {
  await assert.rejects(
    synthesize({ out: '/nonexistent', fragments: 0, segments: 0, height: 32, width: 32, seed: 1 }),
    /nothing to make/,
  );
  await assert.rejects(
    synthesize({ out: '/nonexistent', fragments: 1.5, segments: 0, height: 32, width: 32, seed: 1 }),
    /fragments must be a non-negative integer/,
  );
  await assert.rejects(
    synthesize({ out: '/nonexistent', fragments: 1, segments: 0, height: 32, width: 32, seed: 1, inkDelta: 3 }),
    /inkDelta must be in \[0, 1\]/,
  );
});

test("synthesize's 'wide' variety draws each volume's surface and glyphs, records them, and repeats under a seed", async () => {
  const dirs = await Promise.all([0, 1].map(() => mkdtemp(join(tmpdir(), 'inkwell-variety-'))));
  try {
    const opts = { fragments: 3, segments: 1, height: 48, width: 48, layers: 16, seed: 9, variety: 'wide' as const };
    const [m1, m2] = await Promise.all(dirs.map((out) => synthesize({ ...opts, out, progress: false })));
    assert.deepEqual(m1!.fragments, m2!.fragments);
    assert.deepEqual(m1!.segments, m2!.segments);
    const segmentWander = m1!.segments[0]!.wander!;
    assert.ok(
      segmentWander.amplitude >= 2 && segmentWander.amplitude <= 6,
      `segment wander ${segmentWander.amplitude}`,
    );
    const drawn = m1!.fragments.map((f) => ({ wander: f.wander!, glyphs: f.glyphs! }));
    assert.equal(new Set(drawn.map((d) => d.wander.amplitude)).size, 3, 'one draw per fragment');
    for (const { wander, glyphs } of drawn) {
      assert.ok(wander.amplitude >= 2 && wander.amplitude <= 6 && wander.length >= 20 && wander.length <= 60);
      const [lo, hi] = glyphs.halfWidth!;
      assert.ok(lo >= 1.5 && lo <= 3 && hi === lo + 2, `half-width ${lo}..${hi}`);
    }
    // The fixed variety records nothing and draws other volumes from the same seed.
    const fixed = await synthesize({ ...opts, variety: 'fixed', out: dirs[0]!, progress: false });
    assert.equal(fixed.fragments[0]!.wander, undefined);
    assert.equal(fixed.segments[0]!.wander, undefined);
    assert.notEqual(fixed.fragments[0]!.inkFraction, m1!.fragments[0]!.inkFraction);
    await assert.rejects(
      synthesize({ ...opts, family: 'b', out: dirs[1]!, progress: false }),
      /variety 'wide' applies to family 'a'/,
    );
    await assert.rejects(
      synthesize({ ...opts, variety: 'broad' as 'wide', out: dirs[1]!, progress: false }),
      /variety must be one of fixed, wide, got 'broad'/,
    );
  } finally {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
});
